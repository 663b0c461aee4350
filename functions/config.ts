import { z } from 'zod';
import { DEFAULT_GROUP_OPTIONS, type GroupCoordinatorOptions } from '../lib/groups/coordinator.js';
import { DEFAULT_LIMITS, type Limits } from '../lib/limits.js';
import { COMMIT_ATTEMPT_MARGIN_MS, minGcGraceMs } from '../lib/log/appender.js';
import { DEFAULT_LOG_OPTIONS, type LogOptions } from '../lib/log/log.js';
import { DEFAULT_MAINTENANCE_OPTIONS, type MaintenanceOptions } from '../lib/maintenance/maintenance.js';
import {
  MAINTENANCE_JOBS,
  type MaintenanceJob,
  SCHEDULED_JOBS,
  type ScheduledJob,
} from '../lib/maintenance/report.js';
import { COMPRESSIONS } from '../lib/types.js';

/** How `npm start` wires the app: `agent` (batching server) or `lambda` (the Lambda function's wiring over HTTP). */
export const SLUICE_MODES = ['agent', 'lambda'] as const;
export type SluiceMode = (typeof SLUICE_MODES)[number];

/**
 * The environment variable naming each job's function, set on the API function in AWS (infra/sluice-stack.ts
 * sets them from this same list): `POST /v1/admin/maintenance/{job}` invokes it.
 */
export const MAINTENANCE_FUNCTION_ENV = {
  compact: 'SLUICE_COMPACT_FUNCTION',
  retention: 'SLUICE_RETENTION_FUNCTION',
  gc: 'SLUICE_GC_FUNCTION',
} as const satisfies Record<MaintenanceJob, string>;
type MaintenanceFunctionEnv = (typeof MAINTENANCE_FUNCTION_ENV)[MaintenanceJob];

const functionNames = Object.fromEntries(
  MAINTENANCE_JOBS.map((job) => [MAINTENANCE_FUNCTION_ENV[job], z.string().min(1).optional()]),
) as Record<MaintenanceFunctionEnv, z.ZodOptional<z.ZodString>>;

const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);

