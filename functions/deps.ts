import { resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type Clock, systemClock } from '../lib/clock.js';
import type { CrashPoints } from '../lib/crash-points.js';
import { DynamoDbGroupStore } from '../lib/groups/dynamodb-group-store.js';
import type { Limits } from '../lib/limits.js';
import type { AppenderHooks } from '../lib/log/appender.js';
import { Log, type LogOptions } from '../lib/log/log.js';
import type { MaintenanceHooks, MaintenanceOptions } from '../lib/maintenance/maintenance.js';
import type { MaintenanceReport } from '../lib/maintenance/report.js';
import { inProcessRunner, type MaintenanceRunner, remoteRunner } from '../lib/maintenance/runner.js';
import { DynamoDbKeyStore } from '../lib/metadata/dynamodb-key-store.js';
import { DynamoDbMetadataStore } from '../lib/metadata/dynamodb-metadata-store.js';
import { ensureTables, tableNames } from '../lib/metadata/dynamodb-schema.js';
import { EmfMetrics, type LogMetrics, NO_METRICS } from '../lib/metrics/metrics.js';
import { FsSegmentStore } from '../lib/storage/fs-segment-store.js';
import { S3SegmentStore } from '../lib/storage/s3-segment-store.js';
import type { SegmentStore } from '../lib/storage/segment-store.js';
import { DynamoDbWebhookSourceStore } from '../lib/webhooks/dynamodb-source-store.js';
import type { Config, MetricsConfig } from './config.js';
import { lambdaRunner } from './lambda-runner.js';
import {
  DYNAMODB_LOCAL_REGION,
  type DynamoDbLocalCredentials,
  newDynamoDbLocalAccessKeyId,
  startDynamoDbLocal,
} from './local/dynamodb-local.js';
import { installationSecret, restrictToOwner } from './local/owner-only.js';
import { removePidFile, stopStaleProcess, writePidFile } from './local/pidfile.js';

export interface AwsClients {
  s3: S3Client;
  dynamodb: DynamoDBClient;
}

/**
 * What every SDK client of Sluice is given: the region, and given credentials (the embedded DynamoDB
 * Local's) or placeholder credentials for emulators.
 */
function sdkClientBase(options: {
  region: string;
  placeholderCredentials?: boolean;
  credentials?: DynamoDbLocalCredentials;
}) {
  return {
    region: options.region,
    ...(options.credentials
      ? { credentials: options.credentials }
      : options.placeholderCredentials
        ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }
        : {}),
  };
}

/** SDK clients for the configured endpoints. The SDK's own retry strategy (standard, 3 attempts) applies. */
export function createAwsClients(options: {
  region: string;
  /** One endpoint for both services, or one each; undefined means AWS's own. */
  endpoint?: string | undefined;
  endpoints?: { s3?: string | undefined; dynamodb?: string | undefined };
  forcePathStyle?: boolean;
  /** Static placeholder credentials, for emulators that accept any (DynamoDB Local, LocalStack). */
  placeholderCredentials?: boolean;
  /** These credentials instead (the embedded DynamoDB Local's per-installation access key id). */
  credentials?: DynamoDbLocalCredentials;
  /**
   * The DynamoDB request timeout (default 10 s). COMMIT_ATTEMPT_MARGIN_MS (lib/log/appender.ts) assumes the
   * default; only the fault suite's instances shorten both, to run with a GC grace of seconds.
   */
  dynamodbRequestTimeoutMs?: number;
}): AwsClients {
  const base = sdkClientBase(options);
  const endpointOf = (service: 's3' | 'dynamodb') => {
    const endpoint = options.endpoints?.[service] ?? options.endpoint;
    return endpoint ? { endpoint } : {};
  };
  return {
    // Segment puts carry their own CRC32C (computed natively, see S3SegmentStore.put), so the SDK need
    // not compute a second checksum in JavaScript over every body; reads verify each batch's CRC32C.
    s3: new S3Client({
      ...base,
      ...endpointOf('s3'),
      forcePathStyle: options.forcePathStyle ?? false,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // throwOnRequestTimeout: see the DynamoDB client below.
      requestHandler: { connectionTimeout: 3_000, requestTimeout: 30_000, throwOnRequestTimeout: true },
    }),
    // The SDK waits forever on a silent connection by default; a hung commit would stall every flush
    // behind it. A timeout is an ambiguous failure the Appender retries safely (ARCHITECTURE.md §4.3).
    dynamodb: new DynamoDBClient({
      ...base,
      ...endpointOf('dynamodb'),
      requestHandler: {
        connectionTimeout: 3_000,
        requestTimeout: options.dynamodbRequestTimeoutMs ?? 10_000,
        // Without this the SDK's handler only logs a warning when requestTimeout passes and keeps waiting
        // (found by the fault suite: a commit held by a silent connection hung until the network healed).
        throwOnRequestTimeout: true,
      },
    }),
  };
}

