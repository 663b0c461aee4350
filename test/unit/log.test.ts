import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { SluiceError } from '../../lib/errors.js';
import { DEFAULT_LIMITS } from '../../lib/limits.js';
import type { AppenderHooks } from '../../lib/log/appender.js';
import { DEFAULT_LOG_OPTIONS, Log, type LogOptions } from '../../lib/log/log.js';
import type { CommitRecord } from '../../lib/metadata/commit-record.js';
import { MemoryMetadataStore } from '../../lib/metadata/memory-metadata-store.js';
import { CommitOutcomeUnknownError, type MetadataStore } from '../../lib/metadata/metadata-store.js';
import { partitionForKey } from '../../lib/partitioner.js';
import { MemorySegmentStore } from '../../lib/storage/memory-segment-store.js';

function makeLog(
  options: Partial<LogOptions> = {},
  shared: {
    store?: MemorySegmentStore;
    metadata?: MetadataStore;
    hooks?: AppenderHooks;
    clock?: ManualClock;
  } = {},
) {
  const store = shared.store ?? new MemorySegmentStore();
  const metadata = shared.metadata ?? new MemoryMetadataStore();
  const log = new Log({
    store,
    metadata,
    clock: shared.clock ?? { now: () => Date.now() },
    limits: DEFAULT_LIMITS,
    options: { ...DEFAULT_LOG_OPTIONS, lingerMs: 0, pollIntervalMs: 20, ...options },
    ...(shared.hooks ? { hooks: shared.hooks } : {}),
  });
  return { log, store, metadata };
}

async function objectCount(store: MemorySegmentStore): Promise<number> {
  let n = 0;
  for await (const _ of store.list('segments/')) n++;
  return n;
}

