import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';
import { githubHeaders, hmacHex, standardWebhooksHeaders } from '../support/webhook-signers.js';

/**
 * A GitHub or hmac-sha256 delivery replayed with a fresh delivery id became a new record each time: those
 * signatures cover only the body, so anyone who captured one delivery could append it again and again.
 * SPEC Webhooks: for schemes whose signature covers no delivery id or timestamp, a body already ingested
 * within the dedupe window is a duplicate even under a new delivery id.
 */
let server: TestServer;
let n = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}${n++}`;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

async function source(verify: Record<string, unknown>): Promise<{ topic: string; source: string }> {
  const topic = unique('replay');
  expect((await server.api('POST', '/v1/topics', { body: { name: topic } })).status).toBe(201);
  const name = unique('src');
  expect((await server.api('PUT', `/v1/webhooks/${name}`, { body: { topic, verify } })).status).toBe(200);
  return { topic, source: name };
}

const deliver = (source: string, body: string, headers: Record<string, string>) =>
  server.api('POST', `/v1/webhooks/${source}`, {
    body,
    headers: { 'content-type': 'application/json', ...headers },
    auth: null,
  });

async function highWatermark(topic: string): Promise<number> {
  return (await server.api('GET', `/v1/topics/${topic}/partitions`)).json.partitions[0].highWatermark;
}

describe('a captured delivery replayed under a fresh delivery id is a duplicate', () => {
  it('GitHub (X-GitHub-Delivery is not signed)', async () => {
    const secret = 'gh-replay-secret';
    const { topic, source: name } = await source({ scheme: 'github', secret });
    const body = JSON.stringify({ action: 'opened', number: 7 });
    const first = await deliver(name, body, githubHeaders(secret, randomUUID(), body));
    expect(first.status).toBe(202);
    for (let i = 0; i < 3; i++) {
      const replay = await deliver(name, body, githubHeaders(secret, randomUUID(), body));
      expect([replay.status, replay.json]).toEqual([
        200,
        { duplicate: true, topic, partition: first.json.partition, offset: first.json.offset },
      ]);
    }
    expect(await highWatermark(topic)).toBe(1);
  });

  it('hmac-sha256 (a delivery id header, or none at all)', async () => {
    const secret = 'hmac-replay-secret';
    const { topic, source: name } = await source({ scheme: 'hmac-sha256', secret, header: 'x-signature' });
    const body = JSON.stringify({ event: 'paid', id: 42 });
    const signed = { 'x-signature': hmacHex(secret, body) };
    expect((await deliver(name, body, { ...signed, 'x-delivery-id': 'd-1' })).status).toBe(202);
    const replays = [{ 'x-delivery-id': 'd-2' }, { 'idempotency-key': 'k-9' }, {}];
    for (const extra of replays) {
      const replay = await deliver(name, body, { ...signed, ...extra });
      expect([replay.status, replay.json.duplicate]).toEqual([200, true]);
    }
    expect(await highWatermark(topic)).toBe(1);
  });

  it("'none'", async () => {
    const { topic, source: name } = await source({ scheme: 'none' });
    const body = '{"same":"body"}';
    expect((await deliver(name, body, { 'x-delivery-id': 'a' })).status).toBe(202);
    const replay = await deliver(name, body, { 'x-delivery-id': 'b' });
    expect([replay.status, replay.json.duplicate]).toEqual([200, true]);
    expect(await highWatermark(topic)).toBe(1);
  });
});

describe('what stays as it was', () => {
  it('GitHub: a different body is a new record', async () => {
    const secret = 'gh-replay-secret-2';
    const { topic, source: name } = await source({ scheme: 'github', secret });
    for (const n of [1, 2]) {
      const body = JSON.stringify({ n });
      expect((await deliver(name, body, githubHeaders(secret, randomUUID(), body))).status).toBe(202);
    }
    expect(await highWatermark(topic)).toBe(2);
  });

  it('Standard Webhooks signs its id: the same body under a new signed id is a new message', async () => {
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const { topic, source: name } = await source({ scheme: 'standard-webhooks', secret });
    const body = '{"type":"ping"}';
    const now = Math.floor(Date.now() / 1000);
    expect((await deliver(name, body, standardWebhooksHeaders(secret, 'msg_1', now, body))).status).toBe(202);
    expect((await deliver(name, body, standardWebhooksHeaders(secret, 'msg_2', now, body))).status).toBe(202);
    const again = await deliver(name, body, standardWebhooksHeaders(secret, 'msg_1', now, body));
    expect([again.status, again.json.duplicate]).toEqual([200, true]);
    expect(await highWatermark(topic)).toBe(2);
  });
});