/** Everything Sluice reads from the environment, parsed once. Nothing else reads process.env. */
const EnvSchema = z.object({
  PORT: int(8080, 0),
  HOST: z.string().default('127.0.0.1'),
  /** `npm start`: `agent` (default) or `lambda` (several Lambda-shaped instances on shared endpoints). */
  SLUICE_MODE: z.enum(SLUICE_MODES).default('agent'),
  SLUICE_ADMIN_TOKEN: z.string().min(16, 'SLUICE_ADMIN_TOKEN must be at least 16 characters').optional(),
  /** Lambda: the Secrets Manager secret holding the admin token, read at cold start if SLUICE_ADMIN_TOKEN is unset. */
  SLUICE_ADMIN_TOKEN_SECRET_ARN: z
    .string()
    .regex(/^arn:aws[a-z-]*:secretsmanager:/, 'SLUICE_ADMIN_TOKEN_SECRET_ARN must be a Secrets Manager ARN')
    .optional(),
  /** Set (or AWS_ENDPOINT_URL) to use S3 and DynamoDB at their endpoints instead of the embedded default. */
  SLUICE_BUCKET: z.string().min(3).optional(),
  SLUICE_TABLE_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9_.-]*$/)
    .default('sluice_'),
  AWS_ENDPOINT_URL: z.url().optional(),
  /** Per-service endpoints, as the AWS SDKs name them; each overrides AWS_ENDPOINT_URL for its service. */
  AWS_ENDPOINT_URL_S3: z.url().optional(),
  AWS_ENDPOINT_URL_DYNAMODB: z.url().optional(),
  AWS_ENDPOINT_URL_LAMBDA: z.url().optional(),
  AWS_REGION: z.string().default('us-east-1'),
  AWS_ACCESS_KEY_ID: z.string().optional(),
  AWS_PROFILE: z.string().optional(),
  /** Path-style S3 URLs (emulators, LocalStack); on by default whenever AWS_ENDPOINT_URL is set. */
  SLUICE_S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).optional(),
  /** Where the embedded default keeps its data and the DynamoDB Local download. */
  SLUICE_DATA_DIR: z.string().default('.sluice'),
  SLUICE_LINGER_MS: int(DEFAULT_LOG_OPTIONS.lingerMs),
  SLUICE_MAX_FLUSH_BYTES: int(DEFAULT_LOG_OPTIONS.maxFlushBytes, 1024),
  SLUICE_COMPRESSION: z.enum(COMPRESSIONS).default(DEFAULT_LOG_OPTIONS.compression),
  SLUICE_READ_CACHE_BYTES: int(DEFAULT_LOG_OPTIONS.readCacheBytes),
  SLUICE_POLL_INTERVAL_MS: int(DEFAULT_LOG_OPTIONS.pollIntervalMs, 10),
  SLUICE_TOPIC_CACHE_TTL_MS: int(DEFAULT_LOG_OPTIONS.topicCacheTtlMs),
  /** How late another instance's maintenance pass may show in this one's reads (index entries it holds). */
  SLUICE_ENTRY_CACHE_TTL_MS: int(DEFAULT_LOG_OPTIONS.entryCacheTtlMs),
  SLUICE_MAX_REQUEST_BYTES: int(DEFAULT_LIMITS.maxRequestBytes, 1024),
  /** How long a warm instance trusts an API key it read: revocation takes effect within it. */
  SLUICE_KEY_CACHE_TTL_MS: int(5_000),
  /** Key material for sealing webhook secrets at rest (≥ 16 characters); defaults to the admin token. */
  SLUICE_WEBHOOK_SECRET_KEY: z.string().min(16).optional(),
  /** Local server: run compaction, retention and GC every this many ms (0: never; tests, benchmarks). */
  SLUICE_MAINTENANCE_INTERVAL_MS: int(60_000),
  /** A new (or emptied) consumer group hands out records only this long after its first join (0: at once). */
  SLUICE_GROUP_INITIAL_REBALANCE_DELAY_MS: int(DEFAULT_GROUP_OPTIONS.initialRebalanceDelayMs),
  SLUICE_COMPACT_MIN_AGE_MS: int(DEFAULT_MAINTENANCE_OPTIONS.minAgeMs),
  SLUICE_COMPACT_TARGET_BYTES: int(DEFAULT_MAINTENANCE_OPTIONS.targetObjectBytes, 64 * 1024),
  /** Must be at least 2 × SLUICE_MAX_COMMIT_DELAY_MS + 60 s; see ARCHITECTURE §10.4. */
  SLUICE_GC_GRACE_MS: int(DEFAULT_MAINTENANCE_OPTIONS.gcGraceMs, 60_000),
  /** The longest time from a flush's segment put to the start of a commit attempt (ARCHITECTURE §4.3). */
  SLUICE_MAX_COMMIT_DELAY_MS: int(DEFAULT_LOG_OPTIONS.maxCommitDelayMs, 1_000),
  /** `emf`: write CloudWatch metrics as Embedded Metric Format log lines (the deployed stack); `off`: none. */
  SLUICE_METRICS: z.enum(['off', 'emf']).default('off'),
  SLUICE_METRICS_NAMESPACE: z
    .string()
    .regex(/^[A-Za-z0-9_./#:-]{1,255}$/, 'SLUICE_METRICS_NAMESPACE: 1–255 of A-Z a-z 0-9 _ . / # : -')
    .default('Sluice'),
  /** The `service` dimension of every metric: the stack's name in AWS. */
  SLUICE_METRICS_SERVICE: z.string().min(1).max(255).default('sluice'),
  /** The maintenance function: the jobs this deployment of it runs (comma-separated; default all). */
  SLUICE_MAINTENANCE_JOBS: z
    .string()
    .default(SCHEDULED_JOBS.join(','))
    .transform((value) => value.split(',').map((job) => job.trim()))
    .pipe(z.array(z.enum(SCHEDULED_JOBS)).min(1)),
  /** The API function in AWS: the functions that run admin-requested passes (all of them, or none). */
  ...functionNames,
});

