import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Scoped API keys over HTTP: the permission matrix (each action × allowed/denied × existing/missing topic),
 * expiry, revocation within the key cache bound, and the admin-only key management routes.
 */
const KEY_CACHE_TTL_MS = 300;
let server: TestServer;
const run = Date.now().toString(36);
const tokens: Record<KeyName, string> = { producer: '', consumer: '', topicAdmin: '', outsider: '' };
type KeyName = 'producer' | 'consumer' | 'topicAdmin' | 'outsider';

async function mint(body: unknown): Promise<{ id: string; token: string }> {
  const r = await server.api('POST', '/v1/keys', { body });
  expect(r.status).toBe(201);
  return r.json;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  server = await startTestServer({ keyCacheTtlMs: KEY_CACHE_TTL_MS });
  const keys: Record<KeyName, unknown> = {
    producer: { name: 'producer', permissions: [{ topics: 'orders.*', actions: ['produce'] }] },
    consumer: { name: 'consumer', permissions: [{ topics: 'orders.*', actions: ['consume'] }] },
    topicAdmin: { name: 'topic admin', permissions: [{ topics: 'orders.*', actions: ['admin'] }] },
    outsider: {
      name: 'outsider',
      permissions: [{ topics: 'payments.*', actions: ['produce', 'consume', 'admin'] }],
    },
  };
  for (const [name, body] of Object.entries(keys)) tokens[name as KeyName] = (await mint(body)).token;
});
afterAll(async () => {
  await server?.close();
});

interface MatrixAction {
  action: string;
  allowed: KeyName[];
  request: (topic: string) => [method: string, path: string, body?: unknown];
  /** Status for an allowed caller on an existing topic (and on a missing one, when not 404). */
  existing: number;
  missing?: number;
}

const matrix: MatrixAction[] = [
  {
    action: 'create topic',
    allowed: ['topicAdmin'],
    request: (t) => ['POST', '/v1/topics', { name: t }],
    existing: 409,
    missing: 201,
  },
  {
    action: 'describe',
    allowed: ['producer', 'consumer', 'topicAdmin'],
    request: (t) => ['GET', `/v1/topics/${t}`],
    existing: 200,
  },
  {
    action: 'patch',
    allowed: ['topicAdmin'],
    request: (t) => ['PATCH', `/v1/topics/${t}`, { config: { retentionMs: 60_000 } }],
    existing: 200,
  },
  { action: 'delete', allowed: ['topicAdmin'], request: (t) => ['DELETE', `/v1/topics/${t}`], existing: 204 },
  {
    action: 'produce',
    allowed: ['producer'],
    request: (t) => ['POST', `/v1/topics/${t}/records`, { records: [{ value: 1 }] }],
    existing: 200,
  },
  {
    action: 'fetch',
    allowed: ['consumer'],
    request: (t) => ['GET', `/v1/topics/${t}/partitions/0/records`],
    existing: 200,
  },
  {
    action: 'offsets for timestamp',
    allowed: ['consumer', 'topicAdmin'],
    request: (t) => ['GET', `/v1/topics/${t}/partitions/0/offsets?timestamp=0`],
    existing: 200,
  },
  {
    action: 'partitions',
    allowed: ['producer', 'consumer', 'topicAdmin'],
    request: (t) => ['GET', `/v1/topics/${t}/partitions`],
    existing: 200,
  },
];

const cases = matrix.flatMap((m) =>
  (['producer', 'consumer', 'topicAdmin', 'outsider'] as const).flatMap((key) =>
    (['existing', 'missing'] as const).map((state) => ({ ...m, key, state, allow: m.allowed.includes(key) })),
  ),
);

describe('permission matrix', () => {
  it.each(cases)(
    '$action by $key on an $state topic',
    async ({ key, state, allow, request, existing, missing }) => {
      const topic = `orders.${run}.${Math.random().toString(36).slice(2, 10)}`;
      if (state === 'existing') {
        expect((await server.api('POST', '/v1/topics', { body: { name: topic } })).status).toBe(201);
      }
      const [method, path, body] = request(topic);
      const r = await server.api(method, path, {
        auth: tokens[key],
        ...(body !== undefined ? { body } : {}),
      });
      const expected = !allow ? 403 : state === 'existing' ? existing : (missing ?? 404);
      expect({ status: r.status, code: r.json?.code }).toMatchObject({ status: expected });
      if (expected === 403) {
        expect(r.json.code).toBe('FORBIDDEN');
        expect(r.json.detail).not.toMatch(/exist/);
      }
    },
  );

  it('lists only the topics the caller holds some permission on', async () => {
    const orders = `orders.${run}.listed`;
    const payments = `payments.${run}.listed`;
    for (const name of [orders, payments]) {
      expect((await server.api('POST', '/v1/topics', { body: { name } })).status).toBe(201);
    }
    const names = async (auth: string) =>
      ((await server.api('GET', '/v1/topics', { auth })).json.topics as Array<{ name: string }>).map(
        (t) => t.name,
      );
    expect(await names(tokens.producer)).toContain(orders);
    expect(await names(tokens.producer)).not.toContain(payments);
    expect(await names(tokens.outsider)).toEqual(expect.arrayContaining([payments]));
    expect(await names(tokens.outsider)).not.toContain(orders);
    expect(await names(server.token)).toEqual(expect.arrayContaining([orders, payments]));
  });

  it('lets a producer and a consumer key do the whole round trip on their topics', async () => {
    const topic = `orders.${run}.roundtrip`;
    expect((await server.api('POST', '/v1/topics', { body: { name: topic } })).status).toBe(201);
    const produced = await server.api('POST', `/v1/topics/${topic}/records`, {
      auth: tokens.producer,
      body: { records: [{ key: 'k', value: { n: 1 } }] },
    });
    expect(produced.status).toBe(200);
    const fetched = await server.api('GET', `/v1/topics/${topic}/partitions/0/records`, {
      auth: tokens.consumer,
    });
    expect(fetched.json.records.map((r: { value: unknown }) => r.value)).toEqual([{ n: 1 }]);
  });
});

