/**
 * One Sluice instance of a fault run, as its own Node process (so that `kill -9` and a crash point are real
 * process deaths). It serves the exact wiring of the server (agent mode) or of the Lambda function (lambda
 * mode), built by the same functions, with what only a test injects:
 * - fault middleware on its real S3 and DynamoDB SDK clients (sdk-faults.ts), decided by its own seeded streams;
 * - a clock skewed by a fixed offset (leases, timestamps, ages are all read from it);
 * - crash points: at a named point, with the probability the run gives, the process kills itself (SIGKILL).
 *
 * Configured by the JSON in SLUICE_FAULT_INSTANCE (InstanceSpec). Prints `READY <port>` once it listens, and
 * `CRASH <point>` (on stderr) just before a crash point kills it. Takes `{ type: 'faults', s3, dynamodb,
 * crash }` over IPC to change its faults (an empty object stops them).
 */
import { writeSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createConfiguredApp } from '../../../functions/app-wiring.js';
import { loadConfig } from '../../../functions/config.js';
import { createAwsClients, createLog, LAMBDA_LOG_OPTIONS } from '../../../functions/deps.js';
import { serveNode } from '../../../functions/http/node-serve.js';
import { createLambdaApp } from '../../../functions/lambda-app.js';
import type { Clock } from '../../../lib/clock.js';
import type { CrashPoint, CrashPoints } from '../../../lib/crash-points.js';
import { ensureTables } from '../../../lib/metadata/dynamodb-schema.js';
import { S3SegmentStore } from '../../../lib/storage/s3-segment-store.js';
import { forkRng } from '../rng.js';
import { installSdkFaults, type SdkFaultProfile } from './sdk-faults.js';

export interface InstanceSpec {
  name: string;
  mode: 'agent' | 'lambda';
  seed: number;
  /** What the instance's SDK clients connect to (a proxy's address, or the emulator's). */
  endpoints: { s3: string; dynamodb: string };
  region: string;
  bucket: string;
  tablePrefix: string;
  adminToken: string;
  clockSkewMs: number;
  faults: InstanceFaults;
  /** Environment for loadConfig (e.g. SLUICE_TOPIC_CACHE_TTL_MS), applied before it runs. */
  env?: Record<string, string>;
  /** Maintenance options the config cannot express (a GC grace of seconds, below the config's minimum). */
  maintenance?: { gcGraceMs?: number; minAgeMs?: number; targetObjectBytes?: number; maxRunMs?: number };
  /**
   * Wait for `{ type: 'go' }` (after sending `{ type: 'loaded' }`) before setting up the tables, so that
   * instances started together race for table setup as servers started at once on a fresh deployment do.
   */
  waitForGo?: boolean;
  /** Log options the config cannot express. */
  log?: { maxCommitDelayMs?: number; commitAttemptMarginMs?: number };
}

export interface InstanceFaults {
  s3?: SdkFaultProfile;
  dynamodb?: SdkFaultProfile;
  /** The probability of dying at each crash point reached (absent: 0). */
  crash?: Partial<Record<CrashPoint, number>>;
}

class SkewedClock implements Clock {
  constructor(private readonly skewMs: number) {}
  now(): number {
    return Date.now() + this.skewMs;
  }
}

function report(kind: 'fault' | 'crash', what: string): void {
  if (kind === 'crash') {
    // Synchronously, before the process dies.
    writeSync(2, `CRASH ${what}\n`);
    return;
  }
  process.send?.({ type: 'fault', what });
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.env.SLUICE_FAULT_INSTANCE ?? '') as InstanceSpec;
  const env = {
    ...process.env,
    SLUICE_BACKEND: 'aws',
    SLUICE_MODE: spec.mode,
    SLUICE_BUCKET: spec.bucket,
    SLUICE_TABLE_PREFIX: spec.tablePrefix,
    SLUICE_ADMIN_TOKEN: spec.adminToken,
    AWS_ENDPOINT_URL_S3: spec.endpoints.s3,
    AWS_ENDPOINT_URL_DYNAMODB: spec.endpoints.dynamodb,
    AWS_REGION: spec.region,
    SLUICE_S3_FORCE_PATH_STYLE: 'true',
    ...spec.env,
  };
  const config = loadConfig(env);
  // A short DynamoDB timeout bounds how long a started commit attempt can take to land (3 SDK tries of
  // 2 s and their backoff, within the run's commitAttemptMarginMs), so that GC's grace can be seconds.
  const clients = createAwsClients({ ...config, dynamodbRequestTimeoutMs: 2_000 });
  const s3Faults = installSdkFaults(clients.s3, 's3', forkRng(spec.seed, `${spec.name}/s3`), (what) =>
    report('fault', what),
  );
  const dynamoFaults = installSdkFaults(
    clients.dynamodb,
    'dynamodb',
    forkRng(spec.seed, `${spec.name}/dynamodb`),
    (what) => report('fault', what),
  );
  const crashRng = forkRng(spec.seed, `${spec.name}/crash`);
  let crash = spec.faults.crash ?? {};
  const crashPoints: CrashPoints = {
    reach(point: CrashPoint) {
      if (crashRng.chance(crash[point] ?? 0)) {
        report('crash', point);
        process.kill(process.pid, 'SIGKILL');
      }
    },
  };
  const apply = (faults: InstanceFaults) => {
    s3Faults.set(faults.s3 ?? {});
    dynamoFaults.set(faults.dynamodb ?? {});
    crash = faults.crash ?? {};
  };
  process.on('message', (message: { type?: string } & InstanceFaults) => {
    if (message.type !== 'faults') return;
    apply(message);
    // Acknowledged, so that the run knows no crash point can fire after it healed the cluster.
    process.send?.({ type: 'faults-applied' });
  });

  if (spec.waitForGo) {
    await new Promise<void>((resolve) => {
      process.on('message', (message: { type?: string }) => {
        if (message.type === 'go') resolve();
      });
      process.send?.({ type: 'loaded' });
    });
  }
  // Tables come first and without faults: the run starts on a working deployment.
  await ensureTables(clients.dynamodb, config.tablePrefix);
  apply(spec.faults);

  const clock = new SkewedClock(spec.clockSkewMs);
  const log = createLog({
    dynamodb: clients.dynamodb,
    store: new S3SegmentStore(clients.s3, config.bucket as string),
    tablePrefix: config.tablePrefix,
    log: { ...config.log, ...(spec.mode === 'lambda' ? LAMBDA_LOG_OPTIONS : {}), ...spec.log },
    limits: config.limits,
    clock,
    crashPoints,
    maintenance: { ...config.maintenance, ...spec.maintenance },
    maintenanceHooks: { onReport: () => undefined },
  });
  const closing = new AbortController();
  const app =
    spec.mode === 'lambda'
      ? createLambdaApp(config, clients, {
          adminToken: spec.adminToken,
          sseMaxDurationMs: 20_000,
          sseCloseSignal: closing.signal,
          log,
        }).app
      : createConfiguredApp(config, clients, log, {
          adminToken: spec.adminToken,
          sseCloseSignal: closing.signal,
        });
  const server = serveNode({
    fetch: app.fetch,
    port: 0,
    hostname: '127.0.0.1',
    maxRequestBytes: config.limits.maxRequestBytes,
  });
  server.once('listening', () => {
    process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`);
  });
  const stop = async () => {
    closing.abort();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await log.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('disconnect', () => void stop());
}

main().catch((error: unknown) => {
  process.stderr.write(`instance failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
