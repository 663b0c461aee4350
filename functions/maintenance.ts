import { MAINTENANCE_JOBS, type MaintenanceJob, type MaintenanceReport } from '../lib/maintenance/report.js';
import { loadConfig } from './config.js';
import { createAwsClients, createLambdaLog } from './deps.js';

/**
 * The scheduled maintenance jobs as one Lambda function (one EventBridge schedule per job; the rule's
 * input names the job: `{ "job": "compact" | "retention" | "gc" }`). Each invocation runs one bounded pass
 * (its work budget ends well inside the 15-minute limit) and logs its report as one JSON line; the next
 * scheduled pass resumes where it stopped. A duplicate delivery of the same event is harmless: every
 * index change is conditional (docs/ARCHITECTURE.md §10).
 */
const config = loadConfig();
if (config.bucket === undefined) throw new Error('SLUICE_BUCKET must be set for the maintenance function');
const clients = createAwsClients(config);
const log = createLambdaLog(config, clients);

export async function handler(event: { job?: unknown }): Promise<MaintenanceReport> {
  const job = event?.job;
  if (typeof job !== 'string' || !MAINTENANCE_JOBS.includes(job as MaintenanceJob)) {
    throw new Error(`the event must name a job (${MAINTENANCE_JOBS.join(', ')}), got ${JSON.stringify(job)}`);
  }
  return log.maintenance.run(job as MaintenanceJob);
}
