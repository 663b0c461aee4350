import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The acceptance scenario: 100,000 keyed records from 8 concurrent clients, every one read back,
 * in order per partition and per key, with no gap and no duplicate.
 */
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

describe('100,000 keyed records from 8 concurrent clients', () => {
  it('reads every record back in order with no gap and no duplicate', { timeout: 180_000 }, async () => {
    const topic = `scale.${Date.now().toString(36)}`;
    const partitions = 8;
    await server.api('POST', '/v1/topics', { body: { name: topic, partitions } });
    const clients = 8;
    const perClient = 12_500;
    const perRequest = 500;
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        for (let start = 0; start < perClient; start += perRequest) {
          const records = Array.from({ length: perRequest }, (_, i) => {
            const seq = start + i;
            return { key: `client${c}-key${seq % 50}`, value: { c, seq } };
          });
          const r = await server.api('POST', `/v1/topics/${topic}/records`, { body: { records } });
          expect(r.status).toBe(200);
        }
      }),
    );

    const seen = new Set<string>();
    const lastSeqByKey = new Map<string, number>();
    let total = 0;
    for (let p = 0; p < partitions; p++) {
      let offset = 0;
      let expectedOffset = 0;
      for (;;) {
        const r = await server.api(
          'GET',
          `/v1/topics/${topic}/partitions/${p}/records?offset=${offset}&maxRecords=10000&maxBytes=8388608`,
        );
        expect(r.status).toBe(200);
        for (const record of r.json.records) {
          expect(record.offset).toBe(expectedOffset++); // dense: no gap, no duplicate offset
          const id = `${record.value.c}:${record.value.seq}`;
          expect(seen.has(id)).toBe(false); // no duplicate record
          seen.add(id);
          const last = lastSeqByKey.get(record.key) ?? -1;
          expect(record.value.seq).toBeGreaterThan(last); // per-key order
          lastSeqByKey.set(record.key, record.value.seq);
          total++;
        }
        if (r.json.nextOffset >= r.json.highWatermark) break;
        offset = r.json.nextOffset;
      }
    }
    expect(total).toBe(clients * perClient);
    expect(seen.size).toBe(clients * perClient);
  });
});
