import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_COMPACT_MIN_AGE_MINUTES,
  DEFAULT_COMPACT_TARGET_BYTES,
  DEFAULT_COMPRESSION,
  DEFAULT_GC_GRACE_MINUTES,
  DEFAULT_LAG_RATE_MINUTES,
  DEFAULT_MAINTENANCE_RATE_MINUTES,
  DEFAULT_MAX_REQUEST_BYTES,
  MIN_GC_GRACE_MINUTES,
} from '../../infra/context.js';
import { NATIVE_MODULES, type SluiceStack } from '../../infra/sluice-stack.js';
import { DEFAULT_LIMITS } from '../../lib/limits.js';
import { minGcGraceMs } from '../../lib/log/appender.js';
import { DEFAULT_LOG_OPTIONS } from '../../lib/log/log.js';
import { DEFAULT_MAINTENANCE_OPTIONS } from '../../lib/maintenance/maintenance.js';
import { tableDefinitions } from '../../lib/metadata/dynamodb-schema.js';
import {
  asArray,
  getAtt,
  grantsOfRole,
  logGroupIdOf,
  namedGrants,
  PROJECT_ROOT,
  propertiesOf,
  roleIdOf,
  type Synthesized,
  statementsOf,
  synth,
} from '../support/synth.js';

/** The settings both functions get by default (the API function also gets SLUICE_MAX_REQUEST_BYTES). */
const DEFAULT_SETTINGS_ENV = {
  SLUICE_COMPRESSION: 'none',
  SLUICE_COMPACT_TARGET_BYTES: '8388608',
  SLUICE_COMPACT_MIN_AGE_MS: '300000',
  SLUICE_GC_GRACE_MS: '3600000',
};

/** The commit deadline both functions get (GC's grace is derived from it, ARCHITECTURE §10.4). */
const COMMIT_DEADLINE_ENV = { SLUICE_MAX_COMMIT_DELAY_MS: '300000' };

/** What both functions get for custom metrics by default: EMF lines under Sluice, service = the stack. */
const DEFAULT_METRICS_ENV = {
  SLUICE_METRICS: 'emf',
  SLUICE_METRICS_NAMESPACE: 'Sluice',
  SLUICE_METRICS_SERVICE: 'Sluice',
};

