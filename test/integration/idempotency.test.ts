import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Guarantee 5 over HTTP against DynamoDB Local: a produce retried with the same Idempotency-Key returns
 * the first response and appends nothing — after a lost response too, and when duplicates race.
 */
let server: TestServer;
const control = { loseNextResponse: false, holdSegmentPut: undefined as Promise<void> | undefined };
beforeAll(async () => {
  server = await startTestServer({
    hooks: {
      afterSegmentPut: async () => {
        if (control.holdSegmentPut) await control.holdSegmentPut;
      },
      afterCommit: () => {
        if (control.loseNextResponse) {
          control.loseNextResponse = false;
          throw new Error('injected: the process dies after the commit, before the response');
        }
      },
    },
  });
});
afterAll(async () => {
  await server?.close();
});

let n = 0;
async function newTopic(partitions = 2): Promise<string> {
  const name = `idem.${Date.now().toString(36)}.${n++}`;
  expect((await server.api('POST', '/v1/topics', { body: { name, partitions } })).status).toBe(201);
  return name;
}

async function total(topic: string, partitions = 2): Promise<number> {
  const r = await server.api('GET', `/v1/topics/${topic}/partitions`);
  return r.json.partitions.slice(0, partitions).reduce((sum: number, p: any) => sum + p.highWatermark, 0);
}

const body = {
  records: [
    { key: 'alpha', value: { n: 1 } },
    { key: 'beta', value: { n: 2 } },
  ],
};
const produce = (topic: string, key: string, b: unknown = body) =>
  server.api('POST', `/v1/topics/${topic}/records`, { body: b, headers: { 'idempotency-key': key } });

describe('Idempotency-Key on produce', () => {
  it('returns the first response to a retry and appends nothing', async () => {
    const topic = await newTopic();
    const first = await produce(topic, 'order-1');
    const retry = await produce(topic, 'order-1');
    expect(first.status).toBe(200);
    expect(retry.status).toBe(200);
    expect(retry.json).toEqual(first.json);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(await total(topic)).toBe(2);
  });

  it('answers 422 IDEMPOTENCY_KEY_REUSED for the same key with another body', async () => {
    const topic = await newTopic();
    await produce(topic, 'order-2');
    const r = await produce(topic, 'order-2', { records: [{ value: 'different' }] });
    expect({ status: r.status, code: r.json.code }).toEqual({ status: 422, code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(await total(topic)).toBe(2);
  });

  it('returns the original offsets when the first response was lost after the commit', async () => {
    const topic = await newTopic();
    control.loseNextResponse = true;
    const lost = await produce(topic, 'order-3');
    expect(lost.status).toBe(500);
    expect(await total(topic)).toBe(2); // the commit happened
    const retry = await produce(topic, 'order-3');
    expect(retry.status).toBe(200);
    expect(await total(topic)).toBe(2); // and was not repeated
    for (const [i, o] of retry.json.offsets.entries()) {
      const page = await server.api(
        'GET',
        `/v1/topics/${topic}/partitions/${o.partition}/records?offset=${o.offset}&maxRecords=1`,
      );
      expect(page.json.records[0].value).toEqual(body.records[i]?.value);
    }
  });

  it('answers 409 CONFLICT while the first attempt is in flight', async () => {
    const topic = await newTopic();
    let release: () => void = () => undefined;
    control.holdSegmentPut = new Promise<void>((resolve) => {
      release = resolve;
    });
    const first = produce(topic, 'order-4');
    await new Promise((r) => setTimeout(r, 200));
    const second = await produce(topic, 'order-4');
    expect({ status: second.status, code: second.json.code }).toEqual({ status: 409, code: 'CONFLICT' });
    control.holdSegmentPut = undefined;
    release();
    expect((await first).status).toBe(200);
    expect(await total(topic)).toBe(2);
  });

  it('appends once when eight duplicates race', async () => {
    const topic = await newTopic();
    const responses = await Promise.all(Array.from({ length: 8 }, () => produce(topic, 'order-5')));
    const ok = responses.filter((r) => r.status === 200);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const r of responses) expect([200, 409]).toContain(r.status);
    for (const r of ok) expect(r.json).toEqual(ok[0]?.json);
    expect(await total(topic)).toBe(2);
    const after = await produce(topic, 'order-5');
    expect(after.json).toEqual(ok[0]?.json);
  });

  it('scopes keys per topic for the admin token', async () => {
    const a = await newTopic();
    const b = await newTopic();
    expect((await produce(a, 'shared-key')).status).toBe(200);
    const other = await produce(b, 'shared-key');
    expect(other.status).toBe(200);
    expect(other.headers.get('idempotent-replayed')).toBeNull();
    expect(await total(b)).toBe(2);
  });

  it('rejects a malformed Idempotency-Key with 400', async () => {
    const topic = await newTopic();
    const r = await produce(topic, 'has spaces in it');
    expect({ status: r.status, code: r.json.code }).toEqual({ status: 400, code: 'INVALID_REQUEST' });
    expect(await total(topic)).toBe(0);
  });
});