describe('produce and fetch', () => {
  it('returns each record as produced: JSON, text and binary values, keys, headers, timestamps', async () => {
    const { log } = makeLog();
    await log.topics.create({ name: 't', partitions: 1 });
    await log.produce('t', {
      records: [{ key: 'k1', value: { a: [1, 'x', null] }, headers: { h: 'v' }, timestamp: 5 }],
    });
    await log.produce('t', { format: 'text', records: [{ value: 'héllo' }] });
    await log.produce('t', {
      format: 'binary',
      records: [{ key: '', value: Buffer.from([0, 255, 7]).toString('base64') }],
    });
    await log.produce('t', { records: [{ key: 'gone', value: null }] });
    const { records, nextOffset, highWatermark } = await log.fetch('t', 0, {
      offset: 'earliest',
      maxRecords: 10,
      maxBytes: 1 << 20,
      waitMs: 0,
    });
    expect(records.map((r) => r.offset)).toEqual([0, 1, 2, 3]);
    expect(JSON.parse(String(records[0]?.value))).toEqual({ a: [1, 'x', null] });
    expect(records[0]).toMatchObject({ format: 'json', headers: { h: 'v' }, timestamp: 5 });
    expect(records[0]?.key?.toString()).toBe('k1');
    expect(records[1]?.value?.toString()).toBe('héllo');
    expect(records[1]?.format).toBe('text');
    expect([...(records[2]?.value ?? [])]).toEqual([0, 255, 7]);
    expect(records[2]?.key?.length).toBe(0);
    expect(records[3]?.value).toBeNull();
    expect({ nextOffset, highWatermark }).toEqual({ nextOffset: 4, highWatermark: 4 });
  });

  it('answers with one offset per record in request order', async () => {
    const { log } = makeLog();
    await log.topics.create({ name: 't', partitions: 3 });
    const { offsets } = await log.produce('t', {
      records: [
        { value: 1, partition: 2 },
        { value: 2, partition: 0 },
        { value: 3, partition: 2 },
      ],
    });
    expect(offsets.map((o) => [o.partition, o.offset])).toEqual([
      [2, 0],
      [0, 0],
      [2, 1],
    ]);
  });

  it("puts a keyed record on Kafka's murmur2 partition and a request's null-key records on one partition", async () => {
    const { log } = makeLog();
    await log.topics.create({ name: 't', partitions: 7 });
    const { offsets } = await log.produce('t', { records: [{ key: 'user-42', value: 1 }] });
    expect(offsets[0]?.partition).toBe(partitionForKey(Buffer.from('user-42'), 7));
    const many = await log.produce('t', { records: Array.from({ length: 20 }, (_, i) => ({ value: i })) });
    expect(new Set(many.offsets.map((o) => o.partition)).size).toBe(1);
  });

  it('reads from the middle of a batch and honours maxRecords and maxBytes', async () => {
    const { log } = makeLog();
    await log.topics.create({ name: 't', partitions: 1 });
    await log.produce('t', {
      format: 'text',
      records: Array.from({ length: 10 }, (_, i) => ({ value: 'x'.repeat(100) + i })),
    });
    await log.produce('t', {
      format: 'text',
      records: Array.from({ length: 10 }, (_, i) => ({ value: 'y'.repeat(100) + i })),
    });
    const mid = await log.fetch('t', 0, { offset: 7, maxRecords: 5, maxBytes: 1 << 20, waitMs: 0 });
    expect(mid.records.map((r) => r.offset)).toEqual([7, 8, 9, 10, 11]);
    expect(mid.nextOffset).toBe(12);
    const small = await log.fetch('t', 0, { offset: 3, maxRecords: 100, maxBytes: 250, waitMs: 0 });
    expect(small.records.map((r) => r.offset)).toEqual([3, 4]);
    const tiny = await log.fetch('t', 0, { offset: 3, maxRecords: 100, maxBytes: 1, waitMs: 0 });
    expect(tiny.records.map((r) => r.offset)).toEqual([3]);
  });

  it('resolves earliest and latest, and refuses offsets outside the log with OFFSET_OUT_OF_RANGE', async () => {
    const { log } = makeLog();
    await log.topics.create({ name: 't', partitions: 1 });
    await log.produce('t', { records: [{ value: 1 }, { value: 2 }] });
    const latest = await log.fetch('t', 0, { offset: 'latest', maxRecords: 10, maxBytes: 1000, waitMs: 0 });
    expect(latest).toMatchObject({ records: [], nextOffset: 2, highWatermark: 2, logStartOffset: 0 });
    const error = await log
      .fetch('t', 0, { offset: 3, maxRecords: 10, maxBytes: 1000, waitMs: 0 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SluiceError);
    expect(error).toMatchObject({
      code: 'OFFSET_OUT_OF_RANGE',
      details: { logStartOffset: 0, highWatermark: 2 },
    });
  });

  it('wakes a long-poll when a record arrives', async () => {
    const { log } = makeLog();
    await log.topics.create({ name: 't', partitions: 1 });
    const started = Date.now();
    const poll = log.fetch('t', 0, { offset: 0, maxRecords: 10, maxBytes: 1000, waitMs: 5000 });
    setTimeout(() => void log.produce('t', { records: [{ value: 'late' }] }), 50);
    const result = await poll;
    expect(result.records.map((r) => r.offset)).toEqual([0]);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('sees records committed by another process while long-polling', async () => {
    const store = new MemorySegmentStore();
    const metadata = new MemoryMetadataStore();
    const reader = makeLog({}, { store, metadata }).log;
    const writer = makeLog({}, { store, metadata }).log;
    await writer.topics.create({ name: 't', partitions: 1 });
    const poll = reader.fetch('t', 0, { offset: 0, maxRecords: 10, maxBytes: 1000, waitMs: 5000 });
    setTimeout(() => void writer.produce('t', { records: [{ value: 'elsewhere' }] }), 50);
    expect((await poll).records).toHaveLength(1);
  });

  it('ends an empty long-poll after waitMs', async () => {
    const { log } = makeLog();
    await log.topics.create({ name: 't', partitions: 1 });
    const result = await log.fetch('t', 0, { offset: 'latest', maxRecords: 10, maxBytes: 1000, waitMs: 100 });
    expect(result.records).toEqual([]);
  });
});

describe('commit protocol', () => {
  it('gives racing writers on one partition dense, unique offsets', async () => {
    const store = new MemorySegmentStore();
    const metadata = new MemoryMetadataStore();
    const writers = Array.from({ length: 8 }, () => makeLog({}, { store, metadata }).log);
    await writers[0]?.topics.create({ name: 't', partitions: 1 });
    const results = await Promise.all(
      writers.flatMap((w, i) =>
        Array.from({ length: 5 }, (_, j) =>
          w.produce('t', { records: [{ value: `${i}-${j}` }, { value: 'second' }] }),
        ),
      ),
    );
    const offsets = results.flatMap((r) => r.offsets.map((o) => o.offset)).sort((a, b) => a - b);
    expect(offsets).toEqual(Array.from({ length: 80 }, (_, i) => i));
    for (const r of results) expect(r.offsets[1]?.offset).toBe((r.offsets[0]?.offset ?? -1) + 1);
  });

  it('makes nothing of a multi-partition request visible when it fails between segment put and commit', async () => {
    const hooks: AppenderHooks = {
      afterSegmentPut: () => {
        throw new Error('injected crash after the segment put');
      },
    };
    const { log, store } = makeLog({}, { hooks });
    await log.topics.create({ name: 't', partitions: 3 });
    await expect(
      log.produce('t', { records: [0, 1, 2].map((partition) => ({ value: partition, partition })) }),
    ).rejects.toThrow('injected crash');
    for (const p of [0, 1, 2]) {
      const r = await log.fetch('t', p, { offset: 'earliest', maxRecords: 10, maxBytes: 1000, waitMs: 0 });
      expect(r.highWatermark).toBe(0);
    }
    expect(await objectCount(store)).toBe(1); // the orphan, left for garbage collection
  });

  it('recognises its own commit after an ambiguous failure instead of committing twice', async () => {
    const inner = new MemoryMetadataStore();
    let failNext = true;
    const flaky: MetadataStore = Object.assign(Object.create(inner) as MemoryMetadataStore, {
      appendCommit: async (record: CommitRecord) => {
        await inner.appendCommit(record);
        if (failNext) {
          failNext = false;
          throw new CommitOutcomeUnknownError(record.topicId, record.seq, {
            cause: new Error('socket hang up: response lost'),
          });
        }
      },
    });
    const { log } = makeLog({}, { metadata: flaky });
    await log.topics.create({ name: 't', partitions: 1 });
    const { offsets } = await log.produce('t', { records: [{ value: 1 }, { value: 2 }] });
    expect(offsets.map((o) => o.offset)).toEqual([0, 1]);
    const r = await log.fetch('t', 0, { offset: 0, maxRecords: 10, maxBytes: 1000, waitMs: 0 });
    expect(r.highWatermark).toBe(2);
  });

  it('merges concurrent requests into one segment per flush in agent mode, each request atomic', async () => {
    const { log, store } = makeLog({ lingerMs: 30 });
    await log.topics.create({ name: 't', partitions: 4 });
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        log.produce('t', { records: [0, 1, 2, 3].map((partition) => ({ value: i, partition })) }),
      ),
    );
    expect(await objectCount(store)).toBe(1);
    for (const p of [0, 1, 2, 3]) {
      const offsets = results.map((r) => r.offsets[p]?.offset).sort((a, b) => (a ?? 0) - (b ?? 0));
      expect(offsets).toEqual(Array.from({ length: 10 }, (_, i) => i));
    }
  });

  it('fails only the requests of a flush whose topic could not commit', async () => {
    const store = new MemorySegmentStore();
    const inner = new MemoryMetadataStore();
    let unavailable = '';
    const picky: MetadataStore = Object.assign(Object.create(inner) as MemoryMetadataStore, {
      appendCommit: async (record: CommitRecord) => {
        if (record.topicId === unavailable) throw new Error('that topic is unavailable');
        return inner.appendCommit(record);
      },
    });
    const { log } = makeLog({ lingerMs: 30 }, { store, metadata: picky });
    await log.topics.create({ name: 't', partitions: 2 });
    unavailable = (await log.topics.create({ name: 'u', partitions: 2 })).topicId;
    const [ok, failed] = await Promise.allSettled([
      log.produce('t', { records: [{ value: 'a', partition: 0 }] }),
      log.produce('u', { records: [{ value: 'b', partition: 1 }] }),
    ]);
    expect(ok.status).toBe('fulfilled');
    expect(failed.status).toBe('rejected');
  });
});

describe('corruption', () => {
  it('reports a corrupt batch as an error and never returns its bytes as records', async () => {
    class FlippingStore extends MemorySegmentStore {
      override async get(key: string): Promise<Buffer> {
        const bytes = await super.get(key);
        bytes[120] = (bytes[120] ?? 0) ^ 0xff; // inside the batch payload
        return bytes;
      }
    }
    const store = new FlippingStore();
    const writer = makeLog({}, { store }).log;
    await writer.topics.create({ name: 't', partitions: 1 });
    await writer.produce('t', { format: 'text', records: [{ value: 'x'.repeat(200) }] });
    // A fresh reader (no write-through cache) must read the object from the store.
    const reader = makeLog(
      {},
      { store, metadata: (writer as unknown as { metadata: MetadataStore }).metadata },
    ).log;
    await expect(
      reader.fetch('t', 0, { offset: 0, maxRecords: 10, maxBytes: 1000, waitMs: 0 }),
    ).rejects.toMatchObject({ name: 'CorruptBatchError', code: 'INTERNAL' });
  });
});

describe('offset for timestamp', () => {
  it('finds the first offset whose timestamp is at or after the target', async () => {
    const { log } = makeLog();
    await log.topics.create({ name: 't', partitions: 1 });
    for (let batch = 0; batch < 20; batch++) {
      await log.produce('t', {
        records: [0, 1, 2].map((i) => ({ value: i, timestamp: 1000 + batch * 30 + i * 10 })),
      });
    }
    expect(await log.offsetForTimestamp('t', 0, 0)).toBe(0);
    expect(await log.offsetForTimestamp('t', 0, 1000)).toBe(0);
    expect(await log.offsetForTimestamp('t', 0, 1001)).toBe(1);
    expect(await log.offsetForTimestamp('t', 0, 1000 + 7 * 30 + 15)).toBe(7 * 3 + 2);
    expect(await log.offsetForTimestamp('t', 0, 1000 + 19 * 30 + 20)).toBe(59);
    expect(await log.offsetForTimestamp('t', 0, 99_999)).toBe(60);
  });

  it('uses the running maximum when producer timestamps go backwards', async () => {
    const { log } = makeLog();
    await log.topics.create({ name: 't', partitions: 1 });
    await log.produce('t', { records: [{ value: 0, timestamp: 500 }] });
    await log.produce('t', { records: [{ value: 1, timestamp: 100 }] });
    await log.produce('t', { records: [{ value: 2, timestamp: 600 }] });
    expect(await log.offsetForTimestamp('t', 0, 200)).toBe(0);
    expect(await log.offsetForTimestamp('t', 0, 550)).toBe(2);
  });
});

describe('topics', () => {
  it('keeps a recreated topic apart from the deleted incarnation', async () => {
    const clock = new ManualClock();
    const { log } = makeLog({ topicCacheTtlMs: 0 }, { clock });
    await log.topics.create({ name: 't', partitions: 1 });
    await log.produce('t', { records: [{ value: 'old' }] });
    await log.topics.delete('t');
    await log.topics.create({ name: 't', partitions: 1 });
    const r = await log.fetch('t', 0, { offset: 'earliest', maxRecords: 10, maxBytes: 1000, waitMs: 0 });
    expect(r).toMatchObject({ records: [], highWatermark: 0 });
  });

  it('reports segments and size per partition', async () => {
    const { log } = makeLog();
    await log.topics.create({ name: 't', partitions: 2 });
    await log.produce('t', {
      records: [
        { value: 1, partition: 0 },
        { value: 2, partition: 1 },
      ],
    });
    await log.produce('t', { records: [{ value: 3, partition: 0 }] });
    const parts = await log.partitions('t');
    expect(parts.map((p) => [p.partition, p.highWatermark, p.segments])).toEqual([
      [0, 2, 2],
      [1, 1, 1],
    ]);
    expect(parts.every((p) => p.sizeBytes > 0)).toBe(true);
  });
});

describe('index reads a reader does not pay for twice', () => {
  function counting() {
    const metadata = new MemoryMetadataStore();
    const calls = { findEntries: 0, getHead: 0, limits: [] as number[] };
    const findEntries = metadata.findEntries.bind(metadata);
    const getHead = metadata.getHead.bind(metadata);
    metadata.findEntries = async (ref, offset, limit) => {
      calls.findEntries++;
      calls.limits.push(limit);
      return findEntries(ref, offset, limit);
    };
    metadata.getHead = async (topicId) => {
      calls.getHead++;
      return getHead(topicId);
    };
    return { metadata, calls };
  }

  it('continues inside a batch without asking the index again, and sizes queries by records per batch', async () => {
    const { metadata, calls } = counting();
    const { log } = makeLog({}, { metadata });
    await log.topics.create({ name: 't', partitions: 1 });
    for (let b = 0; b < 4; b++) {
      await log.produce('t', { records: Array.from({ length: 10 }, (_, i) => ({ value: b * 10 + i })) });
    }
    const first = await log.fetch('t', 0, { offset: 0, maxRecords: 25, maxBytes: 1 << 20, waitMs: 0 });
    expect(first.nextOffset).toBe(25);
    calls.findEntries = 0;
    calls.limits = [];
    const second = await log.fetch('t', 0, { offset: 25, maxRecords: 10, maxBytes: 1 << 20, waitMs: 0 });
    expect(second.records.map((r) => r.offset)).toEqual([25, 26, 27, 28, 29, 30, 31, 32, 33, 34]);
    // The batch holding offset 25 is known; one query from the next batch boundary, sized for 10 records.
    expect(calls.findEntries).toBe(1);
    expect(calls.limits[0]).toBeLessThanOrEqual(2);
  });

  it('remembers the batch a read stopped inside, not the last one its query returned', async () => {
    const { metadata, calls } = counting();
    const { log } = makeLog({}, { metadata });
    await log.topics.create({ name: 't', partitions: 1 });
    for (let b = 0; b < 5; b++) {
      await log.produce('t', { records: Array.from({ length: 10 }, (_, i) => ({ value: b * 10 + i })) });
    }
    await log.fetch('t', 0, { offset: 0, maxRecords: 10, maxBytes: 1 << 20, waitMs: 0 }); // learns 10 per batch
    await log.fetch('t', 0, { offset: 10, maxRecords: 15, maxBytes: 1 << 20, waitMs: 0 }); // stops at 25
    calls.findEntries = 0;
    const next = await log.fetch('t', 0, { offset: 25, maxRecords: 5, maxBytes: 1 << 20, waitMs: 0 });
    expect(next.records.map((r) => r.offset)).toEqual([25, 26, 27, 28, 29]);
    expect(calls.findEntries).toBe(0); // all five records were in the batch it stopped inside
  });

  it("answers a commit's range check from a high watermark this process already saw", async () => {
    const { metadata, calls } = counting();
    const { log } = makeLog({}, { metadata });
    await log.topics.create({ name: 't', partitions: 1 });
    await log.produce('t', { records: [{ value: 1 }, { value: 2 }] });
    calls.getHead = 0;
    expect((await log.watermarks('t', 0, 2)).highWatermark).toBe(2);
    expect(calls.getHead).toBe(0); // known from this process's own commit
    expect((await log.watermarks('t', 0, 3)).highWatermark).toBe(2);
    expect(calls.getHead).toBe(1); // above what it knows: it asks
  });
});
