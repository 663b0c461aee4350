import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';
import {
  githubHeaders,
  hmacHex,
  standardWebhooksHeaders,
  stripeHeaders,
} from '../support/webhook-signers.js';

/** Webhook ingestion over HTTP against the emulators: real signed deliveries for every scheme. */
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

let n = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}${n++}`;
const nowSec = () => Math.floor(Date.now() / 1000);
const WHSEC = `whsec_${randomBytes(24).toString('base64')}`;

async function topicWithSource(config: Record<string, unknown>): Promise<{ topic: string; source: string }> {
  const topic = unique('wh');
  expect((await server.api('POST', '/v1/topics', { body: { name: topic, partitions: 2 } })).status).toBe(201);
  const source = unique('src');
  const r = await server.api('PUT', `/v1/webhooks/${source}`, { body: { topic, ...config } });
  expect(r.status).toBe(200);
  return { topic, source };
}

/** Posts a delivery exactly as a sender does: raw bytes, its own headers, no bearer token. */
async function deliver(source: string, body: string | Buffer, headers: Record<string, string>) {
  return server.api('POST', `/v1/webhooks/${source}`, {
    body,
    headers: { 'content-type': 'application/json', ...headers },
    auth: null,
  });
}

async function records(topic: string): Promise<any[]> {
  const out: any[] = [];
  for (const p of [0, 1]) {
    const r = await server.api('GET', `/v1/topics/${topic}/partitions/${p}/records`);
    out.push(...r.json.records);
  }
  return out;
}

describe('webhook sources', () => {
  it('never shows secrets, and validates the configuration', async () => {
    const { source, topic } = await topicWithSource({
      verify: { scheme: 'standard-webhooks', secret: WHSEC },
    });
    const r = await server.api('GET', `/v1/webhooks/${source}`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      source,
      topic,
      verify: { scheme: 'standard-webhooks', toleranceSec: 300, secrets: 1 },
      dedupeWindowMs: 3 * 24 * 60 * 60 * 1000,
      counters: { accepted: 0, duplicate: 0, rejected: {} },
    });
    expect(r.text).not.toContain(WHSEC.slice(6, 20));

    const put = (body: unknown) => server.api('PUT', `/v1/webhooks/${unique('bad')}`, { body });
    expect((await put({ topic, verify: { scheme: 'none', secret: 'x'.repeat(20) } })).status).toBe(400);
    expect((await put({ topic, verify: { scheme: 'github' } })).status).toBe(400);
    expect((await put({ topic, verify: { scheme: 'hmac-sha256', secret: 'abc' } })).status).toBe(400);
    expect(
      (await put({ topic, verify: { scheme: 'standard-webhooks', secret: 'not base64!' } })).status,
    ).toBe(400);
    expect((await put({ topic, verify: { scheme: 'sha1', secret: 'abc' } })).status).toBe(400);
    expect((await put({ topic, verify: { scheme: 'github', secret: 's' }, key: 'cookie:x' })).status).toBe(
      400,
    );
    expect(
      (await put({ topic, verify: { scheme: 'github', secret: 's' }, dedupeWindowMs: 1000 })).status,
    ).toBe(400);
    const missing = await server.api('GET', `/v1/webhooks/${unique('nope')}`);
    expect([missing.status, missing.json.code]).toEqual([404, 'WEBHOOK_NOT_FOUND']);

    const key = await server.api('POST', '/v1/keys', {
      body: { name: 'consumer', permissions: [{ topics: '*', actions: ['consume', 'produce'] }] },
    });
    const forbidden = await server.api('GET', `/v1/webhooks/${source}`, { auth: key.json.token });
    expect(forbidden.status).toBe(403);
  });
});

describe('Standard Webhooks deliveries', () => {
  it('appends the body as a record with its key and headers, once per webhook-id, even under racing duplicates', async () => {
    const { topic, source } = await topicWithSource({
      verify: { scheme: 'standard-webhooks', secret: WHSEC },
      key: 'json:data.customer',
      headers: ['x-trace'],
    });
    const body = JSON.stringify({ type: 'invoice.paid', data: { customer: 'cus_42', amount: 1200 } });
    const id = `msg_${randomBytes(8).toString('hex')}`;
    const signed = { ...standardWebhooksHeaders(WHSEC, id, nowSec(), body), 'x-trace': 't-1' };
    const first = await deliver(source, body, signed);
    expect(first.status).toBe(202);
    expect(first.json).toMatchObject({ topic, offset: 0 });
    expect(first.json.duplicate).toBeUndefined();

    // The sender retries (its own new timestamp and signature): the same record, nothing appended.
    const again = await deliver(source, body, standardWebhooksHeaders(WHSEC, id, nowSec(), body));
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ duplicate: true, topic, partition: first.json.partition, offset: 0 });

    // Racing duplicates of a new id: exactly one is appended, all answer with its offset.
    const id2 = `msg_${randomBytes(8).toString('hex')}`;
    const body2 = JSON.stringify({ type: 'invoice.paid', data: { customer: 'cus_42', amount: 99 } });
    const racing = await Promise.all(
      Array.from({ length: 8 }, () =>
        deliver(source, body2, standardWebhooksHeaders(WHSEC, id2, nowSec(), body2)),
      ),
    );
    expect(racing.filter((r) => r.status === 202)).toHaveLength(1);
    expect(racing.filter((r) => r.status === 200 && r.json.duplicate === true)).toHaveLength(7);
    expect(new Set(racing.map((r) => `${r.json.partition}:${r.json.offset}`)).size).toBe(1);

    const all = await records(topic);
    expect(all).toHaveLength(2);
    const record = all.find((r) => r.headers['webhook-delivery-id'] === id);
    expect(record).toMatchObject({
      key: 'cus_42',
      format: 'json',
      value: { type: 'invoice.paid', data: { customer: 'cus_42', amount: 1200 } },
    });
    expect(record.headers).toMatchObject({
      'webhook-source': source,
      'webhook-delivery-id': id,
      'content-type': 'application/json',
      'webhook-verified': 'true',
      'x-trace': 't-1',
    });
    expect(Number(record.headers['webhook-received-at'])).toBeGreaterThan(Date.now() - 60_000);
    const counters = (await server.api('GET', `/v1/webhooks/${source}`)).json.counters;
    expect(counters).toMatchObject({ accepted: 2, duplicate: 8 });
  });

  it('accepts either secret during a rotation', async () => {
    const next = `whsec_${randomBytes(24).toString('base64')}`;
    const { topic, source } = await topicWithSource({
      verify: { scheme: 'standard-webhooks', secret: [WHSEC, next] },
    });
    for (const secret of [WHSEC, next]) {
      const body = JSON.stringify({ signedWith: secret.slice(0, 12) });
      const r = await deliver(
        source,
        body,
        standardWebhooksHeaders(secret, `msg_${secret.slice(6, 14)}`, nowSec(), body),
      );
      expect(r.status).toBe(202);
    }
    expect(await records(topic)).toHaveLength(2);
  });
});

describe('GitHub, Stripe, generic HMAC and unverified deliveries', () => {
  it('GitHub: verifies X-Hub-Signature-256 and dedupes on X-GitHub-Delivery', async () => {
    const secret = 'gh-secret-for-tests';
    const { topic, source } = await topicWithSource({
      verify: { scheme: 'github', secret },
      key: 'header:x-github-event',
    });
    const body = JSON.stringify({ ref: 'refs/heads/main', after: 'abc123' });
    const delivery = '72d3162e-cc78-11e3-81ab-4c9367dc0958';
    expect((await deliver(source, body, githubHeaders(secret, delivery, body))).status).toBe(202);
    const dup = await deliver(source, body, githubHeaders(secret, delivery, body));
    expect([dup.status, dup.json.duplicate]).toEqual([200, true]);
    const [record] = await records(topic);
    expect(record).toMatchObject({ key: 'push', value: { ref: 'refs/heads/main', after: 'abc123' } });
    expect(record.headers['webhook-delivery-id']).toBe(delivery);
  });

  it("Stripe: verifies Stripe-Signature with its timestamp and dedupes on the event's id", async () => {
    const secret = 'whsec_stripe_test_secret';
    const { topic, source } = await topicWithSource({
      verify: { scheme: 'stripe', secret },
      key: 'json:type',
    });
    const body = JSON.stringify({
      id: 'evt_1NG8Du2eZvKYlo2CUI79vXWy',
      object: 'event',
      type: 'charge.succeeded',
    });
    expect((await deliver(source, body, stripeHeaders(secret, nowSec(), body))).status).toBe(202);
    // Stripe retries an event with a new signature timestamp: still the same event.
    const dup = await deliver(source, body, stripeHeaders(secret, nowSec() + 1, body));
    expect([dup.status, dup.json.duplicate]).toEqual([200, true]);
    const [record] = await records(topic);
    expect(record).toMatchObject({ key: 'charge.succeeded' });
    expect(record.headers['webhook-delivery-id']).toBe('evt_1NG8Du2eZvKYlo2CUI79vXWy');
  });

  it('generic hmac-sha256 in a configured header; text and binary bodies keep their bytes', async () => {
    const secret = 'shared-secret-123';
    const { topic, source } = await topicWithSource({
      verify: { scheme: 'hmac-sha256', secret, header: 'X-Signature' },
    });
    const text = 'plain text event ünïcode';
    let r = await deliver(source, text, {
      'content-type': 'text/plain; charset=utf-8',
      'x-signature': hmacHex(secret, text),
      'x-delivery-id': 'd-1',
    });
    expect(r.status).toBe(202);
    const binary = Buffer.from([0, 255, 1, 254, 128]);
    r = await server.api('POST', `/v1/webhooks/${source}`, {
      body: binary,
      headers: {
        'content-type': 'application/octet-stream',
        'x-signature': `sha256=${hmacHex(secret, binary)}`,
      },
      auth: null,
    });
    expect(r.status).toBe(202);
    const all = await records(topic);
    const byFormat = Object.fromEntries(all.map((x) => [x.format, x]));
    expect(byFormat.text.value).toBe(text);
    expect(Buffer.from(byFormat.binary.value, 'base64')).toEqual(binary);
    // No delivery id given: the body identifies the delivery, so the same bytes again are a duplicate.
    expect(byFormat.binary.headers['webhook-delivery-id']).toMatch(/^sha256:/);
  });

  it("'none' accepts any delivery and marks the record unverified", async () => {
    const { topic, source } = await topicWithSource({ verify: { scheme: 'none' } });
    expect((await deliver(source, '{"hello":"world"}', {})).status).toBe(202);
    const [record] = await records(topic);
    expect(record.headers['webhook-verified']).toBe('false');
  });
});

describe('rejected deliveries', () => {
  it('answers every bad delivery as the contract says, appends nothing, and counts each by reason', async () => {
    const { topic, source } = await topicWithSource({
      verify: { scheme: 'standard-webhooks', secret: WHSEC },
    });
    const body = JSON.stringify({ n: 1 });
    const good = standardWebhooksHeaders(WHSEC, 'msg_bad_1', nowSec(), body);
    const otherSecret = `whsec_${randomBytes(24).toString('base64')}`;
    const cases: Array<[string, Promise<any>]> = [
      ['no signature headers', deliver(source, body, {})],
      ['no signature', deliver(source, body, { ...good, 'webhook-signature': '' })],
      ['garbled signature', deliver(source, body, { ...good, 'webhook-signature': 'v1,!!!' })],
      [
        'wrong secret',
        deliver(source, body, standardWebhooksHeaders(otherSecret, 'msg_bad_1', nowSec(), body)),
      ],
      [
        'too old (400 s)',
        deliver(source, body, standardWebhooksHeaders(WHSEC, 'msg_bad_1', nowSec() - 400, body)),
      ],
      [
        'from the future',
        deliver(source, body, standardWebhooksHeaders(WHSEC, 'msg_bad_1', nowSec() + 400, body)),
      ],
      ['body modified after signing', deliver(source, JSON.stringify({ n: 2 }), good)],
    ];
    for (const [name, pending] of cases) {
      const r = await pending;
      expect([name, r.status, r.json.code]).toEqual([name, 401, 'WEBHOOK_SIGNATURE_INVALID']);
    }
    const unknown = await deliver(unique('nosuch'), body, good);
    expect([unknown.status, unknown.json.code]).toEqual([404, 'WEBHOOK_NOT_FOUND']);
    expect(await records(topic)).toEqual([]);
    const counters = (await server.api('GET', `/v1/webhooks/${source}`)).json.counters;
    expect(counters.accepted).toBe(0);
    expect(Object.values(counters.rejected as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(7);
    expect(counters.rejected['timestamp-out-of-tolerance']).toBe(2);
    expect(counters.rejected['bad-signature']).toBeGreaterThanOrEqual(2);
  });

  it('a body over the limit gets 413 and a deleted target topic 404 with a clear detail', async () => {
    const small = await startTestServer({ limits: { maxRequestBytes: 2048 } });
    try {
      const topic = unique('whs');
      await small.api('POST', '/v1/topics', { body: { name: topic } });
      const source = unique('src');
      await small.api('PUT', `/v1/webhooks/${source}`, {
        body: { topic, verify: { scheme: 'github', secret: 's3cr3t' } },
      });
      const big = JSON.stringify({ pad: 'x'.repeat(4096) });
      const tooBig = await small.api('POST', `/v1/webhooks/${source}`, {
        body: big,
        headers: { 'content-type': 'application/json', ...githubHeaders('s3cr3t', 'd-big', big) },
        auth: null,
      });
      expect([tooBig.status, tooBig.json.code]).toEqual([413, 'REQUEST_TOO_LARGE']);

      expect((await small.api('DELETE', `/v1/topics/${topic}`)).status).toBe(204);
      const body = '{"after":"delete"}';
      const gone = await small.api('POST', `/v1/webhooks/${source}`, {
        body,
        headers: { 'content-type': 'application/json', ...githubHeaders('s3cr3t', 'd-gone', body) },
        auth: null,
      });
      expect([gone.status, gone.json.code]).toEqual([404, 'TOPIC_NOT_FOUND']);
      expect(gone.json.detail).toContain(`delivers to topic '${topic}', which does not exist`);

      expect((await small.api('DELETE', `/v1/webhooks/${source}`)).status).toBe(204);
      const removed = await small.api('POST', `/v1/webhooks/${source}`, { body, auth: null });
      expect(removed.status).toBe(404);
    } finally {
      await small.close();
    }
  });
});