export interface Config {
  port: number;
  host: string;
  /** `npm start`'s wiring (SLUICE_MODE). */
  mode: SluiceMode;
  adminToken: string | undefined;
  /** Where the Lambda function reads the admin token when `adminToken` is unset (SLUICE_ADMIN_TOKEN_SECRET_ARN). */
  adminTokenSecretArn: string | undefined;
  /** 'embedded': DynamoDB Local + the file-system segment store under dataDir; 'aws': real endpoints. */
  backend: 'embedded' | 'aws';
  bucket: string | undefined;
  tablePrefix: string;
  region: string;
  /** Endpoint overrides (LocalStack, emulators); undefined means the service's AWS endpoint. */
  endpoints: { s3: string | undefined; dynamodb: string | undefined };
  /** Where the API function invokes the maintenance functions (AWS_ENDPOINT_URL_LAMBDA, AWS_ENDPOINT_URL). */
  lambdaEndpoint: string | undefined;
  forcePathStyle: boolean;
  /** An emulator endpoint and no credentials in the environment: use placeholders it accepts. */
  placeholderCredentials: boolean;
  dataDir: string;
  log: LogOptions;
  limits: Limits;
  /** Bound on how long a revoked API key keeps working on a warm instance (SLUICE_KEY_CACHE_TTL_MS). */
  keyCacheTtlMs: number;
  /** Seals webhook secrets at rest (SLUICE_WEBHOOK_SECRET_KEY); undefined: derived from the admin token. */
  webhookSecretKey: string | undefined;
  /** Period of the local server's maintenance timers; 0 turns them off. */
  maintenanceIntervalMs: number;
  maintenance: Partial<MaintenanceOptions>;
  /** Consumer-group coordinator settings (SLUICE_GROUP_INITIAL_REBALANCE_DELAY_MS). */
  groups: Partial<GroupCoordinatorOptions>;
  /** Produce/fetch counts and consumer lag as CloudWatch EMF lines, or nothing (SLUICE_METRICS*). */
  metrics: MetricsConfig;
  /** The jobs the maintenance function runs (SLUICE_MAINTENANCE_JOBS); others are refused. */
  maintenanceJobs: ScheduledJob[];
  /**
   * The API function in AWS: the function of each job, which runs `POST /v1/admin/maintenance/{job}`
   * passes (SLUICE_COMPACT_FUNCTION, …); undefined: they run in this process.
   */
  maintenanceFunctions: Record<MaintenanceJob, string> | undefined;
}

