import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Any produce key could write `webhook-verified: true` or `webhook-source` on an ordinary record, so a
 * consumer could not tell a forged record from a verified delivery. SPEC Produce: header names beginning
 * with `webhook-` are reserved for webhook ingestion (400 on produce).
 */
let server: TestServer;
const topic = `reserved.${Date.now().toString(36)}`;
beforeAll(async () => {
  server = await startTestServer();
  expect((await server.api('POST', '/v1/topics', { body: { name: topic } })).status).toBe(201);
});
afterAll(async () => {
  await server?.close();
});

const produce = (headers: Record<string, string>) =>
  server.api('POST', `/v1/topics/${topic}/records`, { body: { records: [{ value: 1, headers }] } });

describe('produce', () => {
  it.each([
    'webhook-verified',
    'webhook-source',
    'webhook-delivery-id',
    'webhook-received-at',
    'Webhook-Verified',
    'WEBHOOK-anything',
  ])('refuses the header %s with 400', async (name) => {
    const r = await produce({ [name]: 'true' });
    expect([r.status, r.json.code]).toEqual([400, 'INVALID_REQUEST']);
    expect(r.json.detail).toContain("'webhook-'");
  });

  it('appends nothing for a refused request, and still takes other headers', async () => {
    let r = await server.api('GET', `/v1/topics/${topic}/partitions`);
    expect(r.json.partitions[0].highWatermark).toBe(0);
    r = await produce({ webhooks: 'x', 'x-webhook-verified': 'y' });
    expect(r.status).toBe(200);
  });
});

describe('webhook ingestion', () => {
  it('still writes its own webhook- headers', async () => {
    const source = `src-${Date.now().toString(36)}`;
    expect(
      (await server.api('PUT', `/v1/webhooks/${source}`, { body: { topic, verify: { scheme: 'none' } } }))
        .status,
    ).toBe(200);
    const r = await server.api('POST', `/v1/webhooks/${source}`, {
      body: '{"n":1}',
      headers: { 'content-type': 'application/json' },
      auth: null,
    });
    expect(r.status).toBe(202);
    const read = await server.api('GET', `/v1/topics/${topic}/partitions/0/records?offset=${r.json.offset}`);
    expect(read.json.records[0].headers).toMatchObject({
      'webhook-source': source,
      'webhook-verified': 'false',
    });
  });
});
