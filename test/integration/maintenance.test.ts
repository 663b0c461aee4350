import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { decodeBatches } from '../../lib/segment/format.js';
import { SEGMENT_PREFIX } from '../../lib/storage/segment-store.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Compaction, retention and garbage collection against DynamoDB Local and the S3 emulator, with a manual
 * clock: ages, the index-key guard (1 h) and the GC grace period pass by advancing it, never by sleeping.
 */
const HOUR = 60 * 60 * 1000;
const GRACE = 10 * 60 * 1000;
const clock = new ManualClock(Date.now());
let server: TestServer;
let failCompactionSwap = false;
beforeAll(async () => {
  server = await startTestServer({
    clock,
    ownBucket: true,
    // A grace of 10 min allows commits at most 4 min after their object's put (2 × 4 + 1 ≤ 10, §10.4).
    log: { topicCacheTtlMs: 0, lingerMs: 0, maxCommitDelayMs: 4 * 60_000 },
    maintenance: { gcGraceMs: GRACE, minAgeMs: 60_000 },
    maintenanceHooks: {
      afterCompactedObjectWritten: () => {
        if (failCompactionSwap) throw new Error('injected crash between the object write and the index swap');
      },
    },
  });
});
afterAll(async () => {
  await server?.close();
});

let n = 0;
async function newTopic(partitions: number, config?: Record<string, unknown>): Promise<string> {
  const name = `m${Date.now().toString(36)}.${n++}`;
  const r = await server.api('POST', '/v1/topics', {
    body: { name, partitions, ...(config ? { config } : {}) },
  });
  expect(r.status).toBe(201);
  return name;
}

async function produce(topic: string, records: unknown[]): Promise<any> {
  const r = await server.api('POST', `/v1/topics/${topic}/records`, { body: { records } });
  expect(r.status).toBe(200);
  return r.json;
}