/** A function's environment variables. */
function environmentOf(synthesized: Synthesized, fn: { node: { defaultChild?: unknown } }) {
  const environment = propertiesOf(synthesized.resources, synthesized.logicalId(fn)).Environment as {
    Variables: Record<string, unknown>;
  };
  return environment.Variables;
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

describe('functions', () => {
  it('are the API and one per job (compact, retention, gc, lag), nothing else', () => {
    const { template, stack } = synth();
    template.resourceCountIs('AWS::Lambda::Function', 5);
    expect(stack.functions.map(([id]) => id)).toEqual(['Api', 'Compact', 'Retention', 'Gc', 'Lag']);
    // Without metrics there is no lag job to run.
    synth({ metrics: 'off' }).template.resourceCountIs('AWS::Lambda::Function', 4);
  });

  it('each log to a log group of their own, kept for a month', () => {
    const { resources, logicalId, stack } = synth();
    const logGroups = Object.keys(resources).filter((id) => resources[id]?.Type === 'AWS::Logs::LogGroup');
    const used = stack.functions.map(([, fn]) => logGroupIdOf(resources, logicalId(fn)));
    expect(new Set(used).size).toBe(5);
    expect(logGroups.sort()).toEqual([...used].sort());
    for (const id of logGroups) expect(propertiesOf(resources, id).RetentionInDays).toBe(30);
  });
});

describe('API function', () => {
  it('runs the Lambda entry on Node 22, ARM, 1 GiB, 30 s', () => {
    const { resources, logicalId, stack } = synth();
    expect(propertiesOf(resources, logicalId(stack.apiFunction))).toMatchObject({
      Handler: 'index.handler',
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      MemorySize: 1024,
      Timeout: 30,
    });
  });

  it("gets the bucket, the table prefix and the admin token secret's ARN in its environment, not the token", () => {
    const { template, resources, logicalId, stack } = synth({ tablePrefix: 'env_' });
    expect(propertiesOf(resources, logicalId(stack.apiFunction)).Environment).toEqual({
      Variables: {
        SLUICE_BUCKET: { Ref: logicalId(stack.bucket) },
        SLUICE_TABLE_PREFIX: 'env_',
        SLUICE_ADMIN_TOKEN_SECRET_ARN: { Ref: logicalId(stack.adminTokenSecret) },
        ...DEFAULT_SETTINGS_ENV,
        ...COMMIT_DEADLINE_ENV,
        ...DEFAULT_METRICS_ENV,
        SLUICE_MAX_REQUEST_BYTES: '6291456',
        // Admin-requested passes run in the job's own function.
        SLUICE_COMPACT_FUNCTION: { Ref: logicalId(stack.jobFunctions.compact) },
        SLUICE_RETENTION_FUNCTION: { Ref: logicalId(stack.jobFunctions.retention) },
        SLUICE_GC_FUNCTION: { Ref: logicalId(stack.jobFunctions.gc) },
      },
    });
    // No parameter carries the token any more.
    expect(
      Object.keys(template.findParameters('*')).filter((id) => !id.startsWith('BootstrapVersion')),
    ).toEqual([]);
  });

  it('has its admin token generated in Secrets Manager: 48 characters, no punctuation', () => {
    const { template, logicalId, stack } = synth();
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true },
      SecretString: Match.absent(),
    });
    template.hasOutput('AdminTokenSecretArn', {
      Value: { Ref: logicalId(stack.adminTokenSecret) },
      Description: Match.stringLikeRegexp(
        'aws secretsmanager get-secret-value --secret-id <arn> --query SecretString --output text',
      ),
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

describe('job functions', () => {
  /** The job functions with their job names, from the stack. */
  const jobsOf = (stack: SluiceStack) =>
    Object.entries({ ...stack.jobFunctions, lag: stack.lagFunction }).map(
      ([job, fn]) => [job, fn as NonNullable<typeof fn>] as const,
    );

  it('run functions/maintenance.ts on Node 22, ARM, 1 GiB: passes for up to 15 minutes, the lag job 1', () => {
    const { template, resources, logicalId, stack } = synth();
    for (const [job, fn] of jobsOf(stack)) {
      const functionId = logicalId(fn);
      expect(propertiesOf(resources, functionId)).toMatchObject({
        Handler: 'index.handler',
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        MemorySize: 1024,
        Timeout: job === 'lag' ? 60 : 900,
      });
      const output = `${{ compact: 'Compact', retention: 'Retention', gc: 'Gc', lag: 'Lag' }[job]}FunctionName`;
      template.hasOutput(output, { Value: { Ref: functionId } });
    }
  });

  it('each get the bucket, the table prefix and their one job in their environment, and no admin token', () => {
    const { resources, logicalId, stack } = synth({ tablePrefix: 'env_' });
    for (const [job, fn] of jobsOf(stack)) {
      expect(propertiesOf(resources, logicalId(fn)).Environment).toEqual({
        Variables: {
          SLUICE_BUCKET: { Ref: logicalId(stack.bucket) },
          SLUICE_TABLE_PREFIX: 'env_',
          ...DEFAULT_SETTINGS_ENV,
          ...COMMIT_DEADLINE_ENV,
          ...DEFAULT_METRICS_ENV,
          SLUICE_MAINTENANCE_JOBS: job,
        },
      });
    }
  });

  it('have no concurrency limit and no automatic retries (the next scheduled pass is the retry)', () => {
    const { template, resources, logicalId, stack } = synth();
    const jobs = jobsOf(stack);
    template.resourceCountIs('AWS::Lambda::EventInvokeConfig', jobs.length);
    for (const [, fn] of jobs) {
      const functionId = logicalId(fn);
      expect(propertiesOf(resources, functionId).ReservedConcurrentExecutions).toBeUndefined();
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: functionId },
        Qualifier: '$LATEST',
        MaximumRetryAttempts: 0,
      });
    }
  });

  it('are not reachable through a function URL', () => {
    const { template } = synth();
    template.resourceCountIs('AWS::Lambda::Url', 1);
  });

  it('may be invoked by the API function (for admin passes), the three passes only', () => {
    const synthesized = synth();
    const { resources, logicalId, stack } = synthesized;
    const grants = grantsOfRole(resources, roleIdOf(synthesized, stack.apiFunction));
    const invocable = [...grants].filter(([, actions]) => actions.includes('lambda:InvokeFunction'));
    expect(invocable.map(([resource]) => resource).sort()).toEqual(
      (['compact', 'retention', 'gc'] as const)
        .map((job) => JSON.stringify(getAtt(logicalId(stack.jobFunctions[job]))))
        .sort(),
    );
    for (const [, actions] of invocable) expect(actions).toEqual(['lambda:InvokeFunction']);
  });
});

describe('maintenance schedules', () => {
  /** Each schedule rule: its expression, its targets' inputs, and the function they invoke. */
  function schedulesOf({ resources }: Synthesized) {
    return Object.entries(resources)
      .filter(([, r]) => r.Type === 'AWS::Events::Rule')
      .map(([id, r]) => {
        const targets = r.Properties?.Targets as Array<{ Arn: unknown; Input: string }>;
        expect(targets).toHaveLength(1);
        const [target] = targets as [(typeof targets)[number]];
        return {
          id,
          schedule: r.Properties?.ScheduleExpression,
          state: r.Properties?.State,
          arn: target.Arn,
          input: JSON.parse(target.Input) as unknown,
        };
      })
      .sort((a, b) => String(a.schedule).localeCompare(String(b.schedule)));
  }

  it("start each job's own function: compact every 10 minutes, retention every 15, GC every hour, lag every minute", () => {
    const synthesized = synth();
    const { logicalId, stack } = synthesized;
    const arn = (fn: { node: { defaultChild?: unknown } } | undefined) =>
      getAtt(logicalId(fn as NonNullable<typeof fn>));
    expect(DEFAULT_MAINTENANCE_RATE_MINUTES).toEqual({ compact: 10, retention: 15, gc: 60 });
    expect(DEFAULT_LAG_RATE_MINUTES).toBe(1);
    expect(schedulesOf(synthesized).map(({ id: _, ...rule }) => rule)).toEqual([
      { schedule: 'rate(1 hour)', state: 'ENABLED', arn: arn(stack.jobFunctions.gc), input: { job: 'gc' } },
      { schedule: 'rate(1 minute)', state: 'ENABLED', arn: arn(stack.lagFunction), input: { job: 'lag' } },
      {
        schedule: 'rate(10 minutes)',
        state: 'ENABLED',
        arn: arn(stack.jobFunctions.compact),
        input: { job: 'compact' },
      },
      {
        schedule: 'rate(15 minutes)',
        state: 'ENABLED',
        arn: arn(stack.jobFunctions.retention),
        input: { job: 'retention' },
      },
    ]);
  });

  it('may each invoke their own function, and only it', () => {
    const synthesized = synth();
    const { template, resources } = synthesized;
    const rules = schedulesOf(synthesized);
    const permissions = Object.values(resources).filter(
      (r) => r.Type === 'AWS::Lambda::Permission' && r.Properties?.Principal === 'events.amazonaws.com',
    );
    expect(permissions).toHaveLength(rules.length);
    for (const rule of rules) {
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: rule.arn,
        Principal: 'events.amazonaws.com',
        SourceArn: getAtt(rule.id),
      });
    }
  });

  it('take their rates from context, as strings (cdk -c) or numbers (cdk.json)', () => {
    const rules = schedulesOf(
      synth({
        compactRateMinutes: '5',
        retentionRateMinutes: 30,
        gcRateMinutes: '1440',
        lagRateMinutes: '2',
      }),
    );
    expect(rules.map((r) => [r.schedule, r.input])).toEqual([
      ['rate(1 day)', { job: 'gc' }],
      ['rate(2 minutes)', { job: 'lag' }],
      ['rate(30 minutes)', { job: 'retention' }],
      ['rate(5 minutes)', { job: 'compact' }],
    ]);
  });

  it.each([
    ['compactRateMinutes', '0'],
    ['retentionRateMinutes', '1.5'],
    ['gcRateMinutes', 'hourly'],
    ['gcRateMinutes', -60],
    ['compactRateMinutes', ''],
    ['lagRateMinutes', '0'],
    ['lagRateMinutes', '30s'],
  ])('rejects context %s = %j', (key, value) => {
    expect(() => synth({ [key]: value })).toThrow(new RegExp(key));
  });
});

