import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { handle, type LambdaEvent } from 'hono/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGroupStore, createKeyStore, createLog, createWebhookStore } from '../../functions/deps.js';
import { createApp } from '../../functions/http/app.js';
import { DEFAULT_LIMITS } from '../../lib/limits.js';
import { DEFAULT_LOG_OPTIONS } from '../../lib/log/log.js';
import { ensureTables } from '../../lib/metadata/dynamodb-schema.js';
import { S3SegmentStore } from '../../lib/storage/s3-segment-store.js';
import { makeDynamoClient, makeS3Client, testEndpoints, uniquePrefix } from '../support/env.js';
import { lambdaEvent } from '../support/lambda-event.js';

/** The Lambda entry point serves the same app through hono/aws-lambda, flushing once per request. */
const token = 'lambda-test-admin-token';
let handler: ReturnType<typeof handle>;
beforeAll(async () => {
  const dynamodb = makeDynamoClient();
  const prefix = uniquePrefix('lambda');
  await ensureTables(dynamodb, prefix);
  const log = createLog({
    dynamodb,
    store: new S3SegmentStore(makeS3Client(), testEndpoints().bucket),
    tablePrefix: prefix,
    log: { ...DEFAULT_LOG_OPTIONS, lingerMs: 0 },
    limits: DEFAULT_LIMITS,
  });
  const keys = createKeyStore({ dynamodb, tablePrefix: prefix });
  handler = handle(
    createApp({
      log,
      adminToken: token,
      keys,
      groups: createGroupStore({ dynamodb, tablePrefix: prefix }),
      webhooks: createWebhookStore({ dynamodb, tablePrefix: prefix }),
      limits: DEFAULT_LIMITS,
    }),
  );
});
afterAll(() => undefined);

function event(method: string, path: string, body?: unknown, query = ''): APIGatewayProxyEventV2 {
  return lambdaEvent(method, path, { token, body, query });
}

describe('Lambda entry point', () => {
  it('creates a topic, produces and fetches through API Gateway v2 events', async () => {
    const topic = `lambda.${Date.now().toString(36)}`;
    const call = async (e: APIGatewayProxyEventV2) => {
      const r = (await handler(e as unknown as LambdaEvent, {} as Context)) as {
        statusCode: number;
        body: string;
      };
      return { status: r.statusCode, json: JSON.parse(r.body || 'null') };
    };
    expect((await call(event('POST', '/v1/topics', { name: topic, partitions: 2 }))).status).toBe(201);
    const produced = await call(
      event('POST', `/v1/topics/${topic}/records`, { records: [{ key: 'k', value: { hello: 'lambda' } }] }),
    );
    expect(produced.status).toBe(200);
    const { partition } = produced.json.offsets[0];
    const fetched = await call(
      event('GET', `/v1/topics/${topic}/partitions/${partition}/records`, undefined, 'offset=0'),
    );
    expect(fetched.status).toBe(200);
    expect(fetched.json.records[0]).toMatchObject({ key: 'k', value: { hello: 'lambda' }, offset: 0 });
    const unauthorized = await call({ ...event('GET', '/v1/topics'), headers: {} });
    expect(unauthorized.status).toBe(401);
  });
});
