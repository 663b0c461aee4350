import { Sluice } from 'sluice/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../faults/cluster/tcp-proxy.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The client's producer against a real server (issue 15): batching, retries with one Idempotency-Key,
 * backpressure, the partition bound. HTTP requests are counted by the fetch the client is given.
 */

let server: TestServer;
let admin: Sluice;
let seq = 0;
const name = (what: string) => `cprod.${what}.${Date.now().toString(36)}.${seq++}`;

interface Sent {
  method: string;
  path: string;
  idempotencyKey: string | null;
}

/** A fetch that records every request it passes on (and may answer some itself, as a proxy would). */
function countingFetch(intercept?: (sent: Sent, index: number) => Response | undefined) {
  const sent: Sent[] = [];
  const fetchImpl: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init?.headers);
    const entry = {
      method: init?.method ?? 'GET',
      path: url.pathname,
      idempotencyKey: headers.get('idempotency-key'),
    };
    sent.push(entry);
    const answer = intercept?.(entry, sent.length - 1);
    if (answer) return answer;
    return fetch(input, init);
  };
  return {
    sent,
    fetchImpl,
    produces: () => sent.filter((s) => s.method === 'POST' && s.path.endsWith('/records')),
  };
}

async function readAll(topic: string, partition: number): Promise<unknown[]> {
  const values: unknown[] = [];
  let offset = 0;
  for (;;) {
    const result = await admin.read(topic, partition, { offset, maxRecords: 10_000 });
    values.push(...result.records.map((r) => r.value));
    if (result.nextOffset >= result.highWatermark) return values;
    offset = result.nextOffset;
  }
}

beforeAll(async () => {
  server = await startTestServer({ log: { lingerMs: 0 } });
  admin = new Sluice({ url: server.url, token: server.token });
});
afterAll(async () => {
  await server.close();
});