/**
 * The admin token of a Lambda function: SLUICE_ADMIN_TOKEN if set (local runs, tests), otherwise the string
 * in the Secrets Manager secret SLUICE_ADMIN_TOKEN_SECRET_ARN names (the deployed stack). Undefined if neither
 * is set. Called once per execution environment, so a rotated token takes effect at the next cold start.
 */
export async function resolveAdminToken(config: Config): Promise<string | undefined> {
  if (config.adminToken !== undefined || config.adminTokenSecretArn === undefined) return config.adminToken;
  const client = new SecretsManagerClient({ region: config.region });
  try {
    const { SecretString } = await client.send(
      new GetSecretValueCommand({ SecretId: config.adminTokenSecretArn }),
    );
    if (SecretString === undefined || SecretString.length < 16) {
      throw new Error('the admin token secret must hold a string of at least 16 characters');
    }
    return SecretString;
  } finally {
    client.destroy();
  }
}

/** Wires a Log over DynamoDB and a segment store. */
export function createLog(options: {
  dynamodb: DynamoDBClient;
  store: SegmentStore;
  tablePrefix: string;
  log: LogOptions;
  limits: Limits;
  clock?: Clock;
  hooks?: AppenderHooks;
  maintenance?: Partial<MaintenanceOptions>;
  maintenanceHooks?: MaintenanceHooks;
  metrics?: LogMetrics;
  /** Where the fault suite may crash the process (test/faults); none in production. */
  crashPoints?: CrashPoints;
}): Log {
  const clock = options.clock ?? systemClock;
  const metadata = new DynamoDbMetadataStore(options.dynamodb, tableNames(options.tablePrefix), () =>
    clock.now(),
  );
  return new Log({
    store: options.store,
    metadata,
    clock,
    limits: options.limits,
    options: options.log,
    ...(options.hooks ? { hooks: options.hooks } : {}),
    ...(options.maintenance ? { maintenance: options.maintenance } : {}),
    ...(options.maintenanceHooks ? { maintenanceHooks: options.maintenanceHooks } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.crashPoints ? { crashPoints: options.crashPoints } : {}),
  });
}

/**
 * Who runs `POST /v1/admin/maintenance/{job}` passes: with SLUICE_COMPACT_FUNCTION etc. set (the deployed
 * API function), the job's own Lambda function; otherwise this process.
 */
export function createMaintenanceRunner(config: Config, log: Log): MaintenanceRunner {
  if (config.maintenanceFunctions === undefined) return inProcessRunner(log);
  const client = new LambdaClient({
    ...sdkClientBase(config),
    ...(config.lambdaEndpoint ? { endpoint: config.lambdaEndpoint } : {}),
    // A pass is bounded by its own budget (maxRunMs) and the API function's timeout. The SDK's default
    // retries (throttling, transient service errors) may run a pass twice, which is safe: passes may race.
    requestHandler: { connectionTimeout: 3_000 },
  });
  // The pass changes the index in another function: this instance then forgets its cached index.
  return remoteRunner(log, lambdaRunner(client, config.maintenanceFunctions));
}

/** The Log's produce/fetch counters the configuration asks for (SLUICE_METRICS): EMF lines, or none. */
export function createMetrics(config: MetricsConfig): LogMetrics {
  return config.kind === 'emf'
    ? new EmfMetrics({ namespace: config.namespace, service: config.service })
    : NO_METRICS;
}

/**
 * What a Lambda function changes in the Log's options:
 * - lingerMs 0: one request per execution environment, so there is nothing to batch across requests; each
 *   produce flushes its own segment.
 * - tailCacheMaxAgeMs 0: read a partition's tail before each commit instead of trusting the one this
 *   instance last wrote. Several warm instances take a partition's produce requests in turn, so a
 *   remembered tail is often stale, and a wrong guess costs a failed conditional write (1 write unit, five
 *   times the price of the 1 read unit it saves) plus the read anyway. The bench's deployed phase measured
 *   1.5 write + 0.7 read units per produce request with the cache, 1.0 + 1.0 without.
 */
export const LAMBDA_LOG_OPTIONS = { lingerMs: 0, tailCacheMaxAgeMs: 0 } as const;

/**
 * The Log of a Lambda function (API or maintenance): S3 and DynamoDB from the configuration, with
 * LAMBDA_LOG_OPTIONS.
 */
export function createLambdaLog(config: Config, clients: AwsClients): Log {
  if (config.bucket === undefined) throw new Error('SLUICE_BUCKET must be set for a Lambda function');
  return createLog({
    dynamodb: clients.dynamodb,
    store: new S3SegmentStore(clients.s3, config.bucket),
    tablePrefix: config.tablePrefix,
    log: { ...config.log, ...LAMBDA_LOG_OPTIONS },
    limits: config.limits,
    maintenance: config.maintenance,
    metrics: createMetrics(config.metrics),
  });
}

/** The API key store: items of the `<prefix>metadata` table. */
export function createKeyStore(options: { dynamodb: DynamoDBClient; tablePrefix: string }): DynamoDbKeyStore {
  return new DynamoDbKeyStore(options.dynamodb, tableNames(options.tablePrefix));
}

