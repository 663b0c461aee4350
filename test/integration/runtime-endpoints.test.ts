import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/config.js';
import { createGroupStore, createKeyStore, createRuntime, createWebhookStore } from '../../functions/deps.js';
import { createApp } from '../../functions/http/app.js';
import { testEndpoints, uniquePrefix } from '../support/env.js';

/**
 * The server's runtime pointed at external endpoints by environment variables alone, as with LocalStack:
 * here the suite's own DynamoDB and S3 endpoints stand in for it.
 */
describe('runtime on configured endpoints', () => {
  it('creates its tables there and serves produce and fetch from that bucket', async () => {
    const endpoints = testEndpoints();
    const config = loadConfig({
      SLUICE_BUCKET: endpoints.bucket,
      AWS_ENDPOINT_URL_S3: endpoints.s3Endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodbEndpoint,
      SLUICE_TABLE_PREFIX: uniquePrefix('runtime'),
      SLUICE_ADMIN_TOKEN: 'runtime-endpoints-test-token',
    });
    expect(config.backend).toBe('aws');
    const runtime = await createRuntime(config);
    try {
      expect(runtime.description).toContain(endpoints.bucket);
      const app = createApp({
        log: runtime.log,
        adminToken: 'runtime-endpoints-test-token',
        keys: createKeyStore({ dynamodb: runtime.clients.dynamodb, tablePrefix: config.tablePrefix }),
        groups: createGroupStore({ dynamodb: runtime.clients.dynamodb, tablePrefix: config.tablePrefix }),
        webhooks: createWebhookStore({ dynamodb: runtime.clients.dynamodb, tablePrefix: config.tablePrefix }),
        limits: config.limits,
      });
      const headers = {
        authorization: 'Bearer runtime-endpoints-test-token',
        'content-type': 'application/json',
      };
      let r = await app.request('/v1/topics', {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: 'ext' }),
      });
      expect(r.status).toBe(201);
      r = await app.request('/v1/topics/ext/records', {
        method: 'POST',
        headers,
        body: JSON.stringify({ records: [{ value: { via: 'endpoints' } }] }),
      });
      expect(r.status).toBe(200);
      r = await app.request('/v1/topics/ext/partitions/0/records', { headers });
      expect(((await r.json()) as { records: Array<{ value: unknown }> }).records[0]?.value).toEqual({
        via: 'endpoints',
      });
    } finally {
      await runtime.close();
    }
  });
});
