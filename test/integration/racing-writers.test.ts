import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLog } from '../../functions/deps.js';
import { DEFAULT_LIMITS } from '../../lib/limits.js';
import { DEFAULT_LOG_OPTIONS, Log } from '../../lib/log/log.js';
import { DynamoDbMetadataStore } from '../../lib/metadata/dynamodb-metadata-store.js';
import { ensureTables, tableNames } from '../../lib/metadata/dynamodb-schema.js';
import { S3SegmentStore } from '../../lib/storage/s3-segment-store.js';
import { CommitFaults } from '../support/dynamodb-faults.js';
import { makeDynamoClient, makeS3Client, testEndpoints, uniquePrefix } from '../support/env.js';

/**
 * The commit protocol against DynamoDB Local with several independent writers, as several Lambda
 * instances would be: no batching, no shared cache, every race decided by DynamoDB's conditions.
 */
const dynamodb = () => makeDynamoClient();
let prefix: string;
beforeAll(async () => {
  prefix = uniquePrefix('race');
  await ensureTables(dynamodb(), prefix);
});
afterAll(() => undefined);

function lambdaLikeWriter(): Log {
  return createLog({
    dynamodb: dynamodb(),
    store: new S3SegmentStore(makeS3Client(), testEndpoints().bucket),
    tablePrefix: prefix,
    log: { ...DEFAULT_LOG_OPTIONS, lingerMs: 0, topicCacheTtlMs: 0 },
    limits: DEFAULT_LIMITS,
  });
}

async function readAll(log: Log, topic: string, partition: number) {
  const out: Array<{ offset: number; value: unknown }> = [];
  let offset = 0;
  for (;;) {
    const page = await log.fetch(topic, partition, {
      offset,
      maxRecords: 10_000,
      maxBytes: 8 << 20,
      waitMs: 0,
    });
    for (const r of page.records) out.push({ offset: r.offset, value: JSON.parse(String(r.value)) });
    if (page.nextOffset >= page.highWatermark) return out;
    offset = page.nextOffset;
  }
}

describe('independent writers racing on DynamoDB', () => {
  it('give one partition dense, unique offsets with every request contiguous', {
    timeout: 120_000,
  }, async () => {
    const writers = Array.from({ length: 4 }, lambdaLikeWriter);
    const topic = `race.single.${Date.now().toString(36)}`;
    await writers[0]?.topics.create({ name: topic, partitions: 1 });
    const results = await Promise.all(
      Array.from({ length: 16 }, async (_, producer) => {
        const writer = writers[producer % writers.length] as Log;
        const offsets: number[][] = [];
        for (let i = 0; i < 5; i++) {
          const r = await writer.produce(topic, {
            records: [0, 1, 2].map((k) => ({ value: { producer, i, k } })),
          });
          offsets.push(r.offsets.map((o) => o.offset));
        }
        return offsets;
      }),
    );
    for (const request of results.flat())
      expect(request).toEqual([request[0], (request[0] ?? 0) + 1, (request[0] ?? 0) + 2]);
    const all = results.flat(2).sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 16 * 5 * 3 }, (_, i) => i));
    const records = await readAll(writers[0] as Log, topic, 0);
    expect(records.map((r) => r.offset)).toEqual(all);
  });

  it('commit multi-partition requests atomically under contention', { timeout: 120_000 }, async () => {
    const writers = Array.from({ length: 4 }, lambdaLikeWriter);
    const topic = `race.multi.${Date.now().toString(36)}`;
    await writers[0]?.topics.create({ name: topic, partitions: 3 });
    await Promise.all(
      Array.from({ length: 12 }, async (_, producer) => {
        const writer = writers[producer % writers.length] as Log;
        for (let i = 0; i < 4; i++) {
          await writer.produce(topic, {
            records: [0, 1, 2].map((partition) => ({ value: { producer, i }, partition })),
          });
        }
      }),
    );
    // Every request put one record in each partition: each partition holds each (producer, i) exactly once.
    for (let p = 0; p < 3; p++) {
      const records = await readAll(writers[1] as Log, topic, p);
      expect(records.map((r) => r.offset)).toEqual(Array.from({ length: 48 }, (_, i) => i));
      const ids = records.map((r) => JSON.stringify(r.value)).sort();
      expect(new Set(ids).size).toBe(48);
    }
  });

  it('let every reader see an acknowledged write at once (guarantee 6)', async () => {
    const servers = Array.from({ length: 3 }, lambdaLikeWriter);
    const topic = `race.visible.${Date.now().toString(36)}`;
    await servers[0]?.topics.create({ name: topic, partitions: 2 });
    for (let i = 0; i < 20; i++) {
      const writer = servers[i % 3] as Log;
      const reader = servers[(i + 1) % 3] as Log;
      const { offsets } = await writer.produce(topic, { records: [{ key: `k${i}`, value: i }] });
      const [acked] = offsets;
      if (!acked) throw new Error('no offset');
      const page = await reader.fetch(topic, acked.partition, {
        offset: acked.offset,
        maxRecords: 1,
        maxBytes: 1000,
        waitMs: 0,
      });
      expect(page.highWatermark).toBeGreaterThan(acked.offset);
      expect(JSON.parse(String(page.records[0]?.value))).toBe(i);
    }
  });

  it('recognise their own commit after a lost DynamoDB response instead of appending twice', async () => {
    const client = dynamodb();
    // The answer is lost below the adapter, in the SDK client itself: the adapter classifies the timeout.
    const faults = new CommitFaults();
    faults.attach(client);
    const log = new Log({
      store: new S3SegmentStore(makeS3Client(), testEndpoints().bucket),
      metadata: new DynamoDbMetadataStore(client, tableNames(prefix)),
      clock: { now: () => Date.now() },
      limits: DEFAULT_LIMITS,
      options: { ...DEFAULT_LOG_OPTIONS, lingerMs: 0 },
    });
    const topic = `race.lost.${Date.now().toString(36)}`;
    await log.topics.create({ name: topic, partitions: 2 });
    // Lose the answer of the first two commits, each applied: one of one partition, one of two.
    faults.ambiguous = true;
    faults.onCommit = () => {
      if (faults.failed >= 2) faults.ambiguous = false;
    };
    const single = await log.produce(topic, { records: [{ value: 'a', partition: 0 }] });
    const multi = await log.produce(topic, {
      records: [
        { value: 'b', partition: 0 },
        { value: 'c', partition: 1 },
      ],
    });
    expect(single.offsets.map((o) => o.offset)).toEqual([0]);
    expect(multi.offsets.map((o) => [o.partition, o.offset])).toEqual([
      [0, 1],
      [1, 0],
    ]);
    expect((await readAll(log, topic, 0)).map((r) => r.value)).toEqual(['a', 'b']);
    expect((await readAll(log, topic, 1)).map((r) => r.value)).toEqual(['c']);
    expect(faults.failed).toBe(2);
  });
});
