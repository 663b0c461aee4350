import { type GroupLag, measureConsumerLag, publishConsumerLag } from '../lib/groups/lag.js';
import { MAINTENANCE_JOBS, type MaintenanceJob, type MaintenanceReport } from '../lib/maintenance/report.js';
import { EmfWriter } from '../lib/metrics/metrics.js';
import { loadConfig } from './config.js';
import { createAwsClients, createGroupStore, createLambdaLog } from './deps.js';

/**
 * The scheduled jobs as one Lambda function (one EventBridge schedule per job; the rule's input names the
 * job: `{ "job": "compact" | "retention" | "gc" | "lag" }`).
 *
 * - compact, retention, gc: each invocation runs one bounded pass (its work budget ends well inside the
 *   15-minute limit) and logs its report as one JSON line; the next scheduled pass resumes where it stopped.
 *   A duplicate delivery of the same event is harmless: every index change is conditional
 *   (docs/ARCHITECTURE.md §10).
 * - lag: reads every consumer group's committed offsets and the partitions' high watermarks (no writes) and
 *   writes them as the `ConsumerLag` and `ConsumerLagMax` metrics (EMF log lines, when SLUICE_METRICS=emf).
 */
export const LAG_JOB = 'lag';

const config = loadConfig();
if (config.bucket === undefined) throw new Error('SLUICE_BUCKET must be set for the maintenance function');
const clients = createAwsClients(config);
const log = createLambdaLog(config, clients);
const groups = createGroupStore({ dynamodb: clients.dynamodb, tablePrefix: config.tablePrefix });
const lagWriter =
  config.metrics.kind === 'emf'
    ? new EmfWriter({ namespace: config.metrics.namespace, service: config.metrics.service })
    : undefined;

/** What the lag job answers (and logs): the lag it measured and how many metric lines it wrote. */
export interface LagReport {
  job: typeof LAG_JOB;
  startedAt: number;
  durationMs: number;
  metricLines: number;
  groups: GroupLag[];
}

export async function handler(event: { job?: unknown }): Promise<MaintenanceReport | LagReport> {
  const job = event?.job;
  if (job === LAG_JOB) return lag();
  if (typeof job !== 'string' || !MAINTENANCE_JOBS.includes(job as MaintenanceJob)) {
    const jobs = [...MAINTENANCE_JOBS, LAG_JOB].join(', ');
    throw new Error(`the event must name a job (${jobs}), got ${JSON.stringify(job)}`);
  }
  return log.maintenance.run(job as MaintenanceJob);
}

async function lag(): Promise<LagReport> {
  const startedAt = Date.now();
  const groupLags = await measureConsumerLag(groups, log);
  const metricLines = lagWriter ? publishConsumerLag(lagWriter, groupLags, startedAt) : 0;
  const report: LagReport = {
    job: LAG_JOB,
    startedAt,
    durationMs: Date.now() - startedAt,
    metricLines,
    groups: groupLags,
  };
  console.log(
    JSON.stringify({
      level: 'info',
      event: 'sluice.lag',
      groups: groupLags.length,
      metricLines,
      durationMs: report.durationMs,
    }),
  );
  return report;
}