describe('producer', () => {
  it('merges concurrent sends to one topic into one request; each send gets its own acks in order', async () => {
    const topic = name('merge');
    await admin.topics.create({ name: topic });
    const counted = countingFetch();
    const sluice = new Sluice({ url: server.url, token: server.token, fetch: counted.fetchImpl });
    const producer = sluice.producer({ lingerMs: 50 });
    const sends = Array.from({ length: 40 }, (_, i) =>
      producer.send(topic, [{ value: i }, { value: `${i}b` }]),
    );
    const acks = await Promise.all(sends);
    await producer.close();
    expect(counted.produces()).toHaveLength(1);
    // One request: the sends' records are consecutive, in the order the sends were made.
    expect(acks.flat().map((a) => a.offset)).toEqual(Array.from({ length: 80 }, (_, i) => i));
    expect(await readAll(topic, 0)).toEqual(Array.from({ length: 40 }, (_, i) => [i, `${i}b`]).flat());
  });

  it('splits a batch at maxBatchRecords and maxBatchBytes, and keeps the order', async () => {
    const topic = name('split');
    await admin.topics.create({ name: topic });
    const counted = countingFetch();
    const sluice = new Sluice({ url: server.url, token: server.token, fetch: counted.fetchImpl });
    const producer = sluice.producer({ lingerMs: 0, maxBatchRecords: 10 });
    const acks = await producer.send(
      topic,
      Array.from({ length: 25 }, (_, i) => ({ value: i })),
    );
    expect(acks.map((a) => a.offset)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(counted.produces()).toHaveLength(3);
    const bytes = sluice.producer({ lingerMs: 0, maxBatchBytes: 4096 });
    const big = 'x'.repeat(1000);
    await bytes.send(
      topic,
      Array.from({ length: 10 }, () => ({ value: big })),
    );
    // About 1 KiB a record, 4 KiB a request: at least 3 requests more.
    expect(counted.produces().length).toBeGreaterThanOrEqual(6);
    expect((await readAll(topic, 0)).length).toBe(35);
  });

  it('never touches more partitions in one request than the server allows (keys placed by murmur2)', async () => {
    const topic = name('wide');
    await admin.topics.create({ name: topic, partitions: 300 });
    const counted = countingFetch();
    const sluice = new Sluice({ url: server.url, token: server.token, fetch: counted.fetchImpl });
    const producer = sluice.producer({ lingerMs: 0 });
    // 2,000 distinct keys over 300 partitions: one request would touch every partition (the bound is 100).
    const acks = await producer.send(
      topic,
      Array.from({ length: 2000 }, (_, i) => ({ key: `k${i}`, value: i })),
    );
    expect(acks).toHaveLength(2000);
    expect(new Set(acks.map((a) => a.partition)).size).toBe(300);
    // Split by partition count (at least 3 requests), not by key (which would take 20).
    expect(counted.produces().length).toBeGreaterThanOrEqual(3);
    expect(counted.produces().length).toBeLessThan(10);
  });

  it('a lost answer is retried with the same Idempotency-Key and appends nothing twice', async () => {
    const topic = name('lost');
    await admin.topics.create({ name: topic });
    const target = new URL(server.url);
    let proxy!: TcpProxy;
    proxy = await startTcpProxy({
      target: { host: target.hostname, port: Number(target.port) },
      rng: { next: Math.random },
      // Drop one answer (the server applied the request), then pass everything.
      onFault: (what) => {
        if (what.includes('drop')) proxy.setFaults({});
      },
    });
    try {
      const counted = countingFetch();
      const sluice = new Sluice({
        url: proxy.url,
        token: server.token,
        fetch: counted.fetchImpl,
        retry: { initialDelayMs: 20 },
      });
      const producer = sluice.producer({ lingerMs: 0 });
      proxy.setFaults({ dropChance: 1 });
      const acks = await producer.send(
        topic,
        Array.from({ length: 10 }, (_, i) => ({ value: i })),
      );
      expect(proxy.counters.dropped).toBe(1);
      const produces = counted.produces();
      expect(produces).toHaveLength(2);
      expect(produces[0]?.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
      expect(produces[1]?.idempotencyKey).toBe(produces[0]?.idempotencyKey);
      expect(producer.requestCount).toBe(1);
      // The replayed answer is the first one: offsets 0–9, and the partition holds each record once.
      expect(acks.map((a) => a.offset)).toEqual(Array.from({ length: 10 }, (_, i) => i));
      expect(await readAll(topic, 0)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    } finally {
      await proxy.close();
    }
  });

  it('honours Retry-After on a 429 and retries with the same key', async () => {
    const topic = name('throttled');
    await admin.topics.create({ name: topic });
    const counted = countingFetch((sent, index) =>
      index === 0 && sent.method === 'POST'
        ? new Response(
            JSON.stringify({ type: 'x', title: 'Throttled', status: 429, detail: 'busy', code: 'THROTTLED' }),
            { status: 429, headers: { 'content-type': 'application/problem+json', 'retry-after': '1' } },
          )
        : undefined,
    );
    const sluice = new Sluice({ url: server.url, token: server.token, fetch: counted.fetchImpl });
    const producer = sluice.producer({ lingerMs: 0 });
    const started = Date.now();
    const acks = await producer.send(topic, [{ value: 'once' }]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(acks).toEqual([{ partition: 0, offset: 0, timestamp: expect.any(Number) }]);
    const produces = counted.produces();
    expect(produces).toHaveLength(2);
    expect(produces[1]?.idempotencyKey).toBe(produces[0]?.idempotencyKey);
  });

  it('backpressure: a send beyond maxInFlightBytes waits while the server stalls, and buffers nothing', async () => {
    const topic = name('stall');
    await admin.topics.create({ name: topic });
    const target = new URL(server.url);
    const proxy = await startTcpProxy({
      target: { host: target.hostname, port: Number(target.port) },
      rng: { next: Math.random },
    });
    try {
      proxy.setFaults({ blackhole: true });
      const sluice = new Sluice({ url: proxy.url, token: server.token });
      const producer = sluice.producer({ lingerMs: 0, maxInFlightBytes: 2000 });
      const value = 'v'.repeat(500);
      const settled: string[] = [];
      const first = producer.send(topic, [{ value }, { value }]).then(() => settled.push('first'));
      const one = producer.bufferedBytes;
      expect(one).toBeGreaterThan(1000);
      expect(one).toBeLessThanOrEqual(2000);
      const second = producer.send(topic, [{ value }, { value }]).then(() => settled.push('second'));
      const third = producer.send(topic, [{ value }]).then(() => settled.push('third'));
      await new Promise((resolve) => setTimeout(resolve, 500));
      // The stalled server holds the first request: the others wait outside the buffer.
      expect(settled).toEqual([]);
      expect(producer.bufferedBytes).toBe(one);
      proxy.setFaults({});
      await Promise.all([first, second, third]);
      expect(settled).toEqual(['first', 'second', 'third']);
      expect(producer.bufferedBytes).toBe(0);
      expect(await readAll(topic, 0)).toHaveLength(5);
    } finally {
      await proxy.close();
    }
  });

  it('a 4xx other than 429 rejects the sends of that batch without retrying', async () => {
    const topic = name('bad');
    await admin.topics.create({ name: topic });
    const counted = countingFetch();
    const sluice = new Sluice({ url: server.url, token: server.token, fetch: counted.fetchImpl });
    const producer = sluice.producer({ lingerMs: 20 });
    const good = producer.send(topic, [{ value: 'fine' }]);
    const bad = producer.send(topic, [{ value: 'x', headers: { 'webhook-id': 'forged' } }]);
    await expect(bad).rejects.toMatchObject({ status: 400, code: 'INVALID_REQUEST' });
    // Merged into the same request: refused with it (a request is atomic on the server).
    await expect(good).rejects.toMatchObject({ status: 400 });
    expect(counted.produces()).toHaveLength(1);
    await producer.close();
  });
});