describe('function settings', () => {
  const SETTINGS_KEYS = [
    'SLUICE_COMPRESSION',
    'SLUICE_MAX_REQUEST_BYTES',
    'SLUICE_COMPACT_TARGET_BYTES',
    'SLUICE_COMPACT_MIN_AGE_MS',
    'SLUICE_GC_GRACE_MS',
  ];
  const settingsOf = (variables: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(variables).filter(([key]) => SETTINGS_KEYS.includes(key)));

  it('default to what the functions would use without them (functions/config.ts, lib/)', () => {
    expect(DEFAULT_COMPRESSION).toBe(DEFAULT_LOG_OPTIONS.compression);
    expect(DEFAULT_MAX_REQUEST_BYTES).toBe(DEFAULT_LIMITS.maxRequestBytes);
    expect(DEFAULT_COMPACT_TARGET_BYTES).toBe(DEFAULT_MAINTENANCE_OPTIONS.targetObjectBytes);
    expect(DEFAULT_COMPACT_MIN_AGE_MINUTES * 60_000).toBe(DEFAULT_MAINTENANCE_OPTIONS.minAgeMs);
    expect(DEFAULT_GC_GRACE_MINUTES * 60_000).toBe(DEFAULT_MAINTENANCE_OPTIONS.gcGraceMs);
  });

  it('give every function the commit deadline that the smallest GC grace allowed is derived from', () => {
    const synthesized = synth({ gcGraceMinutes: MIN_GC_GRACE_MINUTES });
    for (const [, fn] of synthesized.stack.functions) {
      const variables = environmentOf(synthesized, fn);
      const delay = Number(variables.SLUICE_MAX_COMMIT_DELAY_MS);
      expect(delay).toBe(DEFAULT_LOG_OPTIONS.maxCommitDelayMs);
      expect(Number(variables.SLUICE_GC_GRACE_MS)).toBeGreaterThanOrEqual(minGcGraceMs(delay));
    }
  });

  it("appear with their defaults in every function's environment; the request limit only in the API's", () => {
    const synthesized = synth();
    const { stack } = synthesized;
    expect(settingsOf(environmentOf(synthesized, stack.apiFunction))).toEqual({
      ...DEFAULT_SETTINGS_ENV,
      SLUICE_MAX_REQUEST_BYTES: '6291456',
    });
    for (const [id, fn] of stack.functions) {
      if (id !== 'Api') expect(settingsOf(environmentOf(synthesized, fn))).toEqual(DEFAULT_SETTINGS_ENV);
    }
  });

  it('take their values from context, as strings (cdk -c) or numbers (cdk.json)', () => {
    const synthesized = synth({
      compression: 'zstd',
      maxRequestBytes: '1048576',
      compactTargetBytes: 65536,
      compactMinAgeMinutes: '0',
      gcGraceMinutes: 20,
    });
    const { stack } = synthesized;
    const maintenance = {
      SLUICE_COMPRESSION: 'zstd',
      SLUICE_COMPACT_TARGET_BYTES: '65536',
      SLUICE_COMPACT_MIN_AGE_MS: '0',
      SLUICE_GC_GRACE_MS: '1200000',
    };
    expect(settingsOf(environmentOf(synthesized, stack.apiFunction))).toEqual({
      ...maintenance,
      SLUICE_MAX_REQUEST_BYTES: '1048576',
    });
    expect(settingsOf(environmentOf(synthesized, stack.jobFunctions.compact))).toEqual(maintenance);
  });

  it.each(['none', 'gzip', 'zstd'])('accept compression %s', (compression) => {
    const synthesized = synth({ compression });
    for (const [, fn] of synthesized.stack.functions) {
      expect(environmentOf(synthesized, fn).SLUICE_COMPRESSION).toBe(compression);
    }
  });

  it.each([
    ['compression', 'lz4', /context 'compression' must be one of 'none', 'gzip', 'zstd', got 'lz4'/],
    ['compression', 1, /context 'compression' must be a string/],
    [
      'maxRequestBytes',
      '1023',
      /context 'maxRequestBytes' must be a whole number of bytes from 1024 to 6291456/,
    ],
    ['maxRequestBytes', 6291457, /'maxRequestBytes'.*from 1024 to 6291456 \(6291456 is Lambda's limit/],
    ['maxRequestBytes', '6MB', /'maxRequestBytes'.*got "6MB"/],
    [
      'compactTargetBytes',
      '65535',
      /context 'compactTargetBytes' must be a whole number of bytes of at least 65536/,
    ],
    ['compactTargetBytes', 1.5e6 + 0.5, /'compactTargetBytes'/],
    [
      'compactMinAgeMinutes',
      -1,
      /context 'compactMinAgeMinutes' must be a whole number of minutes of at least 0/,
    ],
    ['compactMinAgeMinutes', '2.5', /'compactMinAgeMinutes'.*got "2.5"/],
    [
      'gcGraceMinutes',
      '15',
      /context 'gcGraceMinutes' must be a whole number of minutes of at least 20 \(it must exceed Lambda's 15-minute limit/,
    ],
    ['gcGraceMinutes', 19, /'gcGraceMinutes'.*must exceed Lambda's 15-minute limit.*got 19/],
    ['gcGraceMinutes', '', /'gcGraceMinutes'/],
  ])('rejects context %s = %j', (key, value, error) => {
    expect(() => synth({ [key]: value })).toThrow(error);
  });
});

describe('least privilege', () => {
  const LOGS = ['logs:CreateLogStream', 'logs:PutLogEvents'];

  it('grants the API function its data calls, the admin token, and invoking the three pass functions', () => {
    const synthesized = synth();
    expect(namedGrants(synthesized, synthesized.stack.apiFunction)).toEqual({
      // No DeleteObject and no ListBucket: the API function cannot remove or enumerate segments.
      objects: ['s3:GetObject', 's3:PutObject'],
      metadata: [
        'dynamodb:BatchGetItem',
        'dynamodb:ConditionCheckItem',
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
      ],
      // Commits and reads, and the topic version on a chain's mark item (a topic change's transaction): no
      // entry is ever deleted, scanned or read singly by the API.
      index: ['dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
      'own log group': LOGS,
      // The admin token, read once at cold start; not DescribeSecret, which secret.grantRead would add.
      'admin token secret': ['secretsmanager:GetSecretValue'],
      'Compact function': ['lambda:InvokeFunction'],
      'Retention function': ['lambda:InvokeFunction'],
      'Gc function': ['lambda:InvokeFunction'],
    });
  });

  it('grants each job function only what its job does; only GC may delete or list segment objects', () => {
    const synthesized = synth();
    const { stack } = synthesized;
    expect(namedGrants(synthesized, stack.jobFunctions.compact)).toEqual({
      objects: ['s3:GetObject', 's3:PutObject'],
      metadata: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'],
      index: [
        'dynamodb:BatchWriteItem',
        'dynamodb:DeleteItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
      ],
      'own log group': LOGS,
    });
    expect(namedGrants(synthesized, stack.jobFunctions.retention)).toEqual({
      metadata: [
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
      ],
      index: ['dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
      'own log group': LOGS,
    });
    expect(namedGrants(synthesized, stack.jobFunctions.gc)).toEqual({
      objects: ['s3:DeleteObject'],
      bucket: ['s3:ListBucket'],
      metadata: ['dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:Query'],
      index: ['dynamodb:Scan'],
      'own log group': LOGS,
    });
    expect(namedGrants(synthesized, stack.lagFunction as NonNullable<typeof stack.lagFunction>)).toEqual({
      metadata: ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:Query'],
      index: ['dynamodb:Query'],
      'own log group': LOGS,
    });
  });

  it('gives each function a role of its own', () => {
    const synthesized = synth();
    const { resources, stack } = synthesized;
    const roles = Object.keys(resources).filter((id) => resources[id]?.Type === 'AWS::IAM::Role');
    const used = stack.functions.map(([, fn]) => roleIdOf(synthesized, fn));
    expect(new Set(used).size).toBe(5);
    expect(roles.sort()).toEqual([...used].sort());
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

describe('alarms', () => {
  /** Each alarm's threshold settings, with the metric it watches (by namespace, name and dimension). */
  function alarmsOf({ resources }: Synthesized) {
    return Object.values(resources)
      .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
      .map((r) => r.Properties ?? {});
  }

  it('are twelve (two per function, one per table), each firing on one event in 5 minutes, missing data not breaching', () => {
    const synthesized = synth();
    const alarms = alarmsOf(synthesized);
    expect(alarms).toHaveLength(12);
    expect(synthesized.stack.alarms).toHaveLength(12);
    for (const alarm of alarms) {
      expect(alarm).toMatchObject({
        Threshold: 1,
        EvaluationPeriods: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
      expect(alarm.AlarmActions).toBeUndefined();
    }
  });

  it('with context lagAlarmRecords, add one on the worst partition lag of any group, held for 5 minutes', () => {
    const synthesized = synth({ stackName: 'Lagged', lagAlarmRecords: '50000' });
    const lagAlarms = alarmsOf(synthesized).filter((alarm) => alarm.MetricName === 'ConsumerLagMax');
    expect(lagAlarms).toEqual([
      expect.objectContaining({
        Namespace: 'Sluice',
        Dimensions: [{ Name: 'service', Value: 'Lagged' }],
        Statistic: 'Maximum',
        Period: 60,
        Threshold: 50000,
        EvaluationPeriods: 5,
        DatapointsToAlarm: 5,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      }),
    ]);
    expect(alarmsOf(synth()).filter((alarm) => alarm.MetricName === 'ConsumerLagMax')).toEqual([]);
  });

  it.each([
    [{ lagAlarmRecords: '0' }, /'lagAlarmRecords' must be a whole number of records of at least 1/],
    [{ lagAlarmRecords: 'lots' }, /'lagAlarmRecords'/],
    [{ lagAlarmRecords: 10, metrics: 'off' }, /'lagAlarmRecords' needs metrics 'emf'/],
  ])('rejects context %j', (context, error) => {
    expect(() => synth(context)).toThrow(error);
  });

  it("watch each function's Errors and Throttles as 5-minute sums", () => {
    const synthesized = synth();
    const { logicalId, stack } = synthesized;
    const watched = alarmsOf(synthesized)
      .filter((alarm) => alarm.Namespace === 'AWS/Lambda')
      .map((alarm) => ({
        metric: alarm.MetricName,
        dimensions: alarm.Dimensions,
        period: alarm.Period,
        statistic: alarm.Statistic,
      }));
    const expected = stack.functions.flatMap(([, fn]) =>
      ['Errors', 'Throttles'].map((metric) => ({
        metric,
        dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(fn) } }],
        period: 300,
        statistic: 'Sum',
      })),
    );
    expect(watched).toHaveLength(10);
    expect(watched).toEqual(expect.arrayContaining(expected));
  });

  it("watch each table's ThrottledRequests over 5 minutes, summed over the operations the code calls", () => {
    const synthesized = synth();
    const { logicalId, stack } = synthesized;
    const tableAlarms = alarmsOf(synthesized).filter((alarm) => alarm.Metrics !== undefined);
    expect(tableAlarms).toHaveLength(2);
    const tablesWatched = tableAlarms.map((alarm) => {
      const metrics = alarm.Metrics as Array<{
        Expression?: string;
        MetricStat?: {
          Metric: {
            Namespace: string;
            MetricName: string;
            Dimensions: Array<{ Name: string; Value: unknown }>;
          };
          Period: number;
          Stat: string;
        };
      }>;
      const stats = metrics.flatMap((m) => (m.MetricStat ? [m.MetricStat] : []));
      // An alarm's math expression may combine at most 10 metrics.
      expect(stats.length).toBeGreaterThan(0);
      expect(stats.length).toBeLessThanOrEqual(10);
      const tables = new Set<string>();
      for (const stat of stats) {
        expect(stat).toMatchObject({
          Metric: { Namespace: 'AWS/DynamoDB', MetricName: 'ThrottledRequests' },
          Period: 300,
          Stat: 'Sum',
        });
        const dimensions = Object.fromEntries(stat.Metric.Dimensions.map((d) => [d.Name, d.Value]));
        tables.add(JSON.stringify(dimensions.TableName));
      }
      const operations = stats.map(
        (stat) => stat.Metric.Dimensions.find((d) => d.Name === 'Operation')?.Value,
      );
      expect(operations).toEqual(
        expect.arrayContaining(['PutItem', 'Query', 'Scan', 'DeleteItem', 'TransactWriteItems']),
      );
      expect(tables.size).toBe(1);
      return [...tables][0];
    });
    expect(tablesWatched.sort()).toEqual(
      [stack.metadataTable, stack.indexTable].map((t) => JSON.stringify({ Ref: logicalId(t) })).sort(),
    );
  });
});

describe('dashboard', () => {
  /** The dashboard's body: a Fn::Join of strings and references whose literal parts show the widgets. */
  function dashboardOf(context: Record<string, unknown> = {}) {
    const { resources } = synth(context);
    const dashboards = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const properties = dashboards[0]?.Properties ?? {};
    const join = properties.DashboardBody as { 'Fn::Join': [string, unknown[]] };
    const literal = join['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : '<ref>')).join('');
    const body = JSON.parse(literal) as {
      widgets: Array<{
        type: string;
        properties: { title?: string; metrics?: unknown[][]; markdown?: string };
      }>;
    };
    return { name: properties.DashboardName, widgets: body.widgets };
  }

  it('is named Sluice-<stackName> and graphs the functions and tables, plus a note on the logs', () => {
    const { name, widgets } = dashboardOf({ stackName: 'Dash' });
    expect(name).toBe('Sluice-Dash');
    const body = JSON.stringify(widgets);
    for (const title of [
      'API invocations',
      'API errors',
      'API duration p99',
      'Maintenance errors',
      'Maintenance duration',
      'DynamoDB consumed read capacity',
      'DynamoDB consumed write capacity',
    ]) {
      expect(body).toContain(title);
    }
    for (const metric of [
      'Invocations',
      'Errors',
      'Duration',
      'ConsumedReadCapacityUnits',
      'ConsumedWriteCapacityUnits',
    ]) {
      expect(body).toContain(metric);
    }
    expect(body).toContain('p99');
    expect(body).toContain('sluice.maintenance');
  });

  it('graphs produce and fetch rates and consumer lag from the metrics the functions write', () => {
    const { widgets } = dashboardOf({ stackName: 'Dash' });
    const graph = (title: string) => {
      const widget = widgets.find((w) => w.properties.title === title);
      expect(widget, title).toBeDefined();
      return widget?.properties.metrics ?? [];
    };
    // Stack-wide rates: the per-minute sum of the stack's metric, divided by the period.
    expect(graph('Records produced and fetched per second')).toEqual([
      [{ label: 'produced', expression: 'sumProducedRecords / PERIOD(sumProducedRecords)', period: 60 }],
      [
        'Sluice',
        'ProducedRecords',
        'service',
        'Dash',
        { id: 'sumProducedRecords', visible: false, period: 60, stat: 'Sum' },
      ],
      [{ label: 'fetched', expression: 'sumFetchedRecords / PERIOD(sumFetchedRecords)', period: 60 }],
      [
        'Sluice',
        'FetchedRecords',
        'service',
        'Dash',
        { id: 'sumFetchedRecords', visible: false, period: 60, stat: 'Sum' },
      ],
    ]);
    expect(JSON.stringify(graph('Bytes produced and fetched per second'))).toMatch(
      /ProducedBytes.*FetchedBytes/,
    );
    // One line per topic, and per group: search expressions over the dimensions the EMF lines carry.
    const search = (title: string) =>
      (graph(title)[0]?.[0] as { expression?: string } | undefined)?.expression;
    expect(search('Records produced per minute, by topic')).toBe(
      `SEARCH('{Sluice,service,topic} MetricName="ProducedRecords" service="Dash"', 'Sum', 60)`,
    );
    expect(search('Records fetched per minute, by topic')).toBe(
      `SEARCH('{Sluice,service,topic} MetricName="FetchedRecords" service="Dash"', 'Sum', 60)`,
    );
    expect(search('Consumer lag by group (records)')).toBe(
      `SEARCH('{Sluice,service,group} MetricName="ConsumerLag" service="Dash"', 'Maximum', 60)`,
    );
    expect(search('Largest partition lag by group (records)')).toBe(
      `SEARCH('{Sluice,service,group} MetricName="ConsumerLagMax" service="Dash"', 'Maximum', 60)`,
    );
    const note = widgets.find((w) => w.type === 'text')?.properties.markdown ?? '';
    expect(note).toContain('`lag` job');
  });

  it('with context metrics=off: no metric lines, no lag schedule, and a note saying so', () => {
    const synthesized = synth({ metrics: 'off' });
    const { stack } = synthesized;
    expect(stack.lagSchedule).toBeUndefined();
    expect(stack.lagFunction).toBeUndefined();
    for (const [, fn] of stack.functions) {
      expect(environmentOf(synthesized, fn).SLUICE_METRICS).toBe('off');
    }
    const inputs = Object.values(synthesized.resources)
      .filter((r) => r.Type === 'AWS::Events::Rule')
      .map((r) => (r.Properties?.Targets as Array<{ Input: string }> | undefined)?.[0]?.Input);
    expect(inputs.sort()).toEqual(['{"job":"compact"}', '{"job":"gc"}', '{"job":"retention"}']);
    const note = dashboardOf({ metrics: 'off' }).widgets.find((w) => w.type === 'text')?.properties.markdown;
    expect(note).toContain('Custom metrics are off');
  });

  it('rejects context metrics other than emf or off', () => {
    expect(() => synth({ metrics: 'statsd' })).toThrow(
      /context 'metrics' must be 'emf' or 'off', got 'statsd'/,
    );
  });
});

describe('removal policy', () => {
  const stateful = [
    'AWS::S3::Bucket',
    'AWS::DynamoDB::Table',
    'AWS::Logs::LogGroup',
    'AWS::SecretsManager::Secret',
  ];

  it('retains the bucket, tables, logs and admin token secret by default', () => {
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

  it('synthesizes offline, bundling each function with its native modules for linux-arm64', async () => {
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

      const templateFile = join(out, 'Sluice.template.json');
      expect(existsSync(templateFile)).toBe(true);
      // Each function's asset, found through the asset metadata CDK writes on the function.
      const template = JSON.parse(await readFile(templateFile, 'utf8')) as {
        Resources: Record<string, { Type: string; Metadata?: Record<string, unknown> }>;
      };
      const functions = Object.entries(template.Resources).filter(
        ([, r]) => r.Type === 'AWS::Lambda::Function',
      );
      const assetOf = (prefix: string) => {
        const found = functions.find(([id]) => id.startsWith(prefix));
        return String(found?.[1].Metadata?.['aws:asset:path']);
      };
      // Each bundle is built from its own entry (each names itself in its start-up check). The job
      // functions share one handler and so one bundle: the same asset.
      const jobAssets = ['Compact', 'Retention', 'Gc', 'Lag'].map(assetOf);
      expect(new Set(jobAssets).size).toBe(1);
      const bundles = [
        { asset: assetOf('Api'), entry: /must be set for the Lambda function/ },
        { asset: jobAssets[0] as string, entry: /must be set for the maintenance function/ },
      ];
      const assets = (await readdir(out)).filter((name) => name.startsWith('asset.'));
      expect(assets.sort()).toEqual(bundles.map((b) => b.asset).sort());
      expect(new Set(assets).size).toBe(2);

      for (const { asset: name, entry } of bundles) {
        const asset = join(out, name);
        expect(existsSync(join(asset, 'index.mjs'))).toBe(true);
        // Each native module comes with the prebuilt binary for Lambda's platform, and only that one.
        for (const native of NATIVE_MODULES) {
          expect(existsSync(join(asset, 'node_modules', native)), native).toBe(true);
          expect(existsSync(join(asset, 'node_modules', `${native}-linux-arm64-gnu`)), native).toBe(true);
          expect(existsSync(join(asset, 'node_modules', `${native}-linux-x64-gnu`)), native).toBe(false);
        }
        // The pinned SDK is bundled, not taken from the runtime.
        const bundle = await readFile(join(asset, 'index.mjs'), 'utf8');
        expect(bundle).toMatch(entry);
        expect(bundle).not.toMatch(/^import\b[^\n]*\bfrom\s*["']@aws-sdk\//m);
        expect(bundle).not.toMatch(/(\bimport\s*\(|\b__require\()\s*["']@aws-sdk\//);
        expect(bundle).toMatch(/^import\b[^\n]*\bfrom\s*["']@node-rs\/crc32["']/m);
        expect(existsSync(join(asset, 'node_modules/@aws-sdk'))).toBe(false);
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 120_000);
});
