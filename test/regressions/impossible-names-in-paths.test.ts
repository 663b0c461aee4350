import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * `GET /v1/topics/<1025 characters>` reached DynamoDB, whose key-size validation failed: 500. SPEC Limits:
 * a longer or otherwise impossible name in a path is 404 (in a create, 400), decided before any lookup.
 */
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

const long = 'x'.repeat(1025);
const tooLong = 'y'.repeat(250);

describe('an impossible name in a path is not found', () => {
  const cases: Array<[string, string, string]> = [
    ['GET', `/v1/topics/${long}`, 'TOPIC_NOT_FOUND'],
    ['GET', `/v1/topics/${tooLong}`, 'TOPIC_NOT_FOUND'],
    ['GET', '/v1/topics/a%20b', 'TOPIC_NOT_FOUND'],
    ['PATCH', `/v1/topics/${long}`, 'TOPIC_NOT_FOUND'],
    ['DELETE', `/v1/topics/${long}`, 'TOPIC_NOT_FOUND'],
    ['GET', `/v1/topics/${long}/partitions`, 'TOPIC_NOT_FOUND'],
    ['GET', `/v1/topics/${long}/partitions/0/records`, 'TOPIC_NOT_FOUND'],
    ['GET', `/v1/topics/${long}/partitions/0/offsets?timestamp=0`, 'TOPIC_NOT_FOUND'],
    ['POST', `/v1/topics/${long}/records`, 'TOPIC_NOT_FOUND'],
    ['GET', `/v1/groups/${long}`, 'GROUP_NOT_FOUND'],
    ['POST', `/v1/groups/${long}/commits`, 'GROUP_NOT_FOUND'],
    ['POST', `/v1/groups/g/members/${long}/heartbeat`, 'UNKNOWN_MEMBER'],
    ['DELETE', `/v1/groups/g/members/${long}`, 'UNKNOWN_MEMBER'],
    ['GET', `/v1/webhooks/${long}`, 'WEBHOOK_NOT_FOUND'],
    ['DELETE', `/v1/webhooks/${long}`, 'WEBHOOK_NOT_FOUND'],
    ['DELETE', `/v1/keys/${long}`, 'NOT_FOUND'],
    ['DELETE', '/v1/keys/not-a-key-id', 'NOT_FOUND'],
  ];
  it.each(cases)('%s %s → 404 %s', async (method, path, code) => {
    const body = ['POST', 'PATCH'].includes(method) ? { partitions: 2 } : undefined;
    const r = await server.api(method, path, { body });
    expect([r.status, r.json?.code]).toEqual([404, code]);
  });

  it('a webhook delivery to an impossible source name is 404 WEBHOOK_NOT_FOUND', async () => {
    const r = await server.api('POST', `/v1/webhooks/${long}`, {
      body: '{}',
      headers: { 'content-type': 'application/json' },
      auth: null,
    });
    expect([r.status, r.json?.code]).toEqual([404, 'WEBHOOK_NOT_FOUND']);
  });
});

describe('an impossible name where it would be created is a bad request', () => {
  it('PUT /v1/webhooks/<1025 characters> → 400', async () => {
    const r = await server.api('PUT', `/v1/webhooks/${long}`, {
      body: { topic: 'orders', verify: { scheme: 'none' } },
    });
    expect([r.status, r.json?.code]).toEqual([400, 'INVALID_REQUEST']);
  });

  it('joining the group <1025 characters> → 400', async () => {
    const r = await server.api('POST', `/v1/groups/${long}/members`, { body: { topics: ['orders'] } });
    expect([r.status, r.json?.code]).toEqual([400, 'INVALID_REQUEST']);
  });

  it('creating the topic <1025 characters> → 400', async () => {
    const r = await server.api('POST', '/v1/topics', { body: { name: long } });
    expect([r.status, r.json?.code]).toEqual([400, 'INVALID_REQUEST']);
  });
});