export interface MetricsConfig {
  kind: 'off' | 'emf';
  namespace: string;
  service: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  const functions = maintenanceFunctions(e);
  if (functions === null) {
    const names = MAINTENANCE_JOBS.map((job) => MAINTENANCE_FUNCTION_ENV[job]);
    throw new Error(
      `invalid configuration: set all of ${names.slice(0, -1).join(', ')} and ${names.at(-1)}, or none`,
    );
  }
  const minGrace = minGcGraceMs(e.SLUICE_MAX_COMMIT_DELAY_MS);
  if (e.SLUICE_GC_GRACE_MS < minGrace) {
    throw new Error(
      `invalid configuration: SLUICE_GC_GRACE_MS (${e.SLUICE_GC_GRACE_MS}) must be at least ` +
        `2 × SLUICE_MAX_COMMIT_DELAY_MS (${e.SLUICE_MAX_COMMIT_DELAY_MS}) + ${COMMIT_ATTEMPT_MARGIN_MS} ms = ` +
        `${minGrace}: GC could otherwise delete the object of a produce whose commit is still allowed to land`,
    );
  }
  const endpoints = {
    s3: e.AWS_ENDPOINT_URL_S3 ?? e.AWS_ENDPOINT_URL,
    dynamodb: e.AWS_ENDPOINT_URL_DYNAMODB ?? e.AWS_ENDPOINT_URL,
  };
  const anyEndpoint = endpoints.s3 !== undefined || endpoints.dynamodb !== undefined;
  const backend = e.SLUICE_BUCKET !== undefined || anyEndpoint ? 'aws' : 'embedded';
  if (backend === 'aws' && e.SLUICE_BUCKET === undefined) {
    throw new Error('invalid configuration: SLUICE_BUCKET is required when an AWS endpoint is set');
  }
  return {
    port: e.PORT,
    host: e.HOST,
    mode: e.SLUICE_MODE,
    adminToken: e.SLUICE_ADMIN_TOKEN,
    adminTokenSecretArn: e.SLUICE_ADMIN_TOKEN_SECRET_ARN,
    backend,
    bucket: e.SLUICE_BUCKET,
    tablePrefix: e.SLUICE_TABLE_PREFIX,
    region: e.AWS_REGION,
    endpoints,
    lambdaEndpoint: e.AWS_ENDPOINT_URL_LAMBDA ?? e.AWS_ENDPOINT_URL,
    forcePathStyle: e.SLUICE_S3_FORCE_PATH_STYLE
      ? e.SLUICE_S3_FORCE_PATH_STYLE === 'true'
      : endpoints.s3 !== undefined,
    placeholderCredentials: anyEndpoint && e.AWS_ACCESS_KEY_ID === undefined && e.AWS_PROFILE === undefined,
    dataDir: e.SLUICE_DATA_DIR,
    log: {
      ...DEFAULT_LOG_OPTIONS,
      lingerMs: e.SLUICE_LINGER_MS,
      maxFlushBytes: e.SLUICE_MAX_FLUSH_BYTES,
      compression: e.SLUICE_COMPRESSION,
      readCacheBytes: e.SLUICE_READ_CACHE_BYTES,
      pollIntervalMs: e.SLUICE_POLL_INTERVAL_MS,
      topicCacheTtlMs: e.SLUICE_TOPIC_CACHE_TTL_MS,
      entryCacheTtlMs: e.SLUICE_ENTRY_CACHE_TTL_MS,
      maxCommitDelayMs: e.SLUICE_MAX_COMMIT_DELAY_MS,
    },
    limits: { ...DEFAULT_LIMITS, maxRequestBytes: e.SLUICE_MAX_REQUEST_BYTES },
    keyCacheTtlMs: e.SLUICE_KEY_CACHE_TTL_MS,
    webhookSecretKey: e.SLUICE_WEBHOOK_SECRET_KEY,
    maintenanceIntervalMs: e.SLUICE_MAINTENANCE_INTERVAL_MS,
    maintenance: {
      minAgeMs: e.SLUICE_COMPACT_MIN_AGE_MS,
      targetObjectBytes: e.SLUICE_COMPACT_TARGET_BYTES,
      gcGraceMs: e.SLUICE_GC_GRACE_MS,
    },
    groups: { initialRebalanceDelayMs: e.SLUICE_GROUP_INITIAL_REBALANCE_DELAY_MS },
    metrics: {
      kind: e.SLUICE_METRICS,
      namespace: e.SLUICE_METRICS_NAMESPACE,
      service: e.SLUICE_METRICS_SERVICE,
    },
    maintenanceJobs: e.SLUICE_MAINTENANCE_JOBS,
    maintenanceFunctions: functions,
  };
}

/** Each job's function when all are named, undefined when none is, null when only some are. */
function maintenanceFunctions(
  e: { [K in MaintenanceFunctionEnv]?: string | undefined },
): Record<MaintenanceJob, string> | undefined | null {
  const named = new Map<MaintenanceJob, string>();
  for (const job of MAINTENANCE_JOBS) {
    const name = e[MAINTENANCE_FUNCTION_ENV[job]];
    if (name !== undefined) named.set(job, name);
  }
  if (named.size === 0) return undefined;
  if (named.size !== MAINTENANCE_JOBS.length) return null;
  return Object.fromEntries(named) as Record<MaintenanceJob, string>;
}
