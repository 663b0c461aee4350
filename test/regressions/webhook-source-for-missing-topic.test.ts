import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * `PUT /v1/webhooks/{source}` accepted a topic that does not exist: every delivery then failed. SPEC
 * Webhooks: `PUT` of a source whose topic does not exist → 404 TOPIC_NOT_FOUND.
 */
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

describe('PUT /v1/webhooks/{source}', () => {
  it('answers 404 TOPIC_NOT_FOUND for a topic that does not exist, and stores nothing', async () => {
    const source = `nowhere-${Date.now().toString(36)}`;
    const r = await server.api('PUT', `/v1/webhooks/${source}`, {
      body: { topic: 'no.such.topic', verify: { scheme: 'none' } },
    });
    expect([r.status, r.json.code]).toEqual([404, 'TOPIC_NOT_FOUND']);
    expect((await server.api('GET', `/v1/webhooks/${source}`)).status).toBe(404);
  });

  it('accepts the topic once it exists', async () => {
    const topic = `exists.${Date.now().toString(36)}`;
    expect((await server.api('POST', '/v1/topics', { body: { name: topic } })).status).toBe(201);
    const r = await server.api('PUT', `/v1/webhooks/src-${Date.now().toString(36)}`, {
      body: { topic, verify: { scheme: 'none' } },
    });
    expect(r.status).toBe(200);
  });
});