async function readAll(
  topic: string,
  partition: number,
  from: number | 'earliest' = 'earliest',
): Promise<any[]> {
  const out: any[] = [];
  let offset: number | 'earliest' = from;
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

async function partitions(topic: string): Promise<any[]> {
  const r = await server.api('GET', `/v1/topics/${topic}/partitions`);
  expect(r.status).toBe(200);
  return r.json.partitions;
}

async function run(job: string, body?: unknown): Promise<any> {
  const r = await server.api('POST', `/v1/admin/maintenance/${job}`, body === undefined ? {} : { body });
  expect(r.status).toBe(200);
  return r.json;
}

async function objectKeys(): Promise<Set<string>> {
  const keys = new Set<string>();
  for await (const o of server.store.list(SEGMENT_PREFIX)) keys.add(o.key);
  return keys;
}

/** Runs passes until a pass completes (passes are bounded and resume). */
async function runToEnd(job: string, body?: unknown): Promise<any[]> {
  const reports: any[] = [];
  for (let i = 0; i < 20; i++) {
    const report = await run(job, body);
    reports.push(report);
    if (report.complete) return reports;
  }
  throw new Error(`${job} never completed`);
}

describe('small-segment compaction', () => {
  it('merges small multi-partition objects into one object per partition; content and offsets unchanged', async () => {
    const topic = await newTopic(2);
    for (let i = 0; i < 12; i++) {
      await produce(topic, [
        { partition: 0, key: `a${i}`, value: { i, p: 0 }, headers: { h: `x${i}` }, timestamp: 1_000 + i },
        { partition: 1, key: null, value: `text ${i}` },
      ]);
    }
    const before = [await readAll(topic, 0), await readAll(topic, 1)];
    expect((await partitions(topic)).map((p) => p.segments)).toEqual([12, 12]);

    clock.advance(2 * 60_000);
    const report = (await runToEnd('compact')).at(-1);
    expect(report.job).toBe('compact');
    // Indexing merges each partition's twelve batches into one, in one object for the topic.
    expect(report.objects.written).toBeGreaterThanOrEqual(1);
    expect(report.details.batchesIndexed).toBeGreaterThanOrEqual(2);
    expect(report.dynamodb.writeUnits).toBeGreaterThan(0);

    const after = await partitions(topic);
    expect(after.map((p) => p.segments)).toEqual([1, 1]);
    expect(after.map((p) => p.highWatermark)).toEqual([12, 12]);
    expect([await readAll(topic, 0), await readAll(topic, 1)]).toEqual(before);
  });

  it('leaves batches younger than minAgeMs alone unless the pass overrides it', async () => {
    const topic = await newTopic(1);
    for (let i = 0; i < 3; i++) await produce(topic, [{ value: i }]);
    await run('compact');
    expect((await partitions(topic))[0].segments).toBe(3);
    await run('compact', { minAgeMs: 0 });
    expect((await partitions(topic))[0].segments).toBe(1);
  });

  it('loses nothing and changes no offset under concurrent produce and fetch', async () => {
    const topic = await newTopic(2);
    const produced: Array<{ partition: number; offset: number; value: string }> = [];
    let stop = false;
    const producer = (async () => {
      for (let i = 0; !stop; i++) {
        const result = await produce(topic, [
          { partition: i % 2, value: `n${i}` },
          { partition: i % 2, value: `m${i}` },
        ]);
        result.offsets.forEach((o: any, j: number) => {
          produced.push({ partition: o.partition, offset: o.offset, value: j === 0 ? `n${i}` : `m${i}` });
        });
      }
    })();
    const reader = (async () => {
      while (!stop) {
        for (const p of [0, 1]) {
          const records = await readAll(topic, p);
          expect(records.map((r) => r.offset)).toEqual(records.map((_, i) => i)); // always dense from 0
        }
      }
    })();
    try {
      for (let pass = 0; pass < 4; pass++) {
        await new Promise((r) => setTimeout(r, 150));
        await run('compact', { minAgeMs: 0 });
      }
    } finally {
      stop = true;
      await Promise.all([producer, reader]);
    }
    await run('compact', { minAgeMs: 0 });
    for (const p of [0, 1]) {
      const records = await readAll(topic, p);
      const expected = produced.filter((x) => x.partition === p).sort((a, b) => a.offset - b.offset);
      expect(records.map((r) => [r.offset, r.value])).toEqual(expected.map((x) => [x.offset, x.value]));
    }
    expect((await partitions(topic)).every((p) => p.segments <= 2)).toBe(true);
  });

  it('two compactors racing produce the same log as one, and converge on one object per partition', async () => {
    const topic = await newTopic(1);
    for (let i = 0; i < 8; i++) await produce(topic, [{ value: i }]);
    const before = await readAll(topic, 0);
    const reports = await Promise.all([
      server.log.maintenance.compact({ minAgeMs: 0 }),
      server.log.maintenance.compact({ minAgeMs: 0 }),
    ]);
    // One of them indexed the eight batches (as one); the other found the range claimed.
    const indexed = reports.reduce((sum, r) => sum + (r.details.commitRecordsIndexed ?? 0), 0);
    expect(indexed).toBe(8);
    expect(await readAll(topic, 0)).toEqual(before);
    expect((await partitions(topic))[0].segments).toBeLessThanOrEqual(2);
    await run('compact', { minAgeMs: 0 });
    expect((await partitions(topic))[0].segments).toBe(1);
    expect(await readAll(topic, 0)).toEqual(before);
  });

  it('a crash between the new object and the index swap leaves only an orphan, which GC removes', async () => {
    await runToEnd('gc');
    clock.advance(GRACE + 1);
    await runToEnd('gc'); // start clean: every earlier orphan of this file is gone
    const topic = await newTopic(1);
    // Two indexed batches in two objects: something for compaction to merge.
    // The first two indexed by a pass, the last two by the failing pass, which then merges the two.
    for (let i = 0; i < 2; i++) await produce(topic, [{ value: i }]);
    await run('compact', { minAgeMs: 0 });
    for (let i = 2; i < 4; i++) await produce(topic, [{ value: i }]);
    const before = await readAll(topic, 0);
    const objectsBefore = await objectKeys();

    failCompactionSwap = true;
    const r = await server.api('POST', '/v1/admin/maintenance/compact', { body: { minAgeMs: 0 } });
    failCompactionSwap = false;
    expect(r.status).toBe(500);
    const t = await server.metadata.getTopic(topic, { consistent: true });
    const indexedIn = new Set<string>();
    for await (const e of server.metadata.listEntries({ topicId: t?.topicId ?? '', partition: 0 }, 0))
      indexedIn.add(e.objectKey);
    const orphans = [...(await objectKeys())].filter((k) => !objectsBefore.has(k) && !indexedIn.has(k));
    expect(orphans).toHaveLength(1);
    expect((await partitions(topic))[0].segments).toBe(2); // the index never moved
    expect(await readAll(topic, 0)).toEqual(before);

    let gc = (await runToEnd('gc')).at(-1);
    expect(gc.objects.deleted).toBe(0); // first sighting: a candidate, not yet deleted
    clock.advance(GRACE - 1000);
    gc = (await runToEnd('gc')).at(-1);
    expect(gc.objects.deleted).toBe(0);
    clock.advance(2000);
    gc = (await runToEnd('gc')).at(-1);
    expect(gc.objects.deleted).toBeGreaterThanOrEqual(1); // the orphan (and chain records' objects that aged out)
    const remaining = await objectKeys();
    expect(remaining.has(orphans[0] as string)).toBe(false);
    for (const key of objectsBefore) expect(remaining.has(key)).toBe(true); // referenced: never deleted
    expect(await readAll(topic, 0)).toEqual(before);
  });
});

describe('readers and crashed producers around compaction and GC', () => {
  it('a reader holding an index entry from before a swap still reads its bytes until the grace period ends', async () => {
    const topic = await newTopic(1);
    for (let i = 0; i < 3; i++) await produce(topic, [{ key: `k${i}`, value: i }]);
    const t = await server.metadata.getTopic(topic, { consistent: true });
    const ref = { topicId: t?.topicId ?? '', partition: 0 };
    const held = await server.metadata.findEntries(ref, 0, 10); // a fetch looked these up …
    await run('compact', { minAgeMs: 0 }); // … and then the indexer merged them into a new object
    const listed: string[] = [];
    for await (const e of server.metadata.listEntries(ref, 0)) listed.push(e.objectKey);
    expect(listed).not.toContain(held[0]?.objectKey);
    await runToEnd('gc'); // the old objects are now candidates, not yet deleted
    for (const entry of held) {
      const bytes = await server.store.getRange(entry.objectKey, entry.byteOffset, entry.byteLength);
      const [batch] = await decodeBatches(bytes);
      expect(batch?.records.map((r) => r.key?.toString())).toEqual([`k${entry.baseOffset}`]);
    }
    clock.advance(GRACE + 1);
    await runToEnd('gc');
    // Still referenced by the commit records until those go (an hour after their commit, §10.4).
    let left = await objectKeys();
    for (const entry of held) expect(left.has(entry.objectKey)).toBe(true);
    await produce(topic, [{ key: 'k3', value: 3 }]); // the chain's newest record always stays
    await run('compact', { minAgeMs: 0 });
    clock.advance(HOUR);
    await runToEnd('compact');
    await runToEnd('gc');
    clock.advance(GRACE + 1);
    await runToEnd('gc');
    left = await objectKeys();
    for (const entry of held) expect(left.has(entry.objectKey)).toBe(false);
  });

  it('deletes the orphan of a produce that crashed between its S3 put and its commit, after the grace period', async () => {
    let crash = false;
    const crashing = await startTestServer({
      clock,
      ownBucket: true,
      log: { topicCacheTtlMs: 0, lingerMs: 0, maxCommitDelayMs: 4 * 60_000 },
      maintenance: { gcGraceMs: GRACE },
      hooks: {
        afterSegmentPut: () => {
          if (crash) throw new Error('injected crash after the segment put');
        },
      },
    });
    try {
      const api = crashing.api;
      expect((await api('POST', '/v1/topics', { body: { name: 'orphans', partitions: 1 } })).status).toBe(
        201,
      );
      expect(
        (await api('POST', '/v1/topics/orphans/records', { body: { records: [{ value: 1 }] } })).status,
      ).toBe(200);
      const committed = new Set<string>();
      for await (const o of crashing.store.list(SEGMENT_PREFIX)) committed.add(o.key);
      crash = true;
      expect(
        (await api('POST', '/v1/topics/orphans/records', { body: { records: [{ value: 2 }] } })).status,
      ).toBe(500);
      crash = false;
      const all: string[] = [];
      for await (const o of crashing.store.list(SEGMENT_PREFIX)) all.push(o.key);
      const orphan = all.find((k) => !committed.has(k));
      expect(orphan).toBeDefined();
      const gc = async () => (await api('POST', '/v1/admin/maintenance/gc')).json;
      expect((await gc()).details.orphansMarked).toBe(1);
      clock.advance(GRACE - 1);
      expect((await gc()).objects.deleted).toBe(0);
      clock.advance(2);
      expect((await gc()).objects.deleted).toBe(1);
      const left: string[] = [];
      for await (const o of crashing.store.list(SEGMENT_PREFIX)) left.push(o.key);
      expect(left.sort()).toEqual([...committed].sort());
      const read = await api('GET', '/v1/topics/orphans/partitions/0/records');
      expect(read.json.records.map((r: any) => r.value)).toEqual([1]);
    } finally {
      await crashing.close();
    }
  });
});

describe('key compaction', () => {
  it('keeps exactly the latest value per key with its offset, then drops tombstones after deleteRetentionMs', async () => {
    const topic = await newTopic(1, { cleanupPolicy: 'compact', deleteRetentionMs: HOUR });
    await produce(topic, [
      { key: 'a', value: 1 },
      { key: 'b', value: 1 },
      { key: 'c', value: 1 },
    ]);
    await produce(topic, [
      { key: 'a', value: 2 },
      { key: 'c', value: null },
    ]);
    await produce(topic, [
      { key: 'b', value: 2 },
      { key: null, value: 'unkeyed' },
    ]);
    await produce(topic, [{ key: 'a', value: 3 }]);
    clock.advance(2 * 60_000);
    await runToEnd('compact');
    let records = await readAll(topic, 0);
    expect(records.map((r) => [r.offset, r.key, r.value])).toEqual([
      [4, 'c', null],
      [5, 'b', 2],
      [6, null, 'unkeyed'],
      [7, 'a', 3],
    ]);
    const parts = await partitions(topic);
    expect(parts[0]).toMatchObject({ logStartOffset: 0, highWatermark: 8 });

    clock.advance(HOUR + 1); // the tombstone's deleteRetentionMs has passed
    await runToEnd('compact');
    records = await readAll(topic, 0);
    expect(records.map((r) => [r.offset, r.key, r.value])).toEqual([
      [5, 'b', 2],
      [6, null, 'unkeyed'],
      [7, 'a', 3],
    ]);
    // Reading from an offset inside a gap continues at the next record.
    expect((await readAll(topic, 0, 1)).map((r) => r.offset)).toEqual([5, 6, 7]);
  });

  it('never touches records younger than minCompactionLagMs', async () => {
    const topic = await newTopic(1, { cleanupPolicy: 'compact', minCompactionLagMs: HOUR });
    await produce(topic, [{ key: 'k', value: 1 }]);
    await produce(topic, [{ key: 'k', value: 2 }]);
    await run('compact', { minAgeMs: 0 });
    expect((await readAll(topic, 0)).map((r) => r.value)).toEqual([1, 2]);
    clock.advance(HOUR + 1);
    await runToEnd('compact', { minAgeMs: 0 });
    expect((await readAll(topic, 0)).map((r) => [r.offset, r.value])).toEqual([[1, 2]]);
  });
});

describe('retention', () => {
  it('removes exactly the batches older than retentionMs; reads below the log start get 416', async () => {
    const topic = await newTopic(1, { retentionMs: HOUR });
    const now = clock.now();
    await produce(topic, [{ value: 'old-1', timestamp: now - 3 * HOUR }]);
    await produce(topic, [{ value: 'old-2', timestamp: now - 2 * HOUR }]);
    await produce(topic, [
      { value: 'mixed-old', timestamp: now - 5 * HOUR },
      { value: 'mixed-new', timestamp: now - HOUR / 2 },
    ]); // newest record is young: the whole batch stays
    await produce(topic, [{ value: 'new', timestamp: now }]);
    const report = (await runToEnd('retention')).at(-1);
    expect(report.details.logStartOffsetsAdvanced).toBeGreaterThanOrEqual(1);
    const [p] = await partitions(topic);
    expect(p).toMatchObject({ logStartOffset: 2, highWatermark: 5 });
    expect((await readAll(topic, 0)).map((r) => r.value)).toEqual(['mixed-old', 'mixed-new', 'new']);
    const below = await server.api('GET', `/v1/topics/${topic}/partitions/0/records?offset=1`);
    expect(below.status).toBe(416);
    expect(below.json).toMatchObject({ code: 'OFFSET_OUT_OF_RANGE', logStartOffset: 2, highWatermark: 5 });
    // Nothing younger than the limit goes, however often retention runs.
    await runToEnd('retention');
    expect((await partitions(topic))[0].logStartOffset).toBe(2);
  });

  it('removes the oldest batches beyond retentionBytes, keeping at least the limit', async () => {
    const topic = await newTopic(1, { retentionBytes: 1 });
    for (let i = 0; i < 5; i++) await produce(topic, [{ value: 'x'.repeat(1000) }]);
    const sizes = (await partitions(topic))[0].sizeBytes;
    await server.api('PATCH', `/v1/topics/${topic}`, {
      body: { config: { retentionBytes: Math.ceil((sizes * 2) / 5) } },
    });
    await runToEnd('retention');
    const [p] = await partitions(topic);
    expect(p.logStartOffset).toBe(3);
    expect(p.sizeBytes).toBeGreaterThanOrEqual(Math.ceil((sizes * 2) / 5) - 1);
  });

  it('removes index entries below the log start only after the key guard, and GC then deletes their objects', async () => {
    await runToEnd('gc');
    clock.advance(GRACE + 1);
    await runToEnd('gc');
    const topic = await newTopic(1, { retentionMs: 3 * HOUR });
    const now = clock.now();
    const before = await objectKeys();
    for (let i = 0; i < 3; i++) await produce(topic, [{ value: i, timestamp: now - 4 * HOUR }]);
    const expiredObjects = [...(await objectKeys())].filter((k) => !before.has(k));
    expect(expiredObjects).toHaveLength(3);
    await run('compact', { minAgeMs: 0 }); // indexed: one batch for the three, in one more object
    const t = await server.metadata.getTopic(topic, { consistent: true });
    for await (const e of server.metadata.listEntries({ topicId: t?.topicId ?? '', partition: 0 }, 0))
      expiredObjects.push(e.objectKey);
    expect(expiredObjects).toHaveLength(4);
    const known = await objectKeys();
    await produce(topic, [{ value: 'kept', timestamp: now }]); // left in the chain for now
    // The flush object of 'kept': the chain's newest record references it, and it always stays.
    const keptObject = [...(await objectKeys())].find((k) => !known.has(k));
    await runToEnd('retention');
    expect((await partitions(topic))[0]).toMatchObject({ logStartOffset: 3, segments: 1 });
    // Below the log start but younger than the key guard: the entries stay, so GC keeps their objects.
    await runToEnd('gc');
    clock.advance(GRACE + 1);
    await runToEnd('gc');
    let left = await objectKeys();
    expect(expiredObjects.filter((k) => !left.has(k))).toEqual([]);

    clock.advance(HOUR); // now past INDEX_KEY_REUSE_GUARD_MS: the entries below the log start may go
    const removed = (await runToEnd('retention')).reduce((sum, r) => sum + r.batches.deleted, 0);
    expect(removed).toBeGreaterThanOrEqual(1);
    // The indexed commit records go too (the chain's newest stays: it holds the 'kept' batch).
    const passes = await runToEnd('compact'); // indexes 'kept'; removes what an older mark passed
    clock.advance(2 * 60_000);
    passes.push(...(await runToEnd('compact')));
    const records = passes.reduce((sum, r) => sum + (r.details.commitRecordsRemoved ?? 0), 0);
    expect(records).toBeGreaterThanOrEqual(3);
    await runToEnd('gc');
    left = await objectKeys();
    expect(expiredObjects.every((k) => left.has(k))).toBe(true); // candidates now, deleted after the grace
    clock.advance(GRACE + 1);
    await runToEnd('gc');
    left = await objectKeys();
    expect(expiredObjects.filter((k) => left.has(k))).toEqual([]);
    expect(left.has(keptObject as string)).toBe(true);
    expect((await readAll(topic, 0)).map((r) => r.value)).toEqual(['kept']);
  });

  it('removes a deleted topic’s data through the same path', async () => {
    const topic = await newTopic(2);
    const before = await objectKeys();
    await produce(topic, [
      { partition: 0, value: 1 },
      { partition: 1, value: 2 },
    ]);
    const written = [...(await objectKeys())].filter((k) => !before.has(k));
    expect(written).toHaveLength(1);
    expect((await server.api('DELETE', `/v1/topics/${topic}`)).status).toBe(204);
    await runToEnd('retention'); // too soon: a writer from before the deletion may still be running
    clock.advance(HOUR + 1);
    const reports = await runToEnd('retention');
    expect(reports.reduce((sum, r) => sum + (r.details.deletedTopicsRemoved ?? 0), 0)).toBeGreaterThanOrEqual(
      1,
    );
    await runToEnd('gc');
    clock.advance(GRACE + 1);
    await runToEnd('gc');
    expect((await objectKeys()).has(written[0] as string)).toBe(false);
  });
});

describe('the admin endpoint', () => {
  it('answers bad calls clearly and refuses API keys', async () => {
    expect((await server.api('POST', '/v1/admin/maintenance/defrag')).status).toBe(400);
    const r = await server.api('POST', '/v1/admin/maintenance/gc', { body: { minAgeMs: 0 } });
    expect([r.status, r.json.code]).toEqual([400, 'INVALID_REQUEST']);
    expect(
      (await server.api('POST', '/v1/admin/maintenance/compact', { body: { minAgeMs: -1 } })).status,
    ).toBe(400);
    const key = await server.api('POST', '/v1/keys', {
      body: { name: 'all', permissions: [{ topics: '*', actions: ['admin', 'produce', 'consume'] }] },
    });
    const forbidden = await server.api('POST', '/v1/admin/maintenance/gc', { auth: key.json.token });
    expect([forbidden.status, forbidden.json.code]).toEqual([403, 'FORBIDDEN']);
  });
});
