import { resolve } from 'node:path';
import {
  CfnOutput,
  aws_cloudwatch as cloudwatch,
  Duration,
  aws_dynamodb as dynamodb,
  aws_events as events,
  aws_events_targets as eventsTargets,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_logs as logs,
  RemovalPolicy,
  Stack,
  type StackProps,
  aws_s3 as s3,
  aws_secretsmanager as secretsmanager,
} from 'aws-cdk-lib';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';
import { MAINTENANCE_FUNCTION_ENV } from '../functions/config.js';
import { DEFAULT_LOG_OPTIONS } from '../lib/log/log.js';
import { MAINTENANCE_JOBS, type MaintenanceJob, type ScheduledJob } from '../lib/maintenance/report.js';
import { TTL_ATTRIBUTE, tableNames } from '../lib/metadata/dynamodb-schema.js';
import type { MaintenanceRates, MetricsSettings, SluiceSettings } from './context.js';

/** The project root: infra/ points at handler files by path and never imports them. */
const PROJECT_ROOT = resolve(import.meta.dirname, '..');

/**
 * Makes `require` exist in the ESM bundle, for CommonJS dependencies that call it. The import is aliased so
 * that it cannot collide with a `createRequire` import that esbuild hoists from the bundled sources.
 */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __sluiceCreateRequire } from 'node:module'; const require = __sluiceCreateRequire(import.meta.url);";

/** Native addons the functions load: kept out of the bundle and installed for linux-arm64-gnu. */
export const NATIVE_MODULES = ['@node-rs/crc32', '@mongodb-js/zstd'];

/**
 * The S3 and DynamoDB actions a function's role allows: on the bucket's objects, on the bucket itself
 * (listing), and on each table. Each list is exactly what the function's code calls:
 * test/infra/grants.test.ts runs every code path of each function against the emulators, records the calls
 * its SDK clients make, and fails if a list has an action more or less than those calls need.
 */
interface DataAccess {
  objects: readonly string[];
  bucket: readonly string[];
  index: readonly string[];
  metadata: readonly string[];
}

/**
 * The API function: produce, fetch, topics, keys, consumer groups, webhooks. It neither deletes nor lists
 * segment objects, nor scans or deletes index entries: `POST /v1/admin/maintenance/{job}` runs in the job's
 * own function (JOB_ACCESS), which the API function may only invoke.
 */