export function createWebhookStore(options: {
  dynamodb: DynamoDBClient;
  tablePrefix: string;
}): DynamoDbWebhookSourceStore {
  return new DynamoDbWebhookSourceStore(options.dynamodb, tableNames(options.tablePrefix));
}

export function createGroupStore(options: {
  dynamodb: DynamoDBClient;
  tablePrefix: string;
}): DynamoDbGroupStore {
  return new DynamoDbGroupStore(options.dynamodb, tableNames(options.tablePrefix));
}

export interface Runtime {
  log: Log;
  clients: AwsClients;
  /** What backs the log, for the start banner. */
  description: string;
  /** Flushes pending produce calls, then stops whatever this runtime started. */
  close(): Promise<void>;
}

/**
 * Builds the runtime for a long-running server. 'embedded' starts DynamoDB Local with its data in
 * `<dataDir>/dynamodb` and keeps segments in `<dataDir>/segments`, so acknowledged records survive restarts
 * and crashes; 'aws' uses the configured endpoints (AWS, LocalStack) and the bucket.
 */
export async function createRuntime(
  config: Config,
  options: { onLog?: (message: string) => void } = {},
): Promise<Runtime> {
  const say = options.onLog ?? (() => undefined);
  if (config.backend === 'aws') {
    const clients = createAwsClients(config);
    const bucket = config.bucket as string;
    // Against an emulator or LocalStack the tables are created here; in AWS the CDK stack owns them.
    if (config.endpoints.dynamodb) await ensureTables(clients.dynamodb, config.tablePrefix);
    return runtimeOver(config, clients, new S3SegmentStore(clients.s3, bucket), {
      description:
        `S3 bucket ${bucket}${config.endpoints.s3 ? ` at ${config.endpoints.s3}` : ''}, ` +
        `DynamoDB tables ${config.tablePrefix}*${config.endpoints.dynamodb ? ` at ${config.endpoints.dynamodb}` : ''}`,
      stop: async () => undefined,
      ...(options.onLog ? { say: options.onLog } : {}),
    });
  }

  const dataDir = resolve(config.dataDir);
  const dbPath = resolve(dataDir, 'dynamodb');
  const pidFile = resolve(dataDir, 'dynamodb-local.pid');
  // Owner-only: what an older version left readable by others, and the per-installation secret that is the
  // only access key id under which DynamoDB Local shows Sluice's tables (ARCHITECTURE.md §7).
  await restrictToOwner(dataDir);
  const accessKeyId = await installationSecret(
    resolve(dataDir, 'dynamodb-local-key'),
    newDynamoDbLocalAccessKeyId,
  );
  // Only on Linux can /proc tell whether a recorded pid is still DynamoDB Local; elsewhere the check is skipped.
  if (await stopStaleProcess(pidFile, dbPath))
    say('stopped a DynamoDB Local left running by a crashed server');
  say('starting DynamoDB Local…');
  const dynamo = await startDynamoDbLocal({ dbPath, accessKeyId, log: say });
  await writePidFile(pidFile, dynamo.process.pid);
  try {
    const clients = createAwsClients({
      region: DYNAMODB_LOCAL_REGION,
      endpoint: dynamo.endpoint,
      credentials: dynamo.credentials,
    });
    await ensureTables(clients.dynamodb, config.tablePrefix);
    return runtimeOver(config, clients, new FsSegmentStore(resolve(dataDir, 'segments')), {
      description: `embedded: DynamoDB Local (${dynamo.endpoint}) and segments under ${dataDir}`,
      ...(options.onLog ? { say: options.onLog } : {}),
      stop: async () => {
        await dynamo.stop();
        await removePidFile(pidFile);
      },
    });
  } catch (error) {
    await dynamo.stop();
    throw error;
  }
}

/** A Runtime over built clients and a segment store; `close` flushes, closes the clients, then `stop`s. */
function runtimeOver(
  config: Config,
  clients: AwsClients,
  store: SegmentStore,
  options: { description: string; stop: () => Promise<void>; say?: (message: string) => void },
): Runtime {
  const say = options.say;
  const log = createLog({
    dynamodb: clients.dynamodb,
    store,
    tablePrefix: config.tablePrefix,
    log: config.log,
    limits: config.limits,
    maintenance: config.maintenance,
    metrics: createMetrics(config.metrics),
    // The local server says what a pass did only when it did something.
    ...(say
      ? {
          maintenanceHooks: {
            onReport: (r: MaintenanceReport) => {
              const changed = r.objects.written + r.objects.deleted + r.batches.deleted + r.batches.written;
              if (changed > 0) {
                say(
                  `maintenance ${r.job}: batches ${r.batches.read} read, ${r.batches.written} written, ` +
                    `${r.batches.deleted} deleted; objects ${r.objects.written} written, ${r.objects.deleted} deleted`,
                );
              }
            },
          },
        }
      : {}),
  });
  return {
    log,
    clients,
    description: options.description,
    close: async () => {
      await log.flush();
      clients.s3.destroy();
      clients.dynamodb.destroy();
      await options.stop();
    },
  };
}
