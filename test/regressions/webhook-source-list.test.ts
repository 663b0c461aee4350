import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * `GET /v1/webhooks` was not a route (404 NOT_FOUND): sources could only be found by name. SPEC Webhooks:
 * it lists the sources the caller may administer.
 */
let server: TestServer;
const run = Date.now().toString(36);
const ordersTopic = `orders.${run}`;
const paymentsTopic = `payments.${run}`;
beforeAll(async () => {
  server = await startTestServer();
  for (const name of [ordersTopic, paymentsTopic]) {
    expect((await server.api('POST', '/v1/topics', { body: { name } })).status).toBe(201);
  }
  for (const [source, topic] of [
    [`a-orders-${run}`, ordersTopic],
    [`b-payments-${run}`, paymentsTopic],
  ]) {
    const r = await server.api('PUT', `/v1/webhooks/${source}`, {
      body: { topic, verify: { scheme: 'github', secret: 'list-secret' } },
    });
    expect(r.status).toBe(200);
  }
});
afterAll(async () => {
  await server?.close();
});

async function keyFor(permissions: unknown): Promise<string> {
  const r = await server.api('POST', '/v1/keys', { body: { name: 'k', permissions } });
  expect(r.status).toBe(201);
  return r.json.token;
}

describe('GET /v1/webhooks', () => {
  it('lists every source, without secrets, for the admin token', async () => {
    const r = await server.api('GET', '/v1/webhooks');
    expect(r.status).toBe(200);
    expect(r.json.sources.map((s: { source: string }) => s.source)).toEqual([
      `a-orders-${run}`,
      `b-payments-${run}`,
    ]);
    expect(r.json.sources[0]).toMatchObject({
      topic: ordersTopic,
      verify: { scheme: 'github', secrets: 1 },
      counters: { accepted: 0 },
    });
    expect(r.text).not.toContain('list-secret');
  });

  it('lists only the sources whose topic the key administers', async () => {
    const token = await keyFor([{ topics: 'orders.*', actions: ['admin'] }]);
    const r = await server.api('GET', '/v1/webhooks', { auth: token });
    expect(r.status).toBe(200);
    expect(r.json.sources.map((s: { source: string }) => s.source)).toEqual([`a-orders-${run}`]);
  });

  it('lists nothing for a key without admin', async () => {
    const token = await keyFor([{ topics: '*', actions: ['produce', 'consume'] }]);
    const r = await server.api('GET', '/v1/webhooks', { auth: token });
    expect([r.status, r.json]).toEqual([200, { sources: [] }]);
  });
});