export const API_ACCESS: DataAccess = {
  objects: ['s3:GetObject', 's3:PutObject'],
  bucket: [],
  // Commits put chain records (a conditional put is the compare-and-set of §4); fetches query the chain
  // (its head, single records) and the indexed entries; a topic change counts on the chain's mark item
  // (UpdateItem, in the change's transaction: the topic version of §8).
  index: ['dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
  metadata: [
    'dynamodb:GetItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:Query',
    // Consumer groups also read partition leases in batches and reset offsets in a transaction that
    // checks the group's generation (lib/groups/dynamodb-group-store.ts).
    'dynamodb:BatchGetItem',
    'dynamodb:ConditionCheckItem',
  ],
};

/** What each job's function may do; together, no more than the old single maintenance role allowed. */
export const JOB_ACCESS: Record<ScheduledJob, DataAccess> = {
  // Indexes the commit chains (reads the chain and its mark, writes the merged object and the indexed
  // entries, claims and moves the mark with UpdateItem, removes indexed records in batches), then reads
  // batches, writes the merged object, swaps entries (conditional Put) and removes the entries of emptied
  // key-compacted batches; its per-partition mark and pass cursor are metadata items. It cannot delete or
  // list objects: the objects it replaced are GC's to delete.
  compact: {
    objects: ['s3:GetObject', 's3:PutObject'],
    bucket: [],
    index: [
      'dynamodb:Query',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:BatchWriteItem',
    ],
    metadata: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
  },
  // Advances log starts (Update, counted on the chain's mark item in the same transaction) and removes index
  // entries below them, and forgets deleted topics with their commit chains (BatchWriteItem); its pass
  // cursor is a metadata item. No S3 at all.
  retention: {
    objects: [],
    bucket: [],
    index: ['dynamodb:Query', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
    metadata: [
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    ],
  },
  // The only role that may delete segment objects: it lists them, scans the index for the ones still
  // referenced, and keeps its candidates as metadata items.
  gc: {
    objects: ['s3:DeleteObject'],
    bucket: ['s3:ListBucket'],
    index: ['dynamodb:Scan'],
    metadata: ['dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
  },
  // Reads only: group states (BatchGetItem), their partition items and the partitions' tails.
  lag: {
    objects: [],
    bucket: [],
    index: ['dynamodb:Query'],
    metadata: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:BatchGetItem'],
  },
};

/** Construct ids of the job functions (and, with `Role`, `Logs`, `Schedule`, of their parts). */
export const JOB_IDS: Record<ScheduledJob, string> = {
  compact: 'Compact',
  retention: 'Retention',
  gc: 'Gc',
  lag: 'Lag',
};

/** Where the functions' custom metrics are filed; the `service` dimension is the stack's name. */
export const METRICS_NAMESPACE = 'Sluice';

/**
 * The DynamoDB operations the code performs (transactions count as TransactWriteItems), whose
 * `ThrottledRequests` the table alarms sum. The metric only exists per operation, and an alarm's math
 * expression may combine at most 10 metrics, so the list names these rather than every operation.
 */
const THROTTLE_ALARM_OPERATIONS = [
  dynamodb.Operation.GET_ITEM,
  dynamodb.Operation.BATCH_GET_ITEM,
  dynamodb.Operation.PUT_ITEM,
  dynamodb.Operation.UPDATE_ITEM,
  dynamodb.Operation.DELETE_ITEM,
  dynamodb.Operation.QUERY,
  dynamodb.Operation.SCAN,
  dynamodb.Operation.TRANSACT_WRITE_ITEMS,
];

/** Every alarm looks at 5-minute sums and fires on the first error or throttle. */
const ALARM_PERIOD = Duration.minutes(5);

export interface SluiceStackProps extends StackProps {
  /** Prefix of the DynamoDB table names (`<prefix>metadata`, `<prefix>index`). */
  tablePrefix: string;
  /** What happens to the bucket, the tables and the log groups when the stack is deleted. */
  removalPolicy: RemovalPolicy;
  /** How often each maintenance job runs; the defaults live in ./context.ts. */
  maintenanceRates: MaintenanceRates;
  /** Compression, request size limit and maintenance thresholds; the defaults live in ./context.ts. */
  settings: SluiceSettings;
  /** Custom metrics on or off, and how often consumer lag is measured; defaults in ./context.ts. */
  metrics: MetricsSettings;
}

/**
 * Sluice in one stack: the segment bucket, the metadata and index tables, the HTTP API as one Lambda
 * function behind a function URL, and one function per scheduled job (compaction, retention, GC, consumer
 * lag) that an EventBridge schedule starts. Each function's role is granted the calls its code makes.
 */
export class SluiceStack extends Stack {
  readonly bucket: s3.Bucket;
  readonly metadataTable: dynamodb.Table;
  readonly indexTable: dynamodb.Table;
  readonly apiFunction: NodejsFunction;
  readonly apiUrl: lambda.FunctionUrl;
  /** One function per maintenance job, each with its own role and schedule. */
  readonly jobFunctions: Record<MaintenanceJob, NodejsFunction>;
  readonly maintenanceSchedules: Record<MaintenanceJob, events.Rule>;
  /** Measures consumer lag (`{ "job": "lag" }`) on lagSchedule; both absent when metrics are off. */
  readonly lagFunction: NodejsFunction | undefined;
  readonly lagSchedule: events.Rule | undefined;
  /** The admin API's bearer token, generated at deploy time; the API function reads it at cold start. */
  readonly adminTokenSecret: secretsmanager.Secret;
  /** Errors and throttles of each function, throttled requests of each table (no actions attached). */
  readonly alarms: cloudwatch.Alarm[];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: SluiceStackProps) {
    super(scope, id, props);
    const { removalPolicy, tablePrefix, maintenanceRates, settings, metrics } = props;
    const destroy = removalPolicy === RemovalPolicy.DESTROY;

    // Segments are create-only objects at unique keys, so versioning would only keep garbage. The lifecycle
    // rule cleans up failed multipart uploads and nothing else: retention of live segments is Sluice's job.
    this.bucket = new s3.Bucket(this, 'Segments', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      versioned: false,
      lifecycleRules: [
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy,
      autoDeleteObjects: destroy,
    });

    // Key schemas as lib/metadata/dynamodb-schema.ts defines them; the names come from there too.
    const names = tableNames(tablePrefix);
    this.metadataTable = this.table(
      'MetadataTable',
      names.metadata,
      dynamodb.AttributeType.STRING,
      removalPolicy,
      TTL_ATTRIBUTE, // idempotency records expire
    );
    this.indexTable = this.table('IndexTable', names.index, dynamodb.AttributeType.NUMBER, removalPolicy);

    // The admin token is generated by Secrets Manager, so it never appears in the template, a parameter or
    // the function's configuration: the function gets the secret's ARN and reads the value at cold start.
    this.adminTokenSecret = new secretsmanager.Secret(this, 'AdminTokenSecret', {
      description: 'Sluice: bearer token for the admin API',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      removalPolicy,
    });

    // What both functions read (functions/config.ts): the API function runs maintenance passes too, for
    // `POST /v1/admin/maintenance/{job}`, so it gets the maintenance thresholds as well.
    const sharedEnvironment = {
      SLUICE_BUCKET: this.bucket.bucketName,
      SLUICE_TABLE_PREFIX: tablePrefix,
      SLUICE_COMPRESSION: settings.compression,
      SLUICE_COMPACT_TARGET_BYTES: String(settings.compactTargetBytes),
      SLUICE_COMPACT_MIN_AGE_MS: String(settings.compactMinAge.toMilliseconds()),
      SLUICE_GC_GRACE_MS: String(settings.gcGrace.toMilliseconds()),
      // The commit deadline GC's grace is derived from (≥ 2 × it + 60 s; the 20 min minimum grace allows it).
      SLUICE_MAX_COMMIT_DELAY_MS: String(DEFAULT_LOG_OPTIONS.maxCommitDelayMs),
      // Produce/fetch counts (API) and consumer lag (maintenance) as EMF log lines: CloudWatch Logs turns
      // them into metrics, so the functions need no cloudwatch:PutMetricData permission.
      SLUICE_METRICS: metrics.enabled ? 'emf' : 'off',
      SLUICE_METRICS_NAMESPACE: METRICS_NAMESPACE,
      SLUICE_METRICS_SERVICE: this.stackName,
    };

    // One function per job, from one handler (functions/maintenance.ts) and so one bundle; each runs only
    // its own job (SLUICE_MAINTENANCE_JOBS) with only that job's permissions (JOB_ACCESS). One bounded pass
    // per invocation (its work budget, maxRunMs, is 10 minutes; the rest of the 15 is margin for the
    // partition it was in when the budget ran out). None needs the admin token.
    //
    // No reserved concurrency (a limit of 1 would serialise passes) because passes may safely race: every
    // index change a pass makes is conditional (a compaction swap only if each entry still points at the
    // bytes it read, a removal only if the entry is unchanged and old enough, the log start only forwards),
    // a lost swap leaves an orphan object that GC collects, and GC deletes only objects that stayed
    // unreferenced for a grace period.
    //
    // No automatic retries (Lambda's default for async invocations is two): the next scheduled pass is the
    // retry, resuming from the job's saved cursor; retrying a pass that timed out would only stack another
    // 15-minute pass on top of the schedule.
    const jobFunction = (job: ScheduledJob, timeout: Duration) =>
      this.nodeFunction(JOB_IDS[job], {
        description: `Sluice ${job} job`,
        entry: 'functions/maintenance.ts',
        timeout,
        environment: { ...sharedEnvironment, SLUICE_MAINTENANCE_JOBS: job },
        access: JOB_ACCESS[job],
        removalPolicy,
        retryAttempts: 0,
      });
    const jobFunctions: Partial<Record<MaintenanceJob, NodejsFunction>> = {};
    const schedules: Partial<Record<MaintenanceJob, events.Rule>> = {};
    for (const job of MAINTENANCE_JOBS) {
      const fn = jobFunction(job, Duration.minutes(15));
      jobFunctions[job] = fn;
      // The event names the job; rates: ./context.ts.
      schedules[job] = this.schedule(job, maintenanceRates[job], fn, `Sluice maintenance: one ${job} pass`);
    }
    this.jobFunctions = jobFunctions as Record<MaintenanceJob, NodejsFunction>;
    this.maintenanceSchedules = schedules as Record<MaintenanceJob, events.Rule>;

    // Consumer lag: reads only, a few read units per group and partition, written as the ConsumerLag and
    // ConsumerLagMax metrics that the dashboard graphs. A minute's timeout: the next run is a minute later.
    this.lagFunction = metrics.enabled ? jobFunction('lag', Duration.minutes(1)) : undefined;
    this.lagSchedule = this.lagFunction
      ? this.schedule('lag', metrics.lagRate, this.lagFunction, "Sluice: measure every consumer group's lag")
      : undefined;

    this.apiFunction = this.nodeFunction('Api', {
      description: 'Sluice API function',
      entry: 'functions/lambda.ts',
      timeout: Duration.seconds(30),
      environment: {
        ...sharedEnvironment,
        SLUICE_MAX_REQUEST_BYTES: String(settings.maxRequestBytes),
        SLUICE_ADMIN_TOKEN_SECRET_ARN: this.adminTokenSecret.secretArn,
        // `POST /v1/admin/maintenance/{job}` invokes these (functions/lambda-runner.ts).
        ...Object.fromEntries(
          MAINTENANCE_JOBS.map((job) => [MAINTENANCE_FUNCTION_ENV[job], this.jobFunctions[job].functionName]),
        ),
      },
      access: API_ACCESS,
      secret: this.adminTokenSecret,
      invokes: MAINTENANCE_JOBS.map((job) => this.jobFunctions[job]),
      removalPolicy,
    });

    // Auth NONE: the app checks bearer tokens itself. RESPONSE_STREAM: the handler streams its responses
    // (hono's streamHandle), so live tails (SSE) reach clients as records are committed; a stream lasts at
    // most the function timeout (the app ends it 10 s before, and clients resume with Last-Event-ID).
    this.apiUrl = this.apiFunction.addFunctionUrl({
      authType: lambda.FunctionUrlAuthType.NONE,
      invokeMode: lambda.InvokeMode.RESPONSE_STREAM,
    });

    this.alarms = this.createAlarms(metrics.lagAlarmRecords);
    this.dashboard = this.createDashboard(metrics.enabled);

    new CfnOutput(this, 'ApiUrl', { value: this.apiUrl.url, description: 'Base URL of the Sluice API' });
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName, description: 'Segment bucket' });
    new CfnOutput(this, 'MetadataTableName', { value: this.metadataTable.tableName });
    new CfnOutput(this, 'IndexTableName', { value: this.indexTable.tableName });
    for (const job of MAINTENANCE_JOBS) {
      new CfnOutput(this, `${JOB_IDS[job]}FunctionName`, {
        value: this.jobFunctions[job].functionName,
        description: `Runs one ${job} pass: aws lambda invoke --function-name <name> --payload '{"job":"${job}"}' --cli-binary-format raw-in-base64-out out.json`,
      });
    }
    if (this.lagFunction) {
      new CfnOutput(this, 'LagFunctionName', {
        value: this.lagFunction.functionName,
        description: 'Measures consumer lag: invoke with {"job":"lag"}',
      });
    }
    new CfnOutput(this, 'AdminTokenSecretArn', {
      value: this.adminTokenSecret.secretArn,
      description:
        'Secret holding the admin token; read it with: aws secretsmanager get-secret-value --secret-id <arn> --query SecretString --output text',
    });
  }

  /** An EventBridge schedule that starts `fn` with `{ "job": job }`; its id is `<JobId>Schedule`. */
  private schedule(job: ScheduledJob, rate: Duration, fn: NodejsFunction, description: string): events.Rule {
    return new events.Rule(this, `${JOB_IDS[job]}Schedule`, {
      description,
      schedule: events.Schedule.rate(rate),
      targets: [new eventsTargets.LambdaFunction(fn, { event: events.RuleTargetInput.fromObject({ job }) })],
    });
  }

  /** Every function of the stack with its construct id: the API, then the jobs. */
  get functions(): Array<[string, NodejsFunction]> {
    const jobs: Array<[string, NodejsFunction]> = MAINTENANCE_JOBS.map((job) => [
      JOB_IDS[job],
      this.jobFunctions[job],
    ]);
    if (this.lagFunction) jobs.push([JOB_IDS.lag, this.lagFunction]);
    return [['Api', this.apiFunction], ...jobs];
  }

  /**
   * For each function, Errors ≥ 1 and Throttles ≥ 1 in 5 minutes; for each table, ThrottledRequests (summed
   * over THROTTLE_ALARM_OPERATIONS) ≥ 1 in 5 minutes. No data (no invocations, no requests) is not a breach.
   * With `lagAlarmRecords`, also the stack-wide ConsumerLagMax (the worst partition of any group) at or above
   * it in each of 5 consecutive minutes: one slow minute is a burst, five are a consumer that fell behind.
   */
  private createAlarms(lagAlarmRecords: number | undefined): cloudwatch.Alarm[] {
    const alarm = (id: string, metric: cloudwatch.IMetric, description: string) =>
      new cloudwatch.Alarm(this, id, {
        metric,
        alarmDescription: description,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    const sum = { period: ALARM_PERIOD, statistic: cloudwatch.Stats.SUM };
    const functions = this.functions;
    const tables: Array<[string, dynamodb.Table]> = [
      ['MetadataTable', this.metadataTable],
      ['IndexTable', this.indexTable],
    ];
    return [
      ...functions.flatMap(([id, fn]) => [
        alarm(`${id}ErrorsAlarm`, fn.metricErrors(sum), `Sluice: the ${id} function failed`),
        alarm(`${id}ThrottlesAlarm`, fn.metricThrottles(sum), `Sluice: the ${id} function was throttled`),
      ]),
      ...tables.map(([id, table]) =>
        alarm(
          `${id}ThrottlesAlarm`,
          table.metricThrottledRequestsForOperations({
            operations: THROTTLE_ALARM_OPERATIONS,
            period: ALARM_PERIOD,
          }),
          `Sluice: requests to the ${id} were throttled`,
        ),
      ),
      ...(lagAlarmRecords === undefined
        ? []
        : [
            new cloudwatch.Alarm(this, 'ConsumerLagAlarm', {
              metric: new cloudwatch.Metric({
                namespace: METRICS_NAMESPACE,
                metricName: 'ConsumerLagMax',
                dimensionsMap: { service: this.stackName },
                statistic: cloudwatch.Stats.MAXIMUM,
                period: Duration.minutes(1),
              }),
              alarmDescription: `Sluice: a consumer group has a partition ${lagAlarmRecords} or more records behind for 5 minutes`,
              threshold: lagAlarmRecords,
              evaluationPeriods: 5,
              datapointsToAlarm: 5,
              comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
              // No measurement (no group has committed anything) is not lag.
              treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
            }),
          ]),
    ];
  }

  /**
   * One dashboard, `Sluice-<stackName>`: what Sluice does (records and bytes produced and fetched, per second
   * and per topic; consumer lag per group), then the functions and tables that do it. The first two rows
   * graph the custom metrics the functions write as EMF lines (namespace `Sluice`, dimension `service` = the
   * stack's name); with metrics off they stay empty, and the note says so.
   */
  private createDashboard(metricsEnabled: boolean): cloudwatch.Dashboard {
    const graph = (title: string, left: cloudwatch.IMetric[], width = 8) =>
      new cloudwatch.GraphWidget({ title, left, width, height: 6 });
    const service = this.stackName;
    const minute = Duration.minutes(1);
    /** A stack-wide sum per period, shown per second. */
    const perSecond = (metricName: string, label: string) => {
      // Ids must differ between the metrics of one graph, and start with a lower-case letter.
      const id = `sum${metricName}`;
      return new cloudwatch.MathExpression({
        expression: `${id} / PERIOD(${id})`,
        label,
        period: minute,
        usingMetrics: {
          [id]: new cloudwatch.Metric({
            namespace: METRICS_NAMESPACE,
            metricName,
            dimensionsMap: { service },
            statistic: cloudwatch.Stats.SUM,
            period: minute,
          }),
        },
      });
    };
    /** One line per value of `dimension` (every topic, every group): a CloudWatch search expression. */
    const each = (metricName: string, dimension: string, statistic: string) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${METRICS_NAMESPACE},service,${dimension}} MetricName="${metricName}" service="${service}"', '${statistic}', 60)`,
        label: '',
        period: minute,
        usingMetrics: {},
      });
    const api = this.apiFunction;
    const jobs = this.functions.filter(([id]) => id !== 'Api');
    const tables = [this.metadataTable, this.indexTable];
    return new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `Sluice-${this.stackName}`,
      widgets: [
        [
          graph('Records produced and fetched per second', [
            perSecond('ProducedRecords', 'produced'),
            perSecond('FetchedRecords', 'fetched'),
          ]),
          graph('Bytes produced and fetched per second', [
            perSecond('ProducedBytes', 'produced'),
            perSecond('FetchedBytes', 'fetched'),
          ]),
          graph('Records produced per minute, by topic', [each('ProducedRecords', 'topic', 'Sum')]),
        ],
        [
          graph('Records fetched per minute, by topic', [each('FetchedRecords', 'topic', 'Sum')]),
          graph('Consumer lag by group (records)', [each('ConsumerLag', 'group', 'Maximum')]),
          graph('Largest partition lag by group (records)', [each('ConsumerLagMax', 'group', 'Maximum')]),
        ],
        [
          graph('API invocations (one per request)', [
            api.metricInvocations({ statistic: cloudwatch.Stats.SUM }),
          ]),
          graph('API errors', [api.metricErrors({ statistic: cloudwatch.Stats.SUM })]),
          graph('API duration p99', [api.metricDuration({ statistic: cloudwatch.Stats.p(99) })]),
        ],
        [
          graph(
            'Maintenance errors, by job',
            jobs.map(([id, fn]) => fn.metricErrors({ statistic: cloudwatch.Stats.SUM, label: id })),
          ),
          graph(
            'Maintenance duration (maximum), by job',
            jobs.map(([id, fn]) => fn.metricDuration({ statistic: cloudwatch.Stats.MAXIMUM, label: id })),
          ),
        ],
        [
          graph(
            'DynamoDB consumed read capacity',
            tables.map((table) => table.metricConsumedReadCapacityUnits({ label: table.node.id })),
          ),
          graph(
            'DynamoDB consumed write capacity',
            tables.map((table) => table.metricConsumedWriteCapacityUnits({ label: table.node.id })),
          ),
        ],
        [
          new cloudwatch.TextWidget({
            width: 24,
            height: 5,
            markdown: [
              '### What the graphs count',
              metricsEnabled
                ? `Produced and fetched records and bytes (keys, values and headers) are counted by the API function per topic and written as CloudWatch metrics (namespace \`${METRICS_NAMESPACE}\`, dimension \`service\` = \`${service}\`) when each request ends; a replayed idempotent produce counts nothing. Consumer lag is measured by the maintenance function's \`lag\` job on its schedule: per group, the records between the committed offsets and the high watermarks, over the partitions the group has committed (\`ConsumerLag\`), and the largest single partition's (\`ConsumerLagMax\`). \`GET /v1/groups/{group}\` shows the same per partition.`
                : 'Custom metrics are off for this stack (context `metrics=off`): the first two rows stay empty. `GET /v1/groups/{group}` reports committed offsets, high watermarks and lag per partition.',
              'Each maintenance pass (compact, retention, GC) logs its report as one JSON line (`"event": "sluice.maintenance"`) in the maintenance function\'s log group; query them with Logs Insights. Unexpected (500) errors are logged in the API function\'s log group.',
            ].join('\n\n'),
          }),
        ],
      ],
    });
  }

  /**
   * A function built the way every Sluice function is: Node 22 on ARM, an ESM bundle with the pinned AWS
   * SDK and the native modules installed for Lambda's platform, its own role and its own log group (kept a
   * month), and the role granted `access` (see grantAccess). Construct ids: `<id>`, `<id>Role`, `<id>Logs`.
   */
  private nodeFunction(
    id: string,
    options: {
      description: string;
      /** The handler file, relative to the project root; it must export `handler`. */
      entry: string;
      timeout: Duration;
      environment: Record<string, string>;
      access: DataAccess;
      /** A secret the function reads (GetSecretValue only). */
      secret?: secretsmanager.Secret;
      /** Functions this one invokes (lambda:InvokeFunction only). */
      invokes?: readonly lambda.IFunction[];
      removalPolicy: RemovalPolicy;
      retryAttempts?: number;
    },
  ): NodejsFunction {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: options.removalPolicy,
    });

    // An explicit role instead of the default one, which would carry AWSLambdaBasicExecutionRole
    // (logs:CreateLogGroup on every log group): this one may only write to its own log group.
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: options.description,
    });

    const fn = new NodejsFunction(this, id, {
      entry: resolve(PROJECT_ROOT, options.entry),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: resolve(PROJECT_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 1024,
      timeout: options.timeout,
      role,
      logGroup,
      environment: options.environment,
      ...(options.retryAttempts !== undefined ? { retryAttempts: options.retryAttempts } : {}),
      bundling: {
        format: OutputFormat.ESM,
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        // NodejsFunction leaves `@aws-sdk/*` out by default (to use the runtime's copy), but that copy is not
        // the version we test against: bundle the pinned one.
        externalModules: [],
        // Native addons cannot be bundled; npm installs them next to the bundle instead (same versions as
        // package-lock.json). Both load a prebuilt binary from a per-platform optional dependency (for
        // Lambda on ARM_64: @node-rs/crc32-linux-arm64-gnu, @mongodb-js/zstd-linux-arm64-gnu), so npm must
        // install for the target rather than for the machine that runs the synth: see `environment`.
        // The zstd package is only loaded where node:zlib lacks zstd (not on Node 22 Lambda); shipping it
        // keeps the function able to read zstd batches whatever the runtime's Node minor version.
        nodeModules: NATIVE_MODULES,
        // npm reads its config from npm_config_* variables; CDK passes these to the bundling commands.
        environment: {
          npm_config_os: 'linux',
          npm_config_cpu: 'arm64',
          npm_config_libc: 'glibc',
        },
      },
    });

    this.grantAccess(role, logGroup, options.access, options.secret, options.invokes);
    return fn;
  }

  private table(
    id: string,
    tableName: string,
    sortKeyType: dynamodb.AttributeType,
    removalPolicy: RemovalPolicy,
    timeToLiveAttribute?: string,
  ): dynamodb.Table {
    return new dynamodb.Table(this, id, {
      tableName,
      ...(timeToLiveAttribute ? { timeToLiveAttribute } : {}),
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: sortKeyType },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy,
    });
  }

  /**
   * The calls the code makes, no wildcard actions, every resource scoped to the bucket, a table or the
   * function's log group. `bucket.grantReadWrite` is not used because it grants `s3:GetObject*`, `s3:List*`,
   * `s3:DeleteObject*` and `s3:Abort*`.
   *
   * - S3 (lib/storage/s3-segment-store.ts) and DynamoDB (lib/metadata/, lib/groups/, lib/webhooks/), per
   *   function: API_ACCESS and JOB_ACCESS, whose comments say what each action is for, and which
   *   test/infra/grants.test.ts checks against the calls each function's code makes. IAM authorises
   *   DeleteObjects per key as s3:DeleteObject and ListObjectsV2 as s3:ListBucket (on the bucket, not its
   *   objects). IAM has no TransactWriteItems action: each item of a transaction is authorised as the
   *   PutItem, UpdateItem or DeleteItem it performs, and a `ConditionCheck` item as
   *   dynamodb:ConditionCheckItem.
   * - CloudWatch Logs: CreateLogStream and PutLogEvents on the function's own log group. Metrics are EMF
   *   lines in that log group, so no cloudwatch:PutMetricData.
   * - Secrets Manager, API function only: GetSecretValue on the admin token secret, read once at cold start
   *   (functions/deps.ts, resolveAdminToken). `secret.grantRead` is not used because it also grants
   *   DescribeSecret. The job functions need no admin token and get no secret.
   * - Lambda, API function only: InvokeFunction on the compact, retention and GC functions, for
   *   `POST /v1/admin/maintenance/{job}` (functions/lambda-runner.ts). `grantInvoke` is not used because it
   *   also grants every version and alias (`<arn>:*`), which Sluice does not publish.
   */
  private grantAccess(
    role: iam.IRole,
    logGroup: logs.ILogGroup,
    access: DataAccess,
    secret?: secretsmanager.Secret,
    invokes: readonly lambda.IFunction[] = [],
  ): void {
    logGroup.grantWrite(role);
    const allow = (sid: string, actions: readonly string[], resource: string) => {
      if (actions.length === 0) return;
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ sid, actions: [...actions], resources: [resource] }),
      );
    };
    allow('SegmentObjects', access.objects, this.bucket.arnForObjects('*'));
    allow('SegmentListing', access.bucket, this.bucket.bucketArn);
    allow('OffsetIndex', access.index, this.indexTable.tableArn);
    allow('MetadataTable', access.metadata, this.metadataTable.tableArn);
    if (invokes.length > 0) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'MaintenanceFunctions',
          actions: ['lambda:InvokeFunction'],
          resources: invokes.map((fn) => fn.functionArn),
        }),
      );
    }
    if (secret !== undefined) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'AdminTokenSecret',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [secret.secretArn],
        }),
      );
    }
  }
}
