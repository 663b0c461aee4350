import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * `GET` and `DELETE /v1/webhooks/{source}` loaded the source before checking permission: a key without
 * rights got 403 for an existing name (naming the topic behind it) and 404 for a missing one. SPEC Auth:
 * an existing and a missing source get the same 403, whose message names only what the caller asked for.
 */
let server: TestServer;
const run = Date.now().toString(36);
const secretTopic = `secret-topic.${run}`;
const existing = `existing-${run}`;
const missing = `missing-${run}`;
const tokens: Record<string, string> = {};
const tokenOf = (name: string): string => {
  const token = tokens[name];
  if (token === undefined) throw new Error(`no key ${name}`);
  return token;
};

beforeAll(async () => {
  server = await startTestServer();
  expect((await server.api('POST', '/v1/topics', { body: { name: secretTopic } })).status).toBe(201);
  const put = await server.api('PUT', `/v1/webhooks/${existing}`, {
    body: { topic: secretTopic, verify: { scheme: 'none' } },
  });
  expect(put.status).toBe(200);
  const keys: Record<string, unknown> = {
    // admin elsewhere: must not learn whether the source exists
    otherAdmin: [{ topics: 'orders.*', actions: ['admin'] }],
    // every action but admin, on every topic
    noAdmin: [{ topics: '*', actions: ['produce', 'consume'] }],
    // admin on every topic: nothing can be refused to it, so it may be told 404
    adminEverywhere: [{ topics: '*', actions: ['admin'] }],
  };
  for (const [name, permissions] of Object.entries(keys)) {
    const r = await server.api('POST', '/v1/keys', { body: { name, permissions } });
    expect(r.status).toBe(201);
    tokens[name] = r.json.token;
  }
});
afterAll(async () => {
  await server?.close();
});

describe.each(['GET', 'DELETE'])('%s /v1/webhooks/{source}', (method) => {
  it.each(['otherAdmin', 'noAdmin'])(
    'a key without admin on its topic (%s) gets the same 403 for an existing and a missing source',
    async (key) => {
      const a = await server.api(method, `/v1/webhooks/${existing}`, { auth: tokenOf(key) });
      const b = await server.api(method, `/v1/webhooks/${missing}`, { auth: tokenOf(key) });
      expect([a.status, a.json.code]).toEqual([403, 'FORBIDDEN']);
      expect([b.status, b.json.code]).toEqual([403, 'FORBIDDEN']);
      expect(a.json.detail.replace(existing, '<source>')).toBe(b.json.detail.replace(missing, '<source>'));
      expect(a.json.detail).not.toContain(secretTopic);
    },
  );

  it('a key with admin on every topic, and the admin token, get 404 for a missing source', async () => {
    for (const auth of [tokenOf('adminEverywhere'), undefined]) {
      const r = await server.api(method, `/v1/webhooks/${missing}`, auth ? { auth } : {});
      expect([r.status, r.json.code]).toEqual([404, 'WEBHOOK_NOT_FOUND']);
    }
  });
});

describe('PUT over a source of another topic', () => {
  it('is refused naming only the source, not the topic it delivers to', async () => {
    const mine = `orders.${run}`;
    expect((await server.api('POST', '/v1/topics', { body: { name: mine } })).status).toBe(201);
    const r = await server.api('PUT', `/v1/webhooks/${existing}`, {
      body: { topic: mine, verify: { scheme: 'none' } },
      auth: tokenOf('otherAdmin'),
    });
    expect([r.status, r.json.code]).toEqual([403, 'FORBIDDEN']);
    expect(r.json.detail).not.toContain(secretTopic);
    // and the source is untouched
    const stored = await server.api('GET', `/v1/webhooks/${existing}`);
    expect(stored.json.topic).toBe(secretTopic);
  });
});

describe('the owner', () => {
  it('a key with admin on the topic reads and deletes the source', async () => {
    const r = await server.api('POST', '/v1/keys', {
      body: { name: 'owner', permissions: [{ topics: `secret-topic.*`, actions: ['admin'] }] },
    });
    const auth = r.json.token;
    expect((await server.api('GET', `/v1/webhooks/${existing}`, { auth })).status).toBe(200);
    expect((await server.api('DELETE', `/v1/webhooks/${existing}`, { auth })).status).toBe(204);
  });
});