describe('authentication with keys', () => {
  it('answers 401 for an unknown key token and for none', async () => {
    const unknown = `sk_0123456789abcdef_${'A'.repeat(43)}`;
    expect((await server.api('GET', '/v1/topics', { auth: unknown })).json.code).toBe('UNAUTHORIZED');
    expect((await server.api('GET', '/v1/topics', { auth: null })).status).toBe(401);
  });

  it('refuses an expired key with 401', async () => {
    const { token } = await mint({
      name: 'short-lived',
      permissions: [{ topics: 'orders.*', actions: ['consume'] }],
      expiresAt: Date.now() + 1_000,
    });
    expect((await server.api('GET', '/v1/topics', { auth: token })).status).toBe(200);
    await sleep(1_100);
    const r = await server.api('GET', '/v1/topics', { auth: token });
    expect({ status: r.status, code: r.json?.code }).toEqual({ status: 401, code: 'UNAUTHORIZED' });
  });

  it('refuses a revoked key with 401 within the key cache TTL', async () => {
    const { id, token } = await mint({
      name: 'revoked',
      permissions: [{ topics: '*', actions: ['consume'] }],
    });
    expect((await server.api('GET', '/v1/topics', { auth: token })).status).toBe(200); // now cached
    expect((await server.api('DELETE', `/v1/keys/${id}`)).status).toBe(204);
    await sleep(KEY_CACHE_TTL_MS + 100);
    expect((await server.api('GET', '/v1/topics', { auth: token })).status).toBe(401);
    expect((await server.api('DELETE', `/v1/keys/${id}`)).json.code).toBe('NOT_FOUND');
  });
});

describe('key management', () => {
  it('refuses keys, even one with admin on *, with 403 and unauthenticated calls with 401', async () => {
    const { id, token } = await mint({
      name: 'all-admin',
      permissions: [{ topics: '*', actions: ['admin'] }],
    });
    const body = { name: 'x', permissions: [{ topics: '*', actions: ['produce'] }] };
    const calls: Array<[string, string, unknown?]> = [
      ['POST', '/v1/keys', body],
      ['GET', '/v1/keys'],
      ['DELETE', `/v1/keys/${id}`],
    ];
    for (const [method, path, b] of calls) {
      const options = b !== undefined ? { body: b } : {};
      const forbidden = await server.api(method, path, { ...options, auth: token });
      expect({ status: forbidden.status, code: forbidden.json?.code }).toEqual({
        status: 403,
        code: 'FORBIDDEN',
      });
      expect((await server.api(method, path, { ...options, auth: null })).status).toBe(401);
    }
  });

  it('shows the token once: the list never carries tokens or hashes', async () => {
    const created = await server.api('POST', '/v1/keys', {
      body: { name: 'shown-once', permissions: [{ topics: 'orders.*', actions: ['produce'] }] },
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      id: expect.any(String),
      token: expect.stringMatching(/^sk_[0-9a-f]{16}_/),
      name: 'shown-once',
      permissions: [{ topics: 'orders.*', actions: ['produce'] }],
      expiresAt: null,
      createdAt: expect.any(Number),
    });
    const list = await server.api('GET', '/v1/keys');
    expect(list.status).toBe(200);
    const listed = list.json.keys.find((k: { id: string }) => k.id === created.json.id);
    expect(Object.keys(listed).sort()).toEqual(
      ['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'permissions'].sort(),
    );
    const secret = String(created.json.token).split('_').slice(2).join('_');
    expect(list.text).not.toContain(secret);
    expect(list.text).not.toMatch(/secretHash|token/);
  });

  it('updates the last-used time when a key is used', async () => {
    const { id, token } = await mint({
      name: 'used',
      permissions: [{ topics: 'orders.*', actions: ['consume'] }],
    });
    const lastUsed = async () =>
      (await server.api('GET', '/v1/keys')).json.keys.find((k: { id: string }) => k.id === id).lastUsedAt;
    expect(await lastUsed()).toBeNull();
    const before = Date.now();
    expect((await server.api('GET', '/v1/topics', { auth: token })).status).toBe(200);
    let value: number | null = null;
    for (let i = 0; i < 20 && value === null; i += 1) {
      value = await lastUsed();
      if (value === null) await sleep(50);
    }
    expect(value).toBeGreaterThanOrEqual(before);
  });

  it('validates new keys: patterns, actions and expiry', async () => {
    const bad = [
      { name: 'x', permissions: [{ topics: 'orders/*', actions: ['produce'] }] },
      { name: 'x', permissions: [{ topics: 'orders', actions: ['write'] }] },
      { name: 'x', permissions: [] },
      { name: 'x', permissions: [{ topics: 'orders', actions: ['produce'] }], expiresAt: Date.now() - 1 },
    ];
    for (const body of bad) {
      expect((await server.api('POST', '/v1/keys', { body })).json.code).toBe('INVALID_REQUEST');
    }
  });
});
