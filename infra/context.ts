import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { Node } from 'constructs';
import type { MaintenanceJob } from '../lib/maintenance/report.js';
import { COMPRESSIONS, type Compression } from '../lib/types.js';

/**
 * What the CDK app reads from context (`cdk.json` "context" or `cdk synth -c key=value`). The defaults live
 * here and nowhere else:
 *
 * - `stackName`: the CloudFormation stack name (default `Sluice`).
 * - `tablePrefix`: prefix of the DynamoDB table names, the same value the functions get as
 *   `SLUICE_TABLE_PREFIX` (default `sluice_`).
 * - `removalPolicy`: `retain` (default) keeps the bucket, tables and logs when the stack is deleted;
 *   `destroy` deletes them, emptying the bucket first (for throwaway and test stacks).
 * - `compactRateMinutes`, `retentionRateMinutes`, `gcRateMinutes`: how often EventBridge starts a pass of
 *   each maintenance job, in whole minutes (EventBridge rates have minute granularity; defaults 10, 15
 *   and 60). `cdk synth -c gcRateMinutes=30` passes a string, cdk.json may hold a number: both are read.
 * - `compression`: `none` (default), `gzip` or `zstd`, for the segments the functions write
 *   (`SLUICE_COMPRESSION`).
 * - `maxRequestBytes`: the largest request body the API accepts, 1024 to 6291456 bytes (default 6291456,
 *   Lambda's limit for synchronous payloads; `SLUICE_MAX_REQUEST_BYTES`).
 * - `compactTargetBytes`: the size compaction aims for, at least 65536 bytes (default 8388608;
 *   `SLUICE_COMPACT_TARGET_BYTES`).
 * - `compactMinAgeMinutes`: how old a segment must be before compaction touches it, whole minutes from 0
 *   (default 5; `SLUICE_COMPACT_MIN_AGE_MS`).
 * - `gcGraceMinutes`: how long an object stays unreferenced before GC deletes it, whole minutes from 20
 *   (default 60; `SLUICE_GC_GRACE_MS`). It must exceed the longest produce or read: at least 2 × the commit
 *   deadline (`SLUICE_MAX_COMMIT_DELAY_MS`, 5 min) + 60 s, and Lambda's 15-minute limit for reads.
 * - `metrics`: `emf` (default) has the functions write produce/fetch counts and consumer lag as CloudWatch
 *   Embedded Metric Format log lines (`SLUICE_METRICS`), which the dashboard graphs; `off` writes none and
 *   schedules no lag job.
 * - `lagRateMinutes`: how often the lag function measures every group's lag (default 1).
 * - `lagAlarmRecords`: if set, an alarm fires when some partition of some group has stayed this many
 *   records behind (ConsumerLagMax) for 5 minutes in a row; needs `metrics=emf`. Unset by default.
 * Numbers are read like the rates: as strings or numbers, whole and non-negative.
 */
export interface SluiceContext {
  stackName: string;
  tablePrefix: string;
  removalPolicy: RemovalPolicy;
  maintenanceRates: MaintenanceRates;
  settings: SluiceSettings;
  metrics: MetricsSettings;
}

/** Custom metrics: whether the functions write them, and how often consumer lag is measured. */
export interface MetricsSettings {
  enabled: boolean;
  lagRate: Duration;
  /** The ConsumerLagMax that, held for 5 minutes, raises the lag alarm; undefined: no lag alarm. */
  lagAlarmRecords: number | undefined;
}

/** Batching, size limits and maintenance thresholds, passed to the functions as environment variables. */
export interface SluiceSettings {
  compression: Compression;
  maxRequestBytes: number;
  compactTargetBytes: number;
  compactMinAge: Duration;
  gcGrace: Duration;
}

/** How often each maintenance job runs (one EventBridge schedule per job). */
export type MaintenanceRates = Record<MaintenanceJob, Duration>;

export const DEFAULT_STACK_NAME = 'Sluice';
export const DEFAULT_TABLE_PREFIX = 'sluice_';
/** Compaction every 10 min, retention every 15 min, GC every hour (its grace period is an hour anyway). */
export const DEFAULT_MAINTENANCE_RATE_MINUTES: Record<MaintenanceJob, number> = {
  compact: 10,
  retention: 15,
  gc: 60,
};

/** Consumer lag is measured every minute: CloudWatch's standard resolution, and a few read units a pass. */
export const DEFAULT_LAG_RATE_MINUTES = 1;

export const DEFAULT_COMPRESSION: Compression = 'none';
/** Lambda's limit for a synchronous invocation's payload. */
export const MAX_REQUEST_BYTES = 6 * 1024 * 1024;
export const DEFAULT_MAX_REQUEST_BYTES = MAX_REQUEST_BYTES;
export const MIN_REQUEST_BYTES = 1024;
export const DEFAULT_COMPACT_TARGET_BYTES = 8 * 1024 * 1024;
export const MIN_COMPACT_TARGET_BYTES = 64 * 1024;
export const DEFAULT_COMPACT_MIN_AGE_MINUTES = 5;
export const DEFAULT_GC_GRACE_MINUTES = 60;
/** Above Lambda's 15-minute limit, the longest a produce or a read can run, with a margin. */
export const MIN_GC_GRACE_MINUTES = 20;

/** CloudFormation stack names: a letter, then letters, digits and hyphens, at most 128 characters. */
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
/** The characters DynamoDB allows in table names (and functions/config.ts allows in the prefix). */
const TABLE_PREFIX = /^[a-zA-Z0-9_.-]*$/;

function readString(node: Node, key: string, fallback: string): string {
  const value: unknown = node.tryGetContext(key);
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw new Error(`context '${key}' must be a string, got ${typeof value}`);
  return value;
}

