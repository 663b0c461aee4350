import { z } from 'zod';
import { type GroupLag, measureConsumerLag, publishConsumerLag } from '../lib/groups/lag.js';
import { checkPassOverride } from '../lib/maintenance/pass-override.js';
import {
  type MaintenanceJob,
  type MaintenanceReport,
  SCHEDULED_JOBS,
  type ScheduledJob,
} from '../lib/maintenance/report.js';
import { EmfWriter } from '../lib/metrics/metrics.js';
import { loadConfig } from './config.js';
import { createAwsClients, createGroupStore, createLambdaLog } from './deps.js';

/**
 * The scheduled jobs' Lambda handler. The stack deploys it once per job, each deployment with its own role
 * and `SLUICE_MAINTENANCE_JOBS` naming the one job it runs; its EventBridge schedule sends
 * `{ "job": "<job>" }`. The API function sends `{ "job", "maxRunMs", "minAgeMs"? }` for
 * `POST /v1/admin/maintenance/{job}` (functions/lambda-runner.ts).
 *
 * - compact, retention, gc: each invocation runs one bounded pass (its work budget ends well inside the
 *   15-minute limit) and logs its report as one JSON line; the next scheduled pass resumes where it stopped.
 *   A duplicate delivery of the same event is harmless: every index change is conditional
 *   (docs/ARCHITECTURE.md §10).
 * - lag: reads every consumer group's committed offsets and the partitions' high watermarks (no writes) and
 *   writes them as the `ConsumerLag` and `ConsumerLagMax` metrics (EMF log lines, when SLUICE_METRICS=emf).
 */
export const LAG_JOB = 'lag' satisfies ScheduledJob;

/** What an invocation may carry: the job, and for a pass its budget and compaction's minimum age. */
const MaintenanceEvent = z
  .object({
    job: z.enum(SCHEDULED_JOBS),
    maxRunMs: z.number().int().min(1).optional(),
    minAgeMs: z.number().int().min(0).optional(),
  })
  .strict();

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

export async function handler(event: unknown): Promise<MaintenanceReport | LagReport> {
  const parsed = MaintenanceEvent.safeParse(event);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((i) => `${i.path.join('.') || 'event'}: ${i.message}`)
      .join('; ');
    throw new Error(`the event must name a job (${SCHEDULED_JOBS.join(', ')}): ${problems}`);
  }
  const { job, ...override } = parsed.data;
  if (!config.maintenanceJobs.includes(job)) {
    throw new Error(
      `this function runs ${config.maintenanceJobs.join(', ')} (SLUICE_MAINTENANCE_JOBS), not ${job}`,
    );
  }
  return RUN[job](override);
}

type Override = Omit<z.infer<typeof MaintenanceEvent>, 'job'>;

/** Every scheduled job's run: adding a job to SCHEDULED_JOBS does not compile until it has one here. */
const RUN: Record<ScheduledJob, (override: Override) => Promise<MaintenanceReport | LagReport>> = {
  compact: (override) => pass('compact', override),
  retention: (override) => pass('retention', override),
  gc: (override) => pass('gc', override),
  lag: () => lag(),
};

function pass(job: MaintenanceJob, override: Override): Promise<MaintenanceReport> {
  checkPassOverride(job, override);
  return log.maintenance.run(job, override);
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
