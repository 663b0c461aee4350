import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CfnResource } from 'aws-cdk-lib';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';
import { readSluiceContext } from '../../infra/context.js';
import { SluiceStack } from '../../infra/sluice-stack.js';

/** The stack as infra/app.ts builds it, synthesized in-process, and helpers to read its IAM grants. */

export const PROJECT_ROOT = resolve(import.meta.dirname, '../..');

/** The feature flags and defaults from cdk.json, so the template under test is the one `cdk synth` makes. */
const CDK_JSON_CONTEXT = (
  JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  }
).context;

export interface Synthesized {
  stack: SluiceStack;
  template: Template;
  resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  logicalId(construct: { node: { defaultChild?: unknown } }): string;
}

/** Builds the stack the way infra/app.ts does, without bundling the function. */
export function synth(context: Record<string, unknown> = {}): Synthesized {
  const app = new App({ context: { ...CDK_JSON_CONTEXT, ...context, 'aws:cdk:bundling-stacks': [] } });
  const config = readSluiceContext(app.node);
  const stack = new SluiceStack(app, config.stackName, {
    stackName: config.stackName,
    tablePrefix: config.tablePrefix,
    removalPolicy: config.removalPolicy,
    maintenanceRates: config.maintenanceRates,
    settings: config.settings,
    metrics: config.metrics,
  });
  const template = Template.fromStack(stack);
  const resources = (template.toJSON() as { Resources: Synthesized['resources'] }).Resources;
  return {
    stack,
    template,
    resources,
    logicalId: (construct) => stack.getLogicalId(construct.node.defaultChild as CfnResource),
  };
}

export function getAtt(logicalId: string): unknown {
  return { 'Fn::GetAtt': [logicalId, 'Arn'] };
}

interface PolicyStatement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

export function statementsOf(policy: { Properties?: Record<string, unknown> }): PolicyStatement[] {
  const document = policy.Properties?.PolicyDocument as { Statement: PolicyStatement[] };
  return document.Statement;
}

export const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** The properties of one resource, by logical id. */
export function propertiesOf(
  resources: Synthesized['resources'],
  logicalId: string,
): Record<string, unknown> {
  const resource = resources[logicalId];
  if (resource === undefined) throw new Error(`no resource ${logicalId}`);
  return resource.Properties ?? {};
}

/** The logical id of a function's role. */
export function roleIdOf(synthesized: Synthesized, fn: { role?: unknown }): string {
  if (fn.role === undefined) throw new Error('the function has no role');
  return synthesized.logicalId(fn.role as { node: { defaultChild?: unknown } });
}

/** The log group a function logs to, as its logical id. */
export function logGroupIdOf(resources: Synthesized['resources'], functionId: string): string {
  const config = propertiesOf(resources, functionId).LoggingConfig as { LogGroup: { Ref: string } };
  return config.LogGroup.Ref;
}

/** Every IAM policy attached to `roleId`, as resource (JSON) → sorted allowed actions. */
export function grantsOfRole(resources: Synthesized['resources'], roleId: string): Map<string, string[]> {
  const grants = new Map<string, Set<string>>();
  for (const resource of Object.values(resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const roles = resource.Properties?.Roles as unknown[];
    if (!roles.some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleId }))) continue;
    for (const statement of statementsOf(resource)) {
      expect(statement.Effect).toBe('Allow');
      for (const target of asArray(statement.Resource)) {
        const key = JSON.stringify(target);
        const actions = grants.get(key) ?? new Set<string>();
        for (const action of asArray(statement.Action)) actions.add(action);
        grants.set(key, actions);
      }
    }
  }
  return new Map([...grants].map(([key, actions]) => [key, [...actions].sort()]));
}

/** A role's grants with the stack's resources named: objects, bucket, metadata, index, logs, … */
export function namedGrants(
  synthesized: Synthesized,
  fn: { role?: unknown; node: { defaultChild?: unknown } },
) {
  const { resources, logicalId, stack } = synthesized;
  const bucketId = logicalId(stack.bucket);
  const names = new Map<string, string>([
    [JSON.stringify({ 'Fn::Join': ['', [getAtt(bucketId), '/*']] }), 'objects'],
    [JSON.stringify(getAtt(bucketId)), 'bucket'],
    [JSON.stringify(getAtt(logicalId(stack.metadataTable))), 'metadata'],
    [JSON.stringify(getAtt(logicalId(stack.indexTable))), 'index'],
    [JSON.stringify(getAtt(logGroupIdOf(resources, logicalId(fn)))), 'own log group'],
    [JSON.stringify({ Ref: logicalId(stack.adminTokenSecret) }), 'admin token secret'],
  ]);
  for (const [id, other] of stack.functions)
    names.set(JSON.stringify(getAtt(logicalId(other))), `${id} function`);
  const roleId = roleIdOf(synthesized, fn);
  // No AWS managed policy (AWSLambdaBasicExecutionRole would allow logs:CreateLogGroup on every group).
  expect(resources[roleId]?.Properties?.ManagedPolicyArns).toBeUndefined();
  return Object.fromEntries(
    [...grantsOfRole(resources, roleId)].map(([resource, actions]) => [
      names.get(resource) ?? resource,
      actions,
    ]),
  );
}
