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

/** Runs the pass in this process: it forgets what the Log caches of each partition it changes (§8). */
export function inProcessRunner(log: Log): MaintenanceRunner {
  return (job, override) => log.maintenance.run(job, override);
}

/**
 * A runner whose passes run in another process (`run`, e.g. functions/lambda-runner.ts): once the pass has
 * answered, or failed part way, this process forgets its cached index and topics before answering, so
 * every read it serves after the answer reflects the pass (SPEC Maintenance).
 */
export function remoteRunner(log: Log, run: MaintenanceRunner): MaintenanceRunner {
  return async (job, override) => {
    try {
      return await run(job, override);
    } finally {
      log.forgetCachedIndex();
    }
  };
}
