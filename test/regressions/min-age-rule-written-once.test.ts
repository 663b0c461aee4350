import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../lib/errors.js';
import { checkPassOverride } from '../../lib/maintenance/pass-override.js';
import { MAINTENANCE_JOBS } from '../../lib/maintenance/report.js';

/**
 * Issue 16: the rule "minAgeMs applies to the compact job only" was written twice, in the admin route and in
 * the job functions' handler. It now lives once in lib/, and both edges call it.
 */
describe('the minimum-age rule of a requested pass', () => {
  it('lets compaction take a minimum age', () => {
    expect(() => checkPassOverride('compact', { minAgeMs: 0, maxRunMs: 1_000 })).not.toThrow();
  });

  it('refuses a minimum age for every other job as an invalid request', () => {
    for (const job of MAINTENANCE_JOBS.filter((j) => j !== 'compact')) {
      expect(() => checkPassOverride(job, { minAgeMs: 0 })).toThrow(InvalidRequestError);
      expect(() => checkPassOverride(job, { minAgeMs: 0 })).toThrow(
        /minAgeMs applies to the compact job only/,
      );
      expect(() => checkPassOverride(job, { maxRunMs: 1_000 })).not.toThrow();
    }
  });
});
