/**
 * Vitest global setup: endpoints for the integration and contract suites.
 *
 * - `SLUICE_TEST_DYNAMODB_ENDPOINT` / `SLUICE_TEST_S3_ENDPOINT` (or `AWS_ENDPOINT_URL_DYNAMODB` /
 *   `AWS_ENDPOINT_URL_S3`, or `AWS_ENDPOINT_URL` for both, as with LocalStack) select existing endpoints.
 * - Otherwise DynamoDB Local (in memory) and the in-process S3 emulator are started here.
 *
 * Anything that cannot start makes setup throw, so the run fails: the suites are never skipped.
 */
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import type { TestProject } from 'vitest/node';
import {
  type DynamoDbLocal,
  newDynamoDbLocalAccessKeyId,
  startDynamoDbLocal,
} from '../../functions/local/dynamodb-local.js';
import { type S3Emulator, startS3Emulator } from '../../functions/local/s3-emulator.js';
import { makeS3Client, type TestEndpoints } from './env.js';

let dynamoDbLocal: DynamoDbLocal | undefined;
let s3Emulator: S3Emulator | undefined;
let externalBucket: TestEndpoints | undefined;

function log(msg: string): void {
  process.stderr.write(`[global-setup] ${msg}\n`);
}

function envEndpoint(...names: string[]): string | undefined {
  for (const name of names) {
    const value = process.env[name]?.trim();
    if (value) return value;
  }
  return undefined;
}

async function stopAll(): Promise<void> {
  const started = [dynamoDbLocal, s3Emulator];
  dynamoDbLocal = undefined;
  s3Emulator = undefined;
  await Promise.allSettled(started.map((s) => s?.stop()));
}

export async function setup(project: TestProject): Promise<void> {
  const region = process.env.SLUICE_TEST_REGION?.trim() || 'us-east-1';
  const givenDynamo = envEndpoint(
    'SLUICE_TEST_DYNAMODB_ENDPOINT',
    'AWS_ENDPOINT_URL_DYNAMODB',
    'AWS_ENDPOINT_URL',
  );
  const givenS3 = envEndpoint('SLUICE_TEST_S3_ENDPOINT', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL');

  const started = Date.now();
  if (givenDynamo === undefined) {
    // DynamoDB Local shows the suite's tables only under this access key id (functions/local/dynamodb-local.ts);
    // the workers and the servers the tests start inherit it from the environment.
    process.env.AWS_ACCESS_KEY_ID ??= newDynamoDbLocalAccessKeyId();
    process.env.AWS_SECRET_ACCESS_KEY ??= 'unused-by-dynamodb-local';
  }
  const [dynamo, s3] = await Promise.allSettled([
    givenDynamo === undefined
      ? startDynamoDbLocal({ accessKeyId: process.env.AWS_ACCESS_KEY_ID as string })
      : Promise.resolve(undefined),
    givenS3 === undefined ? startS3Emulator() : Promise.resolve(undefined),
  ]);
  if (dynamo.status === 'fulfilled') dynamoDbLocal = dynamo.value;
  if (s3.status === 'fulfilled') s3Emulator = s3.value;
  if (dynamo.status === 'rejected' || s3.status === 'rejected') {
    await stopAll();
    const reasons = [dynamo, s3]
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => (r.reason instanceof Error ? r.reason.message : String(r.reason)));
    throw new Error(`Test emulators could not start:\n${reasons.join('\n')}`);
  }

  const dynamodbEndpoint = givenDynamo ?? dynamoDbLocal?.endpoint;
  const s3Endpoint = givenS3 ?? s3Emulator?.endpoint;
  if (dynamodbEndpoint === undefined || s3Endpoint === undefined) throw new Error('unreachable: no endpoint');
  const bucket = `sluice-test-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const endpoints: TestEndpoints = { dynamodbEndpoint, s3Endpoint, region, bucket };

  const s3Client = makeS3Client(endpoints);
  try {
    await s3Client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    await stopAll();
    throw new Error(`Could not create test bucket ${bucket} at ${s3Endpoint}: ${(err as Error).message}`);
  } finally {
    s3Client.destroy();
  }
  if (givenS3 !== undefined) externalBucket = endpoints;

  log(
    `DynamoDB ${dynamodbEndpoint}${dynamoDbLocal ? ' (DynamoDB Local)' : ''}, ` +
      `S3 ${s3Endpoint}${s3Emulator ? ' (emulator)' : ''}, bucket ${bucket} (${Date.now() - started} ms)`,
  );
  project.provide('sluiceTestEnv', endpoints);
}

/** Best effort: empties and deletes the run's bucket on an external S3 endpoint (emulators just stop). */
async function deleteExternalBucket(endpoints: TestEndpoints): Promise<void> {
  const s3 = makeS3Client(endpoints);
  try {
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({
          Bucket: endpoints.bucket,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{ Key: o.Key }]));
      if (keys.length > 0) {
        await s3.send(
          new DeleteObjectsCommand({ Bucket: endpoints.bucket, Delete: { Objects: keys, Quiet: true } }),
        );
      }
      token = page.NextContinuationToken;
    } while (token);
    await s3.send(new DeleteBucketCommand({ Bucket: endpoints.bucket }));
  } catch (err) {
    log(`could not delete bucket ${endpoints.bucket}: ${(err as Error).message}`);
  } finally {
    s3.destroy();
  }
}

export async function teardown(): Promise<void> {
  if (externalBucket) await deleteExternalBucket(externalBucket);
  externalBucket = undefined;
  const started = Date.now();
  const stopping = dynamoDbLocal !== undefined || s3Emulator !== undefined;
  await stopAll();
  if (stopping) log(`emulators stopped (${Date.now() - started} ms)`);
}