/** A year: EventBridge takes longer rates, but a maintenance job that runs less often is a mistake. */
const MAX_RATE_MINUTES = 366 * 24 * 60;

/** The most minutes whose milliseconds are still a safe integer. */
const MAX_MINUTES = Math.floor(Number.MAX_SAFE_INTEGER / 60_000);

/**
 * A whole number from `min` to `max`, given as a number (cdk.json) or a string of digits (`-c key=value`).
 * `what` names the unit in the error, which `why` may explain.
 */
function readInteger(
  node: Node,
  key: string,
  fallback: number,
  range: { min: number; max: number; what: string; why?: string },
): number {
  const value: unknown = node.tryGetContext(key);
  const n =
    value === undefined
      ? fallback
      : typeof value === 'number'
        ? value
        : typeof value === 'string' && /^\d+$/.test(value)
          ? Number(value)
          : Number.NaN;
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) {
    const bounds =
      range.max === MAX_MINUTES || range.max === Number.MAX_SAFE_INTEGER
        ? `of at least ${range.min}`
        : `from ${range.min} to ${range.max}`;
    const why = range.why === undefined ? '' : ` (${range.why})`;
    throw new Error(
      `context '${key}' must be a whole number of ${range.what} ${bounds}${why}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** A whole number of minutes from 1 (EventBridge rate expressions have minute granularity). */
function readMinutes(node: Node, key: string, fallback: number): Duration {
  return Duration.minutes(
    readInteger(node, key, fallback, { min: 1, max: MAX_RATE_MINUTES, what: 'minutes' }),
  );
}

function readSettings(node: Node): SluiceSettings {
  const compression = readString(node, 'compression', DEFAULT_COMPRESSION);
  if (!(COMPRESSIONS as readonly string[]).includes(compression)) {
    throw new Error(
      `context 'compression' must be one of ${COMPRESSIONS.map((c) => `'${c}'`).join(', ')}, got '${compression}'`,
    );
  }
  const bytes = { what: 'bytes', max: Number.MAX_SAFE_INTEGER };
  const minutes = { what: 'minutes', max: MAX_MINUTES };
  return {
    compression: compression as Compression,
    maxRequestBytes: readInteger(node, 'maxRequestBytes', DEFAULT_MAX_REQUEST_BYTES, {
      ...bytes,
      min: MIN_REQUEST_BYTES,
      max: MAX_REQUEST_BYTES,
      why: `${MAX_REQUEST_BYTES} is Lambda's limit for a synchronous request`,
    }),
    compactTargetBytes: readInteger(node, 'compactTargetBytes', DEFAULT_COMPACT_TARGET_BYTES, {
      ...bytes,
      min: MIN_COMPACT_TARGET_BYTES,
    }),
    compactMinAge: Duration.minutes(
      readInteger(node, 'compactMinAgeMinutes', DEFAULT_COMPACT_MIN_AGE_MINUTES, { ...minutes, min: 0 }),
    ),
    gcGrace: Duration.minutes(
      readInteger(node, 'gcGraceMinutes', DEFAULT_GC_GRACE_MINUTES, {
        ...minutes,
        min: MIN_GC_GRACE_MINUTES,
        why: "it must exceed Lambda's 15-minute limit, the longest a produce or a read can run, or GC may delete an object still being written or read",
      }),
    ),
  };
}

export function readSluiceContext(node: Node): SluiceContext {
  const stackName = readString(node, 'stackName', DEFAULT_STACK_NAME);
  if (!STACK_NAME.test(stackName)) {
    throw new Error(`context 'stackName' must match ${STACK_NAME}, got '${stackName}'`);
  }
  const tablePrefix = readString(node, 'tablePrefix', DEFAULT_TABLE_PREFIX);
  if (!TABLE_PREFIX.test(tablePrefix)) {
    throw new Error(`context 'tablePrefix' must match ${TABLE_PREFIX}, got '${tablePrefix}'`);
  }
  const removal = readString(node, 'removalPolicy', 'retain');
  if (removal !== 'retain' && removal !== 'destroy') {
    throw new Error(`context 'removalPolicy' must be 'retain' or 'destroy', got '${removal}'`);
  }
  return {
    stackName,
    tablePrefix,
    removalPolicy: removal === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    maintenanceRates: {
      compact: readMinutes(node, 'compactRateMinutes', DEFAULT_MAINTENANCE_RATE_MINUTES.compact),
      retention: readMinutes(node, 'retentionRateMinutes', DEFAULT_MAINTENANCE_RATE_MINUTES.retention),
      gc: readMinutes(node, 'gcRateMinutes', DEFAULT_MAINTENANCE_RATE_MINUTES.gc),
    },
    settings: readSettings(node),
    metrics: readMetrics(node),
  };
}

function readMetrics(node: Node): MetricsSettings {
  const metrics = readString(node, 'metrics', 'emf');
  if (metrics !== 'emf' && metrics !== 'off') {
    throw new Error(`context 'metrics' must be 'emf' or 'off', got '${metrics}'`);
  }
  const lagAlarmRecords =
    node.tryGetContext('lagAlarmRecords') === undefined
      ? undefined
      : readInteger(node, 'lagAlarmRecords', 0, { min: 1, max: Number.MAX_SAFE_INTEGER, what: 'records' });
  if (lagAlarmRecords !== undefined && metrics !== 'emf') {
    throw new Error(
      "context 'lagAlarmRecords' needs metrics 'emf': the alarm watches the ConsumerLagMax metric",
    );
  }
  return {
    enabled: metrics === 'emf',
    lagRate: readMinutes(node, 'lagRateMinutes', DEFAULT_LAG_RATE_MINUTES),
    lagAlarmRecords,
  };
}
