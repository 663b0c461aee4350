import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { DEFAULT_LIMITS } from '../../lib/limits.js';
import { DEFAULT_LOG_OPTIONS, Log } from '../../lib/log/log.js';
import { RecentEntries } from '../../lib/log/recent-entries.js';
import { MemoryMetadataStore } from '../../lib/metadata/memory-metadata-store.js';
import type { IndexEntry, PartitionRef } from '../../lib/metadata/metadata-store.js';
import { MemorySegmentStore } from '../../lib/storage/memory-segment-store.js';

const ref = { topicId: 'T', partition: 0 };
function entry(baseOffset: number, count: number): IndexEntry {
  return {
    ...ref,
    baseOffset,
    lastOffset: baseOffset + count - 1,
    recordCount: count,
    objectKey: `o${baseOffset}`,
    byteOffset: 8,
    byteLength: 10,
    objectSize: 30,
    firstTimestamp: 1,
    maxTimestamp: 1,
    maxTimestampSoFar: 1,
    createdAt: 1,
  };
}

describe('recent entries', () => {
  it('returns the contiguous run starting exactly at the offset, up to the limit', () => {
    const recent = new RecentEntries(new ManualClock(), { maxPerPartition: 10, ttlMs: 1000 });
    for (const [base, n] of [
      [0, 2],
      [2, 3],
      [5, 1],
    ] as const)
      recent.add(entry(base, n));
    expect(recent.run(ref, 2, 10)?.map((e) => e.baseOffset)).toEqual([2, 5]);
    expect(recent.run(ref, 0, 2)?.map((e) => e.baseOffset)).toEqual([0, 2]);
    expect(recent.run(ref, 3, 10)).toBeUndefined(); // mid-batch: ask DynamoDB
    expect(recent.run({ topicId: 'T', partition: 1 }, 0, 10)).toBeUndefined();
  });

  it('starts over after a gap (another writer committed in between)', () => {
    const recent = new RecentEntries(new ManualClock(), { maxPerPartition: 10, ttlMs: 1000 });
    recent.add(entry(0, 2));
    recent.add(entry(7, 1));
    expect(recent.run(ref, 0, 10)).toBeUndefined();
    expect(recent.run(ref, 7, 10)?.map((e) => e.baseOffset)).toEqual([7]);
  });

  it('forgets entries after the TTL and keeps only the newest per partition', () => {
    const clock = new ManualClock();
    const recent = new RecentEntries(clock, { maxPerPartition: 2, ttlMs: 1000 });
    recent.add(entry(0, 1));
    recent.add(entry(1, 1));
    recent.add(entry(2, 1));
    expect(recent.run(ref, 0, 10)).toBeUndefined();
    expect(recent.run(ref, 1, 10)?.map((e) => e.baseOffset)).toEqual([1, 2]);
    clock.advance(1001);
    expect(recent.run(ref, 1, 10)).toBeUndefined();
  });

  it('lets a reader tailing in the same server skip the index query', async () => {
    const metadata = new MemoryMetadataStore();
    let queries = 0;
    const counting = Object.assign(Object.create(metadata) as MemoryMetadataStore, {
      findEntries: (r: PartitionRef, o: number, l: number) => {
        queries++;
        return metadata.findEntries(r, o, l);
      },
    });
    const log = new Log({
      store: new MemorySegmentStore(),
      metadata: counting,
      clock: { now: () => Date.now() },
      limits: DEFAULT_LIMITS,
      options: { ...DEFAULT_LOG_OPTIONS, lingerMs: 0 },
    });
    await log.topics.create({ name: 't', partitions: 1 });
    await log.produce('t', { records: [{ value: 1 }, { value: 2 }] });
    await log.produce('t', { records: [{ value: 3 }] });
    const page = await log.fetch('t', 0, { offset: 0, maxRecords: 10, maxBytes: 1000, waitMs: 0 });
    expect(page.records.map((r) => r.offset)).toEqual([0, 1, 2]);
    expect(queries).toBe(0);
    await log.fetch('t', 0, { offset: 1, maxRecords: 10, maxBytes: 1000, waitMs: 0 });
    expect(queries).toBe(1); // mid-batch offsets still go to the index
  });

  it('forgets a partition, or everything, when told (a maintenance pass changed the index)', () => {
    const recent = new RecentEntries(new ManualClock(), { maxPerPartition: 10, ttlMs: 1000 });
    const other = { topicId: 'T', partition: 1 };
    recent.add(entry(0, 1));
    recent.add({ ...entry(0, 1), ...other });
    recent.forget(ref);
    expect(recent.run(ref, 0, 10)).toBeUndefined();
    expect(recent.run(other, 0, 10)).toHaveLength(1);
    recent.clear();
    expect(recent.run(other, 0, 10)).toBeUndefined();
  });

  it('holds the batch a read stopped inside for at most entryCacheTtlMs after reading it from the index', async () => {
    const clock = new ManualClock();
    const metadata = new MemoryMetadataStore();
    const store = new MemorySegmentStore();
    const options = { ...DEFAULT_LOG_OPTIONS, lingerMs: 0, entryCacheTtlMs: 3_000 };
    const reader = new Log({ store, metadata, clock, limits: DEFAULT_LIMITS, options });
    const compactor = new Log({ store, metadata, clock, limits: DEFAULT_LIMITS, options });
    await reader.topics.create({ name: 't', partitions: 1, config: { cleanupPolicy: 'compact' } });
    await reader.produce('t', { records: ['a', 'a', 'a', 'b'].map((key, value) => ({ key, value })) });
    await reader.produce('t', { records: [{ key: 'c', value: 4 }] });
    const one = async (offset: number) =>
      (await reader.fetch('t', 0, { offset, maxRecords: 1, maxBytes: 1000, waitMs: 0 })).records.map(
        (r) => r.offset,
      );
    clock.advance(5_000); // the recent commits are no longer served from memory
    expect(await one(0)).toEqual([0]); // stops inside the first batch, read from the index now
    await compactor.maintenance.compact({ minAgeMs: 0 }); // another instance drops offsets 0 and 1
    // Each read stops inside the batch again; that must not make the held entry younger.
    for (let waited = 0; waited <= 3_000; waited += 1_000) {
      const got = await one(1);
      expect([[1], [2]]).toContainEqual(got);
      clock.advance(1_000);
    }
    expect(await one(1)).toEqual([2]);
  });
});
