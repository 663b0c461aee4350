import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { CfnResource } from 'aws-cdk-lib';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { readSluiceContext } from '../../infra/context.js';
import { NATIVE_MODULES, SluiceStack } from '../../infra/sluice-stack.js';
import { tableDefinitions } from '../../lib/metadata/dynamodb-schema.js';

const PROJECT_ROOT = resolve(import.meta.dirname, '../..');

/** The feature flags and defaults from cdk.json, so the template under test is the one `cdk synth` makes. */
const CDK_JSON_CONTEXT = (
  JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  }
).context;

interface Synthesized {
  stack: SluiceStack;
  template: Template;
  resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  logicalId(construct: { node: { defaultChild?: unknown } }): string;
}

/** Builds the stack the way infra/app.ts does, without bundling the function. */
function synth(context: Record<string, unknown> = {}): Synthesized {
  const app = new App({ context: { ...CDK_JSON_CONTEXT, ...context, 'aws:cdk:bundling-stacks': [] } });
  const config = readSluiceContext(app.node);
  const stack = new SluiceStack(app, config.stackName, {
    stackName: config.stackName,
    tablePrefix: config.tablePrefix,
    removalPolicy: config.removalPolicy,
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

function getAtt(logicalId: string): unknown {
  return { 'Fn::GetAtt': [logicalId, 'Arn'] };
}

interface PolicyStatement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

function statementsOf(policy: { Properties?: Record<string, unknown> }): PolicyStatement[] {
  const document = policy.Properties?.PolicyDocument as { Statement: PolicyStatement[] };
  return document.Statement;
}

const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** Every IAM policy attached to `roleId`, as resource (JSON) → sorted allowed actions. */
function grantsOfRole(resources: Synthesized['resources'], roleId: string): Map<string, string[]> {
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

describe('segment bucket', () => {
  it('blocks all public access and encrypts with S3-managed keys', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      VersioningConfiguration: Match.absent(),
    });
  });

  it('denies every request that does not use TLS', () => {
    const { template, resources, logicalId, stack } = synth();
    const bucketId = logicalId(stack.bucket);
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Resource: [getAtt(bucketId), { 'Fn::Join': ['', [getAtt(bucketId), '/*']] }],
          },
        ]),
      },
    });
    // The TLS rule is the bucket policy's only statement: nothing is granted through it.
    const policies = Object.values(resources).filter((r) => r.Type === 'AWS::S3::BucketPolicy');
    expect(policies).toHaveLength(1);
    expect(statementsOf(policies[0] as (typeof policies)[number])).toHaveLength(1);
  });

  it('has one lifecycle rule, which only aborts incomplete multipart uploads after a day', () => {
    const { resources } = synth();
    const buckets = Object.values(resources).filter((r) => r.Type === 'AWS::S3::Bucket');
    expect(buckets).toHaveLength(1);
    const lifecycle = buckets[0]?.Properties?.LifecycleConfiguration as { Rules: unknown[] };
    expect(lifecycle.Rules).toEqual([
      {
        Id: 'abort-incomplete-multipart-uploads',
        Status: 'Enabled',
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
      },
    ]);
  });
});

describe('tables', () => {
  it.each([
    ['default prefix', undefined, 'sluice_'],
    ['prefix from context', 'test_', 'test_'],
  ])('match lib/metadata/dynamodb-schema.ts (%s)', (_name, contextPrefix, prefix) => {
    const { template } = synth(contextPrefix === undefined ? {} : { tablePrefix: contextPrefix });
    const definitions = tableDefinitions(prefix);
    expect(definitions.map((d) => d.TableName)).toEqual([`${prefix}metadata`, `${prefix}index`]);
    template.resourceCountIs('AWS::DynamoDB::Table', definitions.length);
    for (const definition of definitions) {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        TableName: definition.TableName,
        KeySchema: definition.KeySchema,
        AttributeDefinitions: definition.AttributeDefinitions,
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      });
    }
  });
});

describe('API function', () => {
  it('runs the Lambda entry on Node 22, ARM, 1 GiB, 30 s', () => {
    const { template } = synth();
    template.resourceCountIs('AWS::Lambda::Function', 1);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      MemorySize: 1024,
      Timeout: 30,
    });
  });

  it('gets the bucket, the table prefix and the admin token parameter in its environment', () => {
    const { template, logicalId, stack } = synth({ tablePrefix: 'env_' });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          SLUICE_BUCKET: { Ref: logicalId(stack.bucket) },
          SLUICE_TABLE_PREFIX: 'env_',
          SLUICE_ADMIN_TOKEN: { Ref: 'AdminToken' },
        },
      },
    });
    template.hasParameter('AdminToken', { Type: 'String', NoEcho: true, MinLength: 16 });
  });

  it('logs to its own log group, kept for a month', () => {
    const { template, resources } = synth();
    const logGroups = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Logs::LogGroup');
    expect(logGroups).toHaveLength(1);
    const [logGroupId, logGroup] = logGroups[0] as (typeof logGroups)[number];
    expect(logGroup.Properties?.RetentionInDays).toBe(30);
    template.hasResourceProperties('AWS::Lambda::Function', {
      LoggingConfig: { LogGroup: { Ref: logGroupId } },
    });
  });

  it('is reachable through a public function URL that streams responses (for SSE live tails)', () => {
    const { template, logicalId, stack } = synth();
    const functionArn = getAtt(logicalId(stack.apiFunction));
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'NONE',
      InvokeMode: 'RESPONSE_STREAM',
      TargetFunctionArn: functionArn,
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunctionUrl',
      FunctionName: functionArn,
      FunctionUrlAuthType: 'NONE',
      Principal: '*',
    });
    template.hasOutput('ApiUrl', { Value: { 'Fn::GetAtt': [logicalId(stack.apiUrl), 'FunctionUrl'] } });
  });

  it('outputs the bucket and table names', () => {
    const { template, logicalId, stack } = synth();
    template.hasOutput('BucketName', { Value: { Ref: logicalId(stack.bucket) } });
    template.hasOutput('MetadataTableName', { Value: { Ref: logicalId(stack.metadataTable) } });
    template.hasOutput('IndexTableName', { Value: { Ref: logicalId(stack.indexTable) } });
  });
});

