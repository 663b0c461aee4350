import { RemovalPolicy } from 'aws-cdk-lib';
import type { Node } from 'constructs';

/**
 * What the CDK app reads from context (`cdk.json` "context" or `cdk synth -c key=value`). The defaults live
 * here and nowhere else:
 *
 * - `stackName`: the CloudFormation stack name (default `Sluice`).
 * - `tablePrefix`: prefix of the DynamoDB table names, the same value the functions get as
 *   `SLUICE_TABLE_PREFIX` (default `sluice_`).
 * - `removalPolicy`: `retain` (default) keeps the bucket, tables and logs when the stack is deleted;
 *   `destroy` deletes them, emptying the bucket first (for throwaway and test stacks).
 */
export interface SluiceContext {
  stackName: string;
  tablePrefix: string;
  removalPolicy: RemovalPolicy;
}

export const DEFAULT_STACK_NAME = 'Sluice';
export const DEFAULT_TABLE_PREFIX = 'sluice_';

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
  };
}
