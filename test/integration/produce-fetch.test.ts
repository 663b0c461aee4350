import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionForKey } from '../../lib/partitioner.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

let n = 0;
async function newTopic(partitions = 1, config?: Record<string, unknown>): Promise<string> {
  const name = `t${Date.now().toString(36)}.${n++}`;
  const r = await server.api('POST', '/v1/topics', {
    body: { name, partitions, ...(config ? { config } : {}) },
  });
  expect(r.status).toBe(201);
  return name;
}

async function readAll(topic: string, partition: number): Promise<any[]> {
  const out: any[] = [];
  let offset = 0;
  for (;;) {
    const r = await server.api(
      'GET',
      `/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}&maxRecords=10000&maxBytes=8388608`,
    );
    expect(r.status).toBe(200);
    out.push(...r.json.records);
    if (r.json.nextOffset >= r.json.highWatermark) return out;
    offset = r.json.nextOffset;
  }
}

describe('produce and fetch over HTTP against the emulators', () => {
  it('round-trips JSON, text and binary values with keys and headers', async () => {
    const topic = await newTopic();
    const json = { nested: { list: [1, 2.5, 'three', null, true] }, unicode: 'żółw 🐢' };
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
    let r = await server.api('POST', `/v1/topics/${topic}/records`, {
      body: {
        records: [
          { key: 'a', value: json, headers: { 'trace-id': 'abc', empty: '' } },
          { value: 42 },
          { value: 'a json string' },
        ],
      },
    });
    expect(r.status).toBe(200);
    r = await server.api('POST', `/v1/topics/${topic}/records`, {
      body: { format: 'text', records: [{ key: 'b', value: 'plain text ✓' }] },
    });
    expect(r.status).toBe(200);
    r = await server.api('POST', `/v1/topics/${topic}/records`, {
      body: { format: 'binary', records: [{ key: null, value: bytes.toString('base64'), timestamp: 1234 }] },
    });
    expect(r.status).toBe(200);
    r = await server.api('POST', `/v1/topics/${topic}/records`, {
      body: { records: [{ key: 'a', value: null }] },
    });
    expect(r.status).toBe(200);

    const records = await readAll(topic, 0);
    expect(records.map((x) => [x.offset, x.key, x.value, x.format])).toEqual([
      [0, 'a', json, 'json'],
      [1, null, 42, 'json'],
      [2, null, 'a json string', 'json'],
      [3, 'b', 'plain text ✓', 'text'],
      [4, null, bytes.toString('base64'), 'binary'],
      [5, 'a', null, 'json'],
    ]);
    expect(records[0].headers).toEqual({ 'trace-id': 'abc', empty: '' });
    expect(records[4].timestamp).toBe(1234);
    expect(records.every((x) => x.partition === 0 && Number.isInteger(x.timestamp))).toBe(true);
  });

  it('puts keyed records where Kafka would and keeps their order per key', async () => {
    const topic = await newTopic(4);
    const keys = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
    const r = await server.api('POST', `/v1/topics/${topic}/records`, {
      body: { records: keys.flatMap((key) => [0, 1, 2].map((i) => ({ key, value: { key, i } }))) },
    });
    expect(r.status).toBe(200);
    for (const [i, o] of r.json.offsets.entries()) {
      expect(o.partition).toBe(partitionForKey(Buffer.from(keys[Math.floor(i / 3)] as string), 4));
    }
    for (let p = 0; p < 4; p++) {
      const records = await readAll(topic, p);
      for (const key of keys) {
        const seq = records.filter((x) => x.key === key).map((x) => x.value.i);
        if (seq.length > 0) expect(seq).toEqual([0, 1, 2]);
      }
    }
  });

  it('gives 16 concurrent producers on one partition dense, unique offsets', async () => {
    const topic = await newTopic(1);
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, producer) =>
        (async () => {
          const offsets: number[] = [];
          for (let i = 0; i < 10; i++) {
            const r = await server.api('POST', `/v1/topics/${topic}/records`, {
              body: { records: [{ value: { producer, i, part: 0 } }, { value: { producer, i, part: 1 } }] },
            });
            expect(r.status).toBe(200);
            offsets.push(...r.json.offsets.map((o: { offset: number }) => o.offset));
            // A request's records are adjacent and in order.
            expect(r.json.offsets[1].offset).toBe(r.json.offsets[0].offset + 1);
          }
          return offsets;
        })(),
      ),
    );
    const all = results.flat().sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 320 }, (_, i) => i));
    const records = await readAll(topic, 0);
    expect(records.map((x) => x.offset)).toEqual(all);
  });

  it('wakes a long-poll when a record is produced', async () => {
    const topic = await newTopic(1);
    const started = Date.now();
    const poll = server.api('GET', `/v1/topics/${topic}/partitions/0/records?offset=0&waitMs=10000`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await server.api('POST', `/v1/topics/${topic}/records`, { body: { records: [{ value: 'wake up' }] } });
    const r = await poll;
    expect(r.status).toBe(200);
    expect(r.json.records.map((x: any) => x.value)).toEqual(['wake up']);
    expect(Date.now() - started).toBeLessThan(8000);
  });

  it('returns an empty page after waitMs when nothing arrives', async () => {
    const topic = await newTopic(1);
    const r = await server.api('GET', `/v1/topics/${topic}/partitions/0/records?offset=latest&waitMs=300`);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ records: [], nextOffset: 0, highWatermark: 0, logStartOffset: 0 });
  });

  it('resolves earliest and latest and pages with nextOffset', async () => {
    const topic = await newTopic(1);
    await server.api('POST', `/v1/topics/${topic}/records`, {
      body: { records: Array.from({ length: 25 }, (_, i) => ({ value: i })) },
    });
    let r = await server.api('GET', `/v1/topics/${topic}/partitions/0/records?maxRecords=10`);
    expect(r.json.records.map((x: any) => x.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(r.json.nextOffset).toBe(10);
    r = await server.api('GET', `/v1/topics/${topic}/partitions/0/records?offset=20&maxRecords=10`);
    expect(r.json.records.map((x: any) => x.offset)).toEqual([20, 21, 22, 23, 24]);
    r = await server.api('GET', `/v1/topics/${topic}/partitions/0/records?offset=latest`);
    expect(r.json).toMatchObject({ records: [], nextOffset: 25, highWatermark: 25 });
  });

  it('finds the offset for a timestamp', async () => {
    const topic = await newTopic(1);
    await server.api('POST', `/v1/topics/${topic}/records`, {
      body: { records: [100, 200, 300].map((timestamp) => ({ value: timestamp, timestamp })) },
    });
    await server.api('POST', `/v1/topics/${topic}/records`, {
      body: { records: [400, 500].map((timestamp) => ({ value: timestamp, timestamp })) },
    });
    const at = async (ts: number) =>
      (await server.api('GET', `/v1/topics/${topic}/partitions/0/offsets?timestamp=${ts}`)).json.offset;
    expect(await at(0)).toBe(0);
    expect(await at(200)).toBe(1);
    expect(await at(250)).toBe(2);
    expect(await at(401)).toBe(4);
    expect(await at(501)).toBe(5);
  });

  it('reports partitions with log start, high watermark, segments and size', async () => {
    const topic = await newTopic(2);
    await server.api('POST', `/v1/topics/${topic}/records`, {
      body: { records: [{ value: 1, partition: 1 }] },
    });
    const r = await server.api('GET', `/v1/topics/${topic}/partitions`);
    expect(r.status).toBe(200);
    expect(r.json.partitions).toEqual([
      { partition: 0, logStartOffset: 0, highWatermark: 0, segments: 0, sizeBytes: 0 },
      expect.objectContaining({ partition: 1, logStartOffset: 0, highWatermark: 1, segments: 1 }),
    ]);
  });

  it('manages topics: list, describe, grow, change config, delete, and a recreated topic starts empty', async () => {
    const topic = await newTopic(2, { retentionMs: 60_000 });
    let r = await server.api('GET', `/v1/topics/${topic}`);
    expect(r.json).toMatchObject({
      name: topic,
      partitions: 2,
      config: { retentionMs: 60_000, retentionBytes: -1, cleanupPolicy: 'delete', maxRecordBytes: 1048576 },
    });
    r = await server.api('GET', '/v1/topics');
    expect(r.json.topics).toContainEqual({ name: topic, partitions: 2 });
    r = await server.api('PATCH', `/v1/topics/${topic}`, {
      body: { partitions: 5, config: { cleanupPolicy: 'compact' } },
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      partitions: 5,
      config: { cleanupPolicy: 'compact', retentionMs: 60_000 },
    });
    await server.api('POST', `/v1/topics/${topic}/records`, {
      body: { records: [{ value: 'old', partition: 4 }] },
    });
    r = await server.api('DELETE', `/v1/topics/${topic}`);
    expect(r.status).toBe(204);
    r = await server.api('GET', `/v1/topics/${topic}`);
    expect(r.status).toBe(404);
    r = await server.api('POST', '/v1/topics', { body: { name: topic, partitions: 5 } });
    expect(r.status).toBe(201);
    r = await server.api('GET', `/v1/topics/${topic}/partitions/4/records`);
    expect(r.json).toMatchObject({ records: [], highWatermark: 0 });
  });
});