describe('least privilege', () => {
  it('grants the function exactly the S3, DynamoDB and log calls the code makes', () => {
    const { resources, logicalId, stack } = synth();
    const role = stack.apiFunction.role;
    if (role === undefined) throw new Error('the API function has no role');
    const roleId = logicalId(role);
    const bucketId = logicalId(stack.bucket);
    const logGroups = Object.keys(resources).filter((id) => resources[id]?.Type === 'AWS::Logs::LogGroup');

    const grants = grantsOfRole(resources, roleId);
    expect(Object.fromEntries(grants)).toEqual({
      [JSON.stringify({ 'Fn::Join': ['', [getAtt(bucketId), '/*']] })]: [
        's3:DeleteObject',
        's3:GetObject',
        's3:PutObject',
      ],
      [JSON.stringify(getAtt(bucketId))]: ['s3:ListBucket'],
      [JSON.stringify(getAtt(logicalId(stack.metadataTable)))]: [
        'dynamodb:BatchGetItem',
        'dynamodb:ConditionCheckItem',
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
      ],
      [JSON.stringify(getAtt(logicalId(stack.indexTable)))]: [
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
      ],
      [JSON.stringify(getAtt(logGroups[0] ?? 'missing'))]: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    });
    // No AWS managed policy (AWSLambdaBasicExecutionRole would allow logs:CreateLogGroup on every group).
    expect(resources[roleId]?.Properties?.ManagedPolicyArns).toBeUndefined();
  });

  it('allows no wildcard action in any IAM policy of the stack', () => {
    const { resources } = synth();
    const policies = Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Policy');
    expect(policies.length).toBeGreaterThan(0);
    for (const policy of policies) {
      for (const statement of statementsOf(policy)) {
        for (const action of asArray(statement.Action)) expect(action).not.toContain('*');
        expect(asArray(statement.Resource)).not.toContain('*');
      }
    }
  });
});

describe('removal policy', () => {
  const stateful = ['AWS::S3::Bucket', 'AWS::DynamoDB::Table', 'AWS::Logs::LogGroup'];

  it('retains the bucket, tables and logs by default', () => {
    const { template } = synth();
    for (const type of stateful) {
      template.allResources(type, { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  it("destroys them, emptying the bucket first, when context removalPolicy is 'destroy'", () => {
    const { template } = synth({ removalPolicy: 'destroy' });
    for (const type of stateful) {
      template.allResources(type, { DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
    }
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 1);
  });

  it('rejects any other value', () => {
    expect(() => synth({ removalPolicy: 'snapshot' })).toThrow(/removalPolicy/);
  });
});

describe('cdk synth', () => {
  const execFileAsync = promisify(execFile);

  it('synthesizes offline, bundling the function with its native modules for linux-arm64', async () => {
    const tmp = join(PROJECT_ROOT, '.tmp');
    await mkdir(tmp, { recursive: true });
    const out = await mkdtemp(join(tmp, 'cdk-synth-'));
    try {
      const started = Date.now();
      await execFileAsync('npx', ['cdk', 'synth', '--quiet', '--output', out], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true', TMPDIR: tmp },
        timeout: 115_000,
        maxBuffer: 16 * 1024 * 1024,
      });
      process.stderr.write(`[infra] cdk synth took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

      expect(existsSync(join(out, 'Sluice.template.json'))).toBe(true);
      const assets = (await readdir(out)).filter((name) => name.startsWith('asset.'));
      expect(assets).toHaveLength(1);
      const asset = join(out, assets[0] ?? '');
      expect(existsSync(join(asset, 'index.mjs'))).toBe(true);
      // Each native module comes with the prebuilt binary for Lambda's platform, and only that one.
      for (const name of NATIVE_MODULES) {
        expect(existsSync(join(asset, 'node_modules', name)), name).toBe(true);
        expect(existsSync(join(asset, 'node_modules', `${name}-linux-arm64-gnu`)), name).toBe(true);
        expect(existsSync(join(asset, 'node_modules', `${name}-linux-x64-gnu`)), name).toBe(false);
      }
      // The pinned SDK is bundled, not taken from the runtime.
      const bundle = await readFile(join(asset, 'index.mjs'), 'utf8');
      expect(bundle).not.toMatch(/^import\b[^\n]*\bfrom\s*["']@aws-sdk\//m);
      expect(bundle).not.toMatch(/(\bimport\s*\(|\b__require\()\s*["']@aws-sdk\//);
      expect(bundle).toMatch(/^import\b[^\n]*\bfrom\s*["']@node-rs\/crc32["']/m);
      expect(existsSync(join(asset, 'node_modules/@aws-sdk'))).toBe(false);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 120_000);
});
