import { describe, expect, it } from 'vitest';
import { loadConfig, MAINTENANCE_FUNCTION_ENV } from '../../functions/config.js';
import { ProduceBody } from '../../functions/http/schemas.js';
import { MAINTENANCE_JOBS } from '../../lib/maintenance/report.js';
import { COMPRESSIONS, VALUE_FORMATS } from '../../lib/types.js';

/**
 * Issue 16: value formats, codecs, maintenance jobs and the job functions' environment names were typed out
 * in several places, so a new entry compiled while missing from some of them. Each list is now defined once
 * and everything that accepts its values derives from it.
 */
describe('lists defined once', () => {
  it('accepts every codec of the list as SLUICE_COMPRESSION', () => {
    for (const codec of COMPRESSIONS) {
      expect(loadConfig({ SLUICE_COMPRESSION: codec }).log.compression).toBe(codec);
    }
  });

  it('accepts every value format of the list in a produce request', () => {
    for (const format of VALUE_FORMATS) {
      expect(ProduceBody.safeParse({ format, records: [{ value: 'x' }] }).success).toBe(true);
    }
  });

  it("reads every job's function from its own environment variable", () => {
    const env = Object.fromEntries(
      MAINTENANCE_JOBS.map((job) => [MAINTENANCE_FUNCTION_ENV[job], `fn-${job}`]),
    );
    const functions = loadConfig(env).maintenanceFunctions;
    for (const job of MAINTENANCE_JOBS) expect(functions?.[job]).toBe(`fn-${job}`);
    expect(new Set(Object.values(MAINTENANCE_FUNCTION_ENV)).size).toBe(MAINTENANCE_JOBS.length);
  });

  it('refuses a configuration that names the function of only some jobs', () => {
    for (const job of MAINTENANCE_JOBS) {
      expect(() => loadConfig({ [MAINTENANCE_FUNCTION_ENV[job]]: 'fn' })).toThrow(/set all of .*, or none/);
    }
  });
});
