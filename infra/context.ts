import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { Node } from 'constructs';
import type { MaintenanceJob } from '../lib/maintenance/report.js';

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
 */
export interface SluiceContext {
  stackName: string;
  tablePrefix: string;
  removalPolicy: RemovalPolicy;
  maintenanceRates: MaintenanceRates;
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

/** A whole number of minutes from 1 (EventBridge rate expressions have minute granularity). */
function readMinutes(node: Node, key: string, fallback: number): Duration {
  const value: unknown = node.tryGetContext(key);
  const minutes =
    value === undefined
      ? fallback
      : typeof value === 'number'
        ? value
        : typeof value === 'string' && /^\d+$/.test(value)
          ? Number(value)
          : Number.NaN;
  if (!Number.isSafeInteger(minutes) || minutes < 1 || minutes > MAX_RATE_MINUTES) {
    throw new Error(
      `context '${key}' must be a whole number of minutes from 1 to ${MAX_RATE_MINUTES}, got ${JSON.stringify(value)}`,
    );
  }
  return Duration.minutes(minutes);
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
  };
}
