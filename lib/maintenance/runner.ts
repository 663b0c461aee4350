import type { Log } from '../log/log.js';
import type { PassOverride } from './maintenance.js';
import type { MaintenanceJob, MaintenanceReport } from './report.js';

/**
 * Runs one pass of a maintenance job for `POST /v1/admin/maintenance/{job}`. The local server runs it in
 * its own process (inProcessRunner); the deployed API function asks the job's own function to run it
 * (functions/lambda-runner.ts), so that the internet-facing function holds none of the permissions that
 * delete segments or rewrite the index.
 */
export type MaintenanceRunner = (job: MaintenanceJob, override: PassOverride) => Promise<MaintenanceReport>;

export function inProcessRunner(log: Log): MaintenanceRunner {
  return (job, override) => log.maintenance.run(job, override);
}
