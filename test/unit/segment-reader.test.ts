import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../lib/limits.js';
import { DEFAULT_LOG_OPTIONS, Log } from '../../lib/log/log.js';
import { SegmentReader } from '../../lib/log/segment-reader.js';
import { MemoryMetadataStore } from '../../lib/metadata/memory-metadata-store.js';
import type { IndexEntry } from '../../lib/metadata/metadata-store.js';
import { MemorySegmentStore } from '../../lib/storage/memory-segment-store.js';

/** Counts the store's reads, to prove what the read path costs in S3 GETs. */
class CountingStore extends MemorySegmentStore {
  gets = 0;
  ranges: Array<[number, number]> = [];
  override async get(key: string): Promise<Buffer> {
    this.gets++;
    return super.get(key);
  }
  override async getRange(key: string, start: number, length: number): Promise<Buffer> {
    this.ranges.push([start, length]);
    return super.getRange(key, start, length);
  }
}

async function writeOneObjectOfEightPartitions() {
  const store = new CountingStore();
  const metadata = new MemoryMetadataStore();
  const writer = new Log({
    store,
    metadata,
    clock: { now: () => Date.now() },
    limits: DEFAULT_LIMITS,
    options: { ...DEFAULT_LOG_OPTIONS, lingerMs: 0 },
  });
  const topic = await writer.topics.create({ name: 't', partitions: 8 });
  await writer.produce('t', {
    records: Array.from({ length: 8 }, (_, partition) => ({ value: `p${partition}`, partition })),
  });
  const entries: IndexEntry[] = [];
  for (let partition = 0; partition < 8; partition++) {
    entries.push(...(await metadata.findEntries({ topicId: topic.topicId, partition }, 0, 10)));
  }
  return { store, metadata, entries };
}

describe('reading partitions that share one object', () => {
  it('costs one GET for the whole object, not one per partition, across concurrent fetches', async () => {
    const { store, metadata } = await writeOneObjectOfEightPartitions();
    store.gets = 0;
    const reader = new Log({
      store,
      metadata,
      clock: { now: () => Date.now() },
      limits: DEFAULT_LIMITS,
      options: { ...DEFAULT_LOG_OPTIONS, lingerMs: 0 },
    });
    const pages = await Promise.all(
      Array.from({ length: 8 }, (_, p) =>
        reader.fetch('t', p, { offset: 0, maxRecords: 10, maxBytes: 1000, waitMs: 0 }),
      ),
    );
    expect(pages.map((page) => JSON.parse(String(page.records[0]?.value)))).toEqual(
      Array.from({ length: 8 }, (_, p) => `p${p}`),
    );
    expect(store.gets).toBe(1);
  });

  it('coalesces the ranges of one large object into one ranged GET', async () => {
    const { store, entries } = await writeOneObjectOfEightPartitions();
    const reader = new SegmentReader(store, {
      wholeObjectMaxBytes: 0,
      cacheBytes: 0,
      coalesceGapBytes: 1024,
    });
    const batches = await reader.read(entries);
    expect(batches.map((b) => b.partition)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(store.ranges).toHaveLength(1);
  });

  it('reads far-apart ranges separately', async () => {
    const { store, entries } = await writeOneObjectOfEightPartitions();
    const reader = new SegmentReader(store, { wholeObjectMaxBytes: 0, cacheBytes: 0, coalesceGapBytes: 0 });
    const picked = [entries[0], entries[7]].filter((e): e is IndexEntry => e !== undefined);
    await reader.read(picked);
    expect(store.ranges).toHaveLength(2);
  });

  it('serves a just-written object from the write-through cache with no GET', async () => {
    const store = new CountingStore();
    const log = new Log({
      store,
      metadata: new MemoryMetadataStore(),
      clock: { now: () => Date.now() },
      limits: DEFAULT_LIMITS,
      options: { ...DEFAULT_LOG_OPTIONS, lingerMs: 0 },
    });
    await log.topics.create({ name: 't', partitions: 1 });
    await log.produce('t', { records: [{ value: 1 }] });
    await log.fetch('t', 0, { offset: 0, maxRecords: 10, maxBytes: 1000, waitMs: 0 });
    expect(store.gets + store.ranges.length).toBe(0);
  });
});
