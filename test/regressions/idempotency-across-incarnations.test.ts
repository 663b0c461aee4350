import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type TestServer, useTwoInstances } from '../support/server.js';
import { standardWebhooksHeaders } from '../support/webhook-signers.js';

/**
 * Issue 12, item 1: an Idempotency-Key used on a topic that was then deleted and created again replayed the
 * old incarnation's offsets (200, `Idempotent-Replayed: true`, offsets [0]) while the new topic stayed
 * empty: an acknowledged write was lost. SPEC (Topics): a topic created later under the same name starts
 * empty, nothing of the deleted one shows through; a replay never points into another incarnation.
 * Two app instances on the same tables and bucket, each with its own caches.
 */
let a: TestServer;
let b: TestServer;
useTwoInstances({ log: { lingerMs: 0 } }, (x, y) => {
  a = x;
  b = y;
});

let n = 0;
const unique = (prefix: string) => `${prefix}.${Date.now().toString(36)}.${n++}`;
const body = { records: [{ key: 'customer-7', value: { order: 1 }, partition: 0 }] };

async function create(server: TestServer, topic: string): Promise<void> {
  expect((await server.api('POST', '/v1/topics', { body: { name: topic, partitions: 1 } })).status).toBe(201);
}

async function recreate(server: TestServer, topic: string): Promise<void> {
  expect((await server.api('DELETE', `/v1/topics/${topic}`)).status).toBe(204);
  await create(server, topic);
}

function produce(server: TestServer, topic: string, key: string, token?: string, b: unknown = body) {
  return server.api('POST', `/v1/topics/${topic}/records`, {
    body: b,
    headers: { 'idempotency-key': key },
    ...(token !== undefined ? { auth: token } : {}),
  });
}

async function values(server: TestServer, topic: string): Promise<unknown[]> {
  const r = await server.api('GET', `/v1/topics/${topic}/partitions/0/records`);
  expect(r.status).toBe(200);
  return (r.json.records as Array<{ value: unknown }>).map((record) => record.value);
}

describe('Idempotency-Key across topic incarnations', () => {
  it('appends to the re-created topic instead of replaying the deleted one, on any instance', async () => {
    const topic = unique('idem-inc');
    await create(a, topic);
    const first = await produce(a, topic, 'K-1');
    expect(first.status).toBe(200);
    expect(first.json.offsets.map((o: { offset: number }) => o.offset)).toEqual([0]);
    await recreate(a, topic);

    const again = await produce(b, topic, 'K-1');
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBeNull();
    expect(again.json.offsets.map((o: { offset: number }) => o.offset)).toEqual([0]);
    // The acknowledged write is in the topic, as seen from both instances.
    expect(await values(a, topic)).toEqual([{ order: 1 }]);
    expect(await values(b, topic)).toEqual([{ order: 1 }]);

    // From then on the key belongs to the new incarnation: a retry on either instance replays it.
    for (const server of [a, b]) {
      const retry = await produce(server, topic, 'K-1');
      expect(retry.status).toBe(200);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(retry.json).toEqual(again.json);
    }
    expect(await values(b, topic)).toEqual([{ order: 1 }]);
  });

  it('never replays into a deleted incarnation, even on an instance that still caches it', async () => {
    const topic = unique('idem-stale');
    await create(a, topic);
    expect((await produce(a, topic, 'K-1')).status).toBe(200);
    // Instance b reads the topic now, so its topic cache holds the incarnation about to be deleted.
    expect(await values(b, topic)).toEqual([{ order: 1 }]);
    await recreate(a, topic);

    const again = await produce(b, topic, 'K-1');
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBeNull();
    expect(await values(a, topic)).toEqual([{ order: 1 }]);
  });

  it('takes a key of the deleted incarnation for a different body too (not IDEMPOTENCY_KEY_REUSED)', async () => {
    const topic = unique('idem-body');
    await create(a, topic);
    expect((await produce(a, topic, 'K-2')).status).toBe(200);
    await recreate(a, topic);
    const other = { records: [{ value: 'something else', partition: 0 }] };
    const again = await produce(b, topic, 'K-2', undefined, other);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBeNull();
    expect(await values(a, topic)).toEqual(['something else']);
  });

  it('scopes an API key the same way: its key on the re-created topic appends', async () => {
    const topic = unique('idem-key');
    await create(a, topic);
    const minted = await a.api('POST', '/v1/keys', {
      body: { name: 'producer', permissions: [{ topics: topic, actions: ['produce'] }] },
    });
    expect(minted.status).toBe(201);
    const token = minted.json.token as string;
    expect((await produce(a, topic, 'K-3', token)).status).toBe(200);
    await recreate(a, topic);
    const again = await produce(b, topic, 'K-3', token);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBeNull();
    expect(await values(a, topic)).toEqual([{ order: 1 }]);
  });

  it('still refuses the key on another, live topic with IDEMPOTENCY_KEY_REUSED', async () => {
    const first = unique('idem-one');
    const second = unique('idem-two');
    await create(a, first);
    await create(a, second);
    const minted = await a.api('POST', '/v1/keys', {
      body: { name: 'producer', permissions: [{ topics: 'idem-*', actions: ['produce'] }] },
    });
    const token = minted.json.token as string;
    expect((await produce(a, first, 'K-4', token)).status).toBe(200);
    const elsewhere = await produce(b, second, 'K-4', token);
    expect(elsewhere.status).toBe(422);
    expect(elsewhere.json.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await values(a, second)).toEqual([]);
  });

  it('ingests a webhook delivery id again into the re-created topic of its source', async () => {
    const topic = unique('idem-wh');
    await create(a, topic);
    const source = unique('src');
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const put = await a.api('PUT', `/v1/webhooks/${source}`, {
      body: { topic, verify: { scheme: 'standard-webhooks', secret } },
    });
    expect(put.status).toBe(200);
    const payload = JSON.stringify({ type: 'invoice.paid', id: 'evt_1' });
    const deliver = (server: TestServer) =>
      server.api('POST', `/v1/webhooks/${source}`, {
        body: payload,
        headers: {
          'content-type': 'application/json',
          ...standardWebhooksHeaders(secret, 'msg_1', Math.floor(Date.now() / 1000), payload),
        },
        auth: null,
      });
    expect((await deliver(a)).status).toBe(202);
    await recreate(a, topic);

    const redelivered = await deliver(b);
    expect(redelivered.status).toBe(202);
    expect(redelivered.json).toMatchObject({ topic, partition: 0, offset: 0 });
    expect(await values(a, topic)).toEqual([{ type: 'invoice.paid', id: 'evt_1' }]);
    expect((await deliver(a)).json).toMatchObject({ duplicate: true, offset: 0 });
  });
});
