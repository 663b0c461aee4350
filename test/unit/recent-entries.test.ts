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
});
