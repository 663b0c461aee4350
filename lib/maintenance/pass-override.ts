import { InvalidRequestError } from '../errors.js';
import type { MaintenanceJob } from './report.js';

/** What a requested pass may change: its work budget, and for compaction only, the minimum age it compacts. */
export interface RequestedOverride {
  maxRunMs?: number | undefined;
  minAgeMs?: number | undefined;
}

/**
 * The one rule over a requested pass, for every edge that takes one (the admin route, the job functions'
 * events): `minAgeMs` applies to the compact job only.
 */
export function checkPassOverride(job: MaintenanceJob, override: RequestedOverride): void {
  if (override.minAgeMs !== undefined && job !== 'compact') {
    throw new InvalidRequestError('minAgeMs applies to the compact job only');
  }
}
