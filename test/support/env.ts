import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { inject } from 'vitest';

export interface TestEndpoints {
  dynamodbEndpoint: string;
  s3Endpoint: string;
  region: string;
  bucket: string;
}

/** The endpoints, region and bucket that test/support/global-setup.ts provided for this run. */
export function testEndpoints(): TestEndpoints {
  const env = inject('sluiceTestEnv');
  if (env === undefined) {
    throw new Error(
      'No test endpoints: run the tests with vitest.config.ts (globalSetup test/support/global-setup.ts)',
    );
  }
  return env;
}

/** Real credentials when the environment has them (e.g. LocalStack setups), dummy ones otherwise. */
function credentials(): { credentials?: { accessKeyId: string; secretAccessKey: string } } {
  if (process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY) return {};
  return { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
}

/** An S3 client for the test endpoint (path-style addressing). Pass endpoints outside of a test file. */
export function makeS3Client(
  endpoints: Pick<TestEndpoints, 's3Endpoint' | 'region'> = testEndpoints(),
): S3Client {
  return new S3Client({
    endpoint: endpoints.s3Endpoint,
    region: endpoints.region,
    forcePathStyle: true,
    ...credentials(),
  });
}

/** A DynamoDB client for the test endpoint. Pass endpoints outside of a test file. */
export function makeDynamoClient(
  endpoints: Pick<TestEndpoints, 'dynamodbEndpoint' | 'region'> = testEndpoints(),
): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: endpoints.dynamodbEndpoint,
    region: endpoints.region,
    ...credentials(),
  });
}

/** A table-name prefix unique to this call, e.g. `t<time>_<random>_meta_`; tests share one DynamoDB. */
export function uniquePrefix(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_.-]/g, '_');
  return `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}_${safe}_`;
}
