import { type PartitionRecord, Sluice } from 'sluice/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../faults/cluster/tcp-proxy.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** The client's live tail over SSE (issue 15): it resumes after a dropped connection, losing nothing. */

let server: TestServer;
let proxy: TcpProxy;
let admin: Sluice;
let seq = 0;

beforeAll(async () => {
  server = await startTestServer({ log: { lingerMs: 0 }, app: { sseHeartbeatMs: 200 } });
  const target = new URL(server.url);
  proxy = await startTcpProxy({
    target: { host: target.hostname, port: Number(target.port) },
    rng: { next: Math.random },
  });
  admin = new Sluice({ url: server.url, token: server.token });
});
afterAll(async () => {
  await proxy.close();
  await server.close();
});

const until = async (what: string, check: () => boolean, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

async function produce(topic: string, from: number, count: number): Promise<void> {
  await admin.producer({ lingerMs: 0 }).send(
    topic,
    Array.from({ length: count }, (_, i) => ({ value: from + i })),
  );
}

describe('tail', () => {
  it('resumes after dropped connections and delivers every record once, in order', async () => {
    const topic = `ctail.${Date.now().toString(36)}.${seq++}`;
    await admin.topics.create({ name: topic });
    await produce(topic, 0, 50);
    const viaProxy = new Sluice({ url: proxy.url, token: server.token, retry: { initialDelayMs: 20 } });
    const accepted = proxy.counters.accepted;
    const seen: PartitionRecord[] = [];
    const stop = new AbortController();
    const reading = (async () => {
      for await (const record of viaProxy.tail(topic, 0, { from: 'earliest', signal: stop.signal })) {
        seen.push(record);
      }
    })();
    await until('the first 50', () => seen.length >= 50);
    proxy.cut(); // the connection drops
    await produce(topic, 50, 50);
    await until('100', () => seen.length >= 100);
    proxy.cut();
    await produce(topic, 100, 50);
    await until('150', () => seen.length >= 150);
    stop.abort();
    await reading;
    expect(seen.map((r) => r.value)).toEqual(Array.from({ length: 150 }, (_, i) => i));
    expect(seen.map((r) => r.offset)).toEqual(Array.from({ length: 150 }, (_, i) => i));
    expect(proxy.counters.accepted - accepted).toBeGreaterThanOrEqual(3);
  });

  it('from latest: a drop before the first record resumes where the stream started, not at the new end', async () => {
    const topic = `ctail.${Date.now().toString(36)}.${seq++}`;
    await admin.topics.create({ name: topic });
    await produce(topic, 0, 5);
    const viaProxy = new Sluice({ url: proxy.url, token: server.token, retry: { initialDelayMs: 200 } });
    const tail = viaProxy.tail(topic, 0, { from: 'latest' });
    const bytes = proxy.counters.bytesDown;
    const first = tail.next();
    await until('the stream to open', () => proxy.counters.bytesDown > bytes);
    await new Promise((resolve) => setTimeout(resolve, 100));
    proxy.cut();
    await produce(topic, 5, 3); // while the tail is disconnected
    const values = [(await first).value?.value];
    for (let i = 0; i < 2; i++) values.push((await tail.next()).value?.value);
    await tail.return();
    expect(values).toEqual([5, 6, 7]);
  });

  it('ends with the SluiceError of a final error event (the topic deleted)', async () => {
    const topic = `ctail.${Date.now().toString(36)}.${seq++}`;
    await admin.topics.create({ name: topic });
    const tail = admin.tail(topic, 0, { from: 'earliest' });
    const next = tail.next();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await admin.topics.delete(topic);
    await expect(next).rejects.toMatchObject({ status: 404, code: 'TOPIC_NOT_FOUND' });
  });
});
