import { resolve } from 'node:path';
import {
  CfnOutput,
  CfnParameter,
  Duration,
  aws_dynamodb as dynamodb,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_logs as logs,
  RemovalPolicy,
  Stack,
  type StackProps,
  aws_s3 as s3,
} from 'aws-cdk-lib';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';
import { TTL_ATTRIBUTE, tableNames } from '../lib/metadata/dynamodb-schema.js';

/** The project root: infra/ points at handler files by path and never imports them. */
const PROJECT_ROOT = resolve(import.meta.dirname, '..');

/**
 * Makes `require` exist in the ESM bundle, for CommonJS dependencies that call it. The import is aliased so
 * that it cannot collide with a `createRequire` import that esbuild hoists from the bundled sources.
 */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __sluiceCreateRequire } from 'node:module'; const require = __sluiceCreateRequire(import.meta.url);";

/** Native addons the function loads: kept out of the bundle and installed for linux-arm64-gnu. */
export const NATIVE_MODULES = ['@node-rs/crc32', '@mongodb-js/zstd'];

export interface SluiceStackProps extends StackProps {
  /** Prefix of the DynamoDB table names (`<prefix>metadata`, `<prefix>index`). */
  tablePrefix: string;
  /** What happens to the bucket, the tables and the log group when the stack is deleted. */
  removalPolicy: RemovalPolicy;
}

/**
 * Sluice in one stack: the segment bucket, the metadata and index tables, and the HTTP API as one Lambda
 * function behind a function URL. The function's role is granted exactly the calls the code makes.
 */
export class SluiceStack extends Stack {
  readonly bucket: s3.Bucket;
  readonly metadataTable: dynamodb.Table;
  readonly indexTable: dynamodb.Table;
  readonly apiFunction: NodejsFunction;
  readonly apiUrl: lambda.FunctionUrl;

  constructor(scope: Construct, id: string, props: SluiceStackProps) {
    super(scope, id, props);
    const { removalPolicy, tablePrefix } = props;
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

    // A later issue moves the token to Secrets Manager; until then it is a NoEcho parameter.
    const adminToken = new CfnParameter(this, 'AdminToken', {
      type: 'String',
      noEcho: true,
      minLength: 16,
      description: 'Bearer token for the admin API (at least 16 characters)',
    });

    const logGroup = new logs.LogGroup(this, 'ApiLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy,
    });

    // An explicit role instead of the default one, which would carry AWSLambdaBasicExecutionRole
    // (logs:CreateLogGroup on every log group): this one may only write to its own log group.
    const role = new iam.Role(this, 'ApiRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Sluice API function',
    });

    this.apiFunction = new NodejsFunction(this, 'Api', {
      entry: resolve(PROJECT_ROOT, 'functions/lambda.ts'),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: resolve(PROJECT_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 1024,
      timeout: Duration.seconds(30),
      role,
      logGroup,
      environment: {
        SLUICE_BUCKET: this.bucket.bucketName,
        SLUICE_TABLE_PREFIX: tablePrefix,
        SLUICE_ADMIN_TOKEN: adminToken.valueAsString,
      },
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

    this.grantAccess(role, logGroup);

    // Auth NONE: the app checks bearer tokens itself. RESPONSE_STREAM: the handler streams its responses
    // (hono's streamHandle), so live tails (SSE) reach clients as records are committed; a stream lasts at
    // most the function timeout (the app ends it 10 s before, and clients resume with Last-Event-ID).
    this.apiUrl = this.apiFunction.addFunctionUrl({
      authType: lambda.FunctionUrlAuthType.NONE,
      invokeMode: lambda.InvokeMode.RESPONSE_STREAM,
    });

    new CfnOutput(this, 'ApiUrl', { value: this.apiUrl.url, description: 'Base URL of the Sluice API' });
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName, description: 'Segment bucket' });
    new CfnOutput(this, 'MetadataTableName', { value: this.metadataTable.tableName });
    new CfnOutput(this, 'IndexTableName', { value: this.indexTable.tableName });
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
   * Exactly the calls the code makes, no wildcard actions. `bucket.grantReadWrite` is not used because it
   * grants `s3:GetObject*`, `s3:List*`, `s3:DeleteObject*` and `s3:Abort*`.
   *
   * - S3 (lib/storage/s3-segment-store.ts): PutObject, GetObject (ranged), DeleteObjects (authorised per key
   *   as s3:DeleteObject), ListObjectsV2 (s3:ListBucket, on the bucket rather than its objects).
   * - DynamoDB (lib/metadata/dynamodb-metadata-store.ts, lib/groups/dynamodb-group-store.ts): Get, Put,
   *   Update, Delete and Query on both tables; BatchGetItem and ConditionCheckItem on the metadata table
   *   only (group leases; the admin offset reset). IAM has no TransactWriteItems action: each item of a
   *   transaction is authorised as the PutItem, UpdateItem or DeleteItem it performs, and a `ConditionCheck`
   *   item as dynamodb:ConditionCheckItem.
   * - CloudWatch Logs: CreateLogStream and PutLogEvents on the function's own log group.
   */
  private grantAccess(role: iam.IRole, logGroup: logs.ILogGroup): void {
    logGroup.grantWrite(role);
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SegmentObjects',
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        resources: [this.bucket.arnForObjects('*')],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SegmentListing',
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
      }),
    );
    const itemActions = [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:Query',
    ];
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'OffsetIndex',
        actions: itemActions,
        resources: [this.indexTable.tableArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'MetadataTable',
        // Consumer groups also read partition leases in batches and reset offsets in a transaction that
        // checks the group's generation (lib/groups/dynamodb-group-store.ts).
        actions: [...itemActions, 'dynamodb:BatchGetItem', 'dynamodb:ConditionCheckItem'],
        resources: [this.metadataTable.tableArn],
      }),
    );
  }
}
