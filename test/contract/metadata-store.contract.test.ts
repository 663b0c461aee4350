import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { InvalidRequestError, TopicExistsError, TopicNotFoundError } from '../../lib/errors.js';
import { type CommitRecord, endsAfter, entryOf } from '../../lib/metadata/commit-record.js';
import { DynamoDbMetadataStore } from '../../lib/metadata/dynamodb-metadata-store.js';
import { ensureTables } from '../../lib/metadata/dynamodb-schema.js';
import { MemoryMetadataStore } from '../../lib/metadata/memory-metadata-store.js';
import {
  CommitConflictError,
  type IdempotencyCompletion,
  IdempotencyLostError,
  type IndexEntry,
  type MetadataStore,
} from '../../lib/metadata/metadata-store.js';
import { DEFAULT_TOPIC_CONFIG, type Topic } from '../../lib/types.js';
import { makeDynamoClient, uniquePrefix } from '../support/env.js';

const adapters: Array<[string, () => Promise<MetadataStore>]> = [
  ['memory', async () => new MemoryMetadataStore()],
  [
    'DynamoDB (emulator)',
    async () => {
      const client: DynamoDBClient = makeDynamoClient();
      const prefix = uniquePrefix('meta');
      return new DynamoDbMetadataStore(client, await ensureTables(client, prefix));
    },
  ],
];

function topic(name: string, partitions = 2): Topic {
  return {
    name,
    topicId: `id-${name}-${Math.random().toString(36).slice(2)}`,
    partitions,
    config: DEFAULT_TOPIC_CONFIG,
    createdAt: 1_700_000_000_000,
    logStartOffsets: {},
  };
}

function entry(
  topicId: string,
  partition: number,
  baseOffset: number,
  count: number,
  objectKey = 'o1',
): IndexEntry {
  return {
    topicId,
    partition,
    baseOffset,
    lastOffset: baseOffset + count - 1,
    recordCount: count,
    objectKey,
    byteOffset: 8,
    byteLength: 100,
    objectSize: 200,
    firstTimestamp: 10,
    maxTimestamp: 20,
    maxTimestampSoFar: 20,
    createdAt: 1,
  };
}

/** The commit record of `entries` (one topic, one object) at `seq`, following the chain's current head. */
async function recordOf(store: MetadataStore, entries: IndexEntry[], seq?: number): Promise<CommitRecord> {
  const first = entries[0] as IndexEntry;
  const head = await store.getHead(first.topicId);
  const batches = entries.map((e) => ({
    partition: e.partition,
    baseOffset: e.baseOffset,
    lastOffset: e.lastOffset,
    recordCount: e.recordCount,
    byteOffset: e.byteOffset,
    byteLength: e.byteLength,
    firstTimestamp: e.firstTimestamp,
    maxTimestamp: e.maxTimestamp,
  }));
  return {
    topicId: first.topicId,
    seq: seq ?? head.seq + 1,
    objectKey: first.objectKey,
    objectSize: first.objectSize,
    createdAt: first.createdAt,
    batches,
    ends: endsAfter(head, batches),
  };
}

/** Commits `entries` as the chain's next record (what the Appender does). */
async function commit(
  store: MetadataStore,
  entries: IndexEntry[],
  completions?: IdempotencyCompletion[],
  seq?: number,
): Promise<void> {
  await store.appendCommit(await recordOf(store, entries, seq), completions);
}

/**
 * Puts entries straight into the indexed tier (what the indexer does), with the topic's mark past them, as
 * if a chain had held them before.
 */
async function indexed(store: MetadataStore, entries: IndexEntry[]): Promise<void> {
  await store.putIndexEntries(entries);
  const ends: Array<{ nextOffset: number; maxTimestampSoFar: number }> = [];
  for (const e of entries) {
    while (ends.length <= e.partition)
      ends.push({ nextOffset: 0, maxTimestampSoFar: Number.MIN_SAFE_INTEGER });
    const end = ends[e.partition] as { nextOffset: number; maxTimestampSoFar: number };
    end.nextOffset = Math.max(end.nextOffset, e.lastOffset + 1);
    end.maxTimestampSoFar = Math.max(end.maxTimestampSoFar, e.maxTimestampSoFar);
  }
  const topicId = (entries[0] as IndexEntry).topicId;
  const mark = await store.getIndexMark(topicId);
  await store.advanceIndexMark(topicId, mark.seq, { seq: mark.seq + 1, ends }, 1);
}

/** What a reader sees of an entry: no chain position, whichever tier served it. */
function plain(e: IndexEntry | undefined): IndexEntry | undefined {
  if (!e) return e;
  const { seq: _seq, ...rest } = e;
  return rest;
}

describe.each(adapters)('MetadataStore contract: %s', (_name, make) => {
  let store: MetadataStore;
  const setup = async () => {
    store = await make();
  };

  describe('topics', () => {
    it('creates, reads, lists and deletes a topic', async () => {
      await setup();
      const t = topic('orders', 3);
      await store.createTopic(t);
      expect(await store.getTopic('orders', { consistent: true })).toEqual(t);
      await store.createTopic(topic('audit', 1));
      expect(await store.listTopics()).toEqual([
        { name: 'audit', partitions: 1 },
        { name: 'orders', partitions: 3 },
      ]);
      const deleted = await store.deleteTopic('orders');
      expect(deleted.topicId).toBe(t.topicId);
      expect(await store.getTopic('orders', { consistent: true })).toBeUndefined();
      expect((await store.listDeletedTopics()).map((d) => d.topicId)).toEqual([t.topicId]);
    });

    it('refuses a second topic of the same name', async () => {
      await setup();
      await store.createTopic(topic('dup'));
      await expect(store.createTopic(topic('dup'))).rejects.toBeInstanceOf(TopicExistsError);
    });

    it('grows partitions and changes config of the same incarnation only', async () => {
      await setup();
      const t = topic('grow', 2);
      await store.createTopic(t);
      const updated = await store.updateTopic('grow', t.topicId, {
        partitions: 4,
        config: { ...DEFAULT_TOPIC_CONFIG, retentionMs: 1000 },
      });
      expect(updated.partitions).toBe(4);
      expect(updated.config.retentionMs).toBe(1000);
      await expect(store.updateTopic('grow', t.topicId, { partitions: 3 })).rejects.toBeInstanceOf(
        InvalidRequestError,
      );
      await expect(
        store.updateTopic('grow', 'another-incarnation', { partitions: 8 }),
      ).rejects.toBeInstanceOf(TopicNotFoundError);
    });

    it("counts every change of a topic on its version, which a reader's head read shows (§8)", async () => {
      await setup();
      const t = topic('versioned', 2);
      await store.createTopic(t);
      const versionOf = async () => (await store.getTopic('versioned', { consistent: true }))?.version ?? 0;
      expect(await versionOf()).toBe(0);
      expect((await store.getHead(t.topicId)).topicVersion).toBe(0);
      await store.updateTopic('versioned', t.topicId, { partitions: 3 });
      await store.updateTopic('versioned', t.topicId, {
        config: { ...DEFAULT_TOPIC_CONFIG, retentionMs: 5 },
      });
      expect(await store.advanceLogStartOffset('versioned', t.topicId, 0, 4)).toBe(true);
      // Refused changes count nothing.
      expect(await store.advanceLogStartOffset('versioned', t.topicId, 0, 2)).toBe(false);
      await expect(store.updateTopic('versioned', t.topicId, { partitions: 1 })).rejects.toBeInstanceOf(
        InvalidRequestError,
      );
      expect(await versionOf()).toBe(3);
      expect((await store.getHead(t.topicId)).topicVersion).toBe(3);
      await commit(store, [entry(t.topicId, 0, 0, 2)]);
      expect((await store.getHead(t.topicId)).topicVersion).toBe(3);
    });

    it('reports deleting a missing topic as TopicNotFoundError', async () => {
      await setup();
      await expect(store.deleteTopic('nope')).rejects.toBeInstanceOf(TopicNotFoundError);
    });
  });

  describe('offset index', () => {
    const ref = { topicId: 'T', partition: 0 };

    it('has no tail for an empty partition', async () => {
      await setup();
      expect(await store.getTail(ref)).toBeUndefined();
      expect(await store.findEntries(ref, 0, 10)).toEqual([]);
    });

    it('commits a chain of records and reports the last batch as the tail', async () => {
      await setup();
      await commit(store, [entry('T', 0, 0, 5)]);
      await commit(store, [entry('T', 0, 5, 3)]);
      expect(await store.getTail(ref)).toMatchObject({ baseOffset: 5, lastOffset: 7 });
      const head = await store.getHead('T');
      expect(head.seq).toBe(1);
      expect(head.ends[0]?.nextOffset).toBe(8);
      expect(head.deleted).toBe(false);
    });

    it('rejects a second record at the same chain position with CommitConflictError', async () => {
      await setup();
      await commit(store, [entry('T', 0, 0, 5, 'first')]);
      const error = await commit(store, [entry('T', 0, 0, 2, 'second')], undefined, 0).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CommitConflictError);
      expect((error as CommitConflictError).existing?.objectKey).toBe('first');
      expect(await store.getTail(ref)).toMatchObject({ objectKey: 'first', lastOffset: 4 });
    });

    it('treats a retried commit of the very same record as committed', async () => {
      await setup();
      const first = await recordOf(store, [entry('T', 0, 0, 5)]);
      await store.appendCommit(first);
      await expect(store.appendCommit(first)).resolves.toBeUndefined();
      const second = await recordOf(store, [entry('T', 0, 5, 1, 'o2'), entry('T', 1, 0, 1, 'o2')]);
      await store.appendCommit(second);
      await expect(store.appendCommit(second)).resolves.toBeUndefined();
      expect((await store.getHead('T')).seq).toBe(1);
    });

    it('commits the batches of several partitions in one record, all or nothing', async () => {
      await setup();
      await commit(store, [entry('T', 1, 0, 2, 'taken')]);
      const stale = await recordOf(store, [entry('T', 0, 0, 3, 'multi'), entry('T', 1, 0, 3, 'multi')], 0);
      await expect(store.appendCommit(stale)).rejects.toBeInstanceOf(CommitConflictError);
      expect(await store.getTail({ topicId: 'T', partition: 0 })).toBeUndefined();
      await commit(store, [entry('T', 0, 0, 3, 'multi'), entry('T', 1, 2, 3, 'multi')]);
      expect(await store.getTail({ topicId: 'T', partition: 0 })).toMatchObject({ lastOffset: 2 });
      expect(await store.getTail({ topicId: 'T', partition: 1 })).toMatchObject({ lastOffset: 4 });
    });

    it("lists a partition as its indexed entries below the mark, then the chain's batches after it", async () => {
      await setup();
      await commit(store, [entry('T', 0, 0, 5), entry('T', 1, 0, 1)]);
      await commit(store, [entry('T', 0, 5, 5)]);
      await commit(store, [entry('T', 1, 1, 2)]);
      const mark = await store.getIndexMark('T');
      for (const partition of [0, 1]) {
        const r = { topicId: 'T', partition };
        const indexed: IndexEntry[] = [];
        for await (const e of store.listIndexedEntries(r, 0, mark.ends[partition]?.nextOffset ?? 0))
          indexed.push(e);
        const hot: IndexEntry[] = [];
        for await (const record of store.listCommits('T', mark.seq, Number.MAX_SAFE_INTEGER - 1)) {
          for (const b of record.batches) if (b.partition === partition) hot.push(entryOf(record, b));
        }
        const all: IndexEntry[] = [];
        for await (const e of store.listEntries(r, 0)) all.push(e);
        const offsets = (list: IndexEntry[]) => list.map((e) => [e.baseOffset, e.lastOffset]);
        expect(offsets([...indexed, ...hot])).toEqual(offsets(all));
      }
    });

    it('finds the batch holding an offset and the ones after it', async () => {
      await setup();
      await commit(store, [entry('T', 0, 0, 5)]);
      await commit(store, [entry('T', 1, 0, 2)]);
      await commit(store, [entry('T', 0, 5, 5)]);
      await commit(store, [entry('T', 0, 10, 5)]);
      expect((await store.findEntries(ref, 0, 10)).map((e) => e.baseOffset)).toEqual([0, 5, 10]);
      expect((await store.findEntries(ref, 7, 10)).map((e) => e.baseOffset)).toEqual([5, 10]);
      expect((await store.findEntries(ref, 7, 1)).map((e) => e.baseOffset)).toEqual([5]);
      expect((await store.findEntries(ref, 10, 10)).map((e) => e.baseOffset)).toEqual([10]);
      expect(await store.findEntries(ref, 15, 10)).toEqual([]);
      expect((await store.entryAtOrBefore(ref, 9))?.baseOffset).toBe(5);
      expect((await store.entryAtOrBefore(ref, 99))?.baseOffset).toBe(10);
      const listed: number[] = [];
      for await (const e of store.listEntries(ref, 6)) listed.push(e.baseOffset);
      expect(listed).toEqual([5, 10]);
    });

    it('keeps partitions and topic incarnations apart', async () => {
      await setup();
      await commit(store, [entry('T', 0, 0, 5)]);
      expect(await store.getTail({ topicId: 'T', partition: 1 })).toBeUndefined();
      expect(await store.getTail({ topicId: 'T2', partition: 0 })).toBeUndefined();
      expect((await store.getHead('T2')).seq).toBe(-1);
    });

    it("ends a deleted topic's chain with a terminal record that every later commit conflicts with", async () => {
      await setup();
      const t = topic('ending', 1);
      await store.createTopic(t);
      await commit(store, [entry(t.topicId, 0, 0, 2)]);
      const late = await recordOf(store, [entry(t.topicId, 0, 2, 1, 'late')]);
      await store.deleteTopic('ending');
      const head = await store.getHead(t.topicId);
      expect(head).toMatchObject({ seq: 1, deleted: true });
      expect(head.ends[0]?.nextOffset).toBe(2);
      const error = await store.appendCommit(late).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CommitConflictError);
      expect((error as CommitConflictError).existing?.deleted).toBe(true);
    });

    it('claims, replays and refuses idempotency keys, and commits them with the entries atomically', async () => {
      await setup();
      const claim = {
        scope: 's',
        key: 'k',
        bodyHash: 'h1',
        topic: 't',
        topicId: 'T',
        leaseUntil: 2_000,
        expiresAt: 100_000,
      };
      const started = await store.claimIdempotencyKey(claim, 1_000);
      expect(started.state).toBe('started');
      const attemptId = started.state === 'started' ? started.attemptId : '';
      expect((await store.claimIdempotencyKey(claim, 1_500)).state).toBe('in-flight');
      expect((await store.claimIdempotencyKey({ ...claim, bodyHash: 'h2' }, 1_500)).state).toBe('mismatch');
      // A commit whose completion names another attempt writes nothing.
      await expect(
        commit(
          store,
          [entry('T', 0, 0, 1, 'x')],
          [{ scope: 's', key: 'k', attemptId: 'other', result: Buffer.from('r') }],
        ),
      ).rejects.toBeInstanceOf(IdempotencyLostError);
      expect(await store.getTail(ref)).toBeUndefined();
      const record = await recordOf(store, [entry('T', 0, 0, 1, 'x')]);
      const completion = { scope: 's', key: 'k', attemptId, result: Buffer.from('result') };
      await store.appendCommit(record, [completion]);
      const replay = await store.claimIdempotencyKey(claim, 5_000);
      expect(replay.state).toBe('committed');
      expect(replay.state === 'committed' ? replay.result.toString() : '').toBe('result');
      // A retry of that very commit (lost response) is recognised as already done.
      await expect(store.appendCommit(record, [completion])).resolves.toBeUndefined();
    });

    it('frees an idempotency key on release, after its lease, and after it expires', async () => {
      await setup();
      const claim = {
        scope: 's',
        key: 'free',
        bodyHash: 'h',
        topic: 't',
        topicId: 'T',
        leaseUntil: 2_000,
        expiresAt: 10_000,
      };
      const first = await store.claimIdempotencyKey(claim, 1_000);
      await store.releaseIdempotencyKey('s', 'free', first.state === 'started' ? first.attemptId : '');
      expect((await store.claimIdempotencyKey(claim, 1_100)).state).toBe('started');
      expect((await store.claimIdempotencyKey(claim, 2_001)).state).toBe('started'); // lease ran out
      expect((await store.claimIdempotencyKey({ ...claim, bodyHash: 'other' }, 10_001)).state).toBe(
        'started',
      );
    });

    it('keeps an idempotency record to its topic incarnation, and replaces it only when told to', async () => {
      await setup();
      const claim = {
        scope: 's',
        key: 'inc',
        bodyHash: 'h',
        topic: 't',
        topicId: 'T1',
        leaseUntil: 2_000,
        expiresAt: 100_000,
      };
      const first = await store.claimIdempotencyKey(claim, 1_000);
      const attemptId = first.state === 'started' ? first.attemptId : '';
      await commit(
        store,
        [entry('T1', 0, 0, 1, 'x')],
        [{ scope: 's', key: 'inc', attemptId, result: Buffer.from('r1') }],
      );
      // Same key and body for the incarnation T2: never the T1 result, whatever the lease or body.
      const next = { ...claim, topicId: 'T2', leaseUntil: 60_000 };
      expect(await store.claimIdempotencyKey(next, 5_000)).toEqual({
        state: 'other-incarnation',
        topic: 't',
        topicId: 'T1',
      });
      expect(await store.claimIdempotencyKey({ ...next, bodyHash: 'other' }, 5_000)).toMatchObject({
        state: 'other-incarnation',
      });
      // Replacing names the incarnation the caller found deleted; a wrong name replaces nothing.
      expect((await store.claimIdempotencyKey({ ...next, replacing: 'T9' }, 5_000)).state).toBe(
        'other-incarnation',
      );
      expect((await store.claimIdempotencyKey({ ...next, replacing: 'T1' }, 5_000)).state).toBe('started');
      expect((await store.claimIdempotencyKey(next, 5_500)).state).toBe('in-flight');
      expect(await store.claimIdempotencyKey(claim, 5_500)).toEqual({
        state: 'other-incarnation',
        topic: 't',
        topicId: 'T2',
      });
    });

    it('round-trips every field of an entry, committed and indexed', async () => {
      await setup();
      const e = {
        ...entry('T', 0, 0, 7),
        firstTimestamp: 1_700_000_000_000,
        maxTimestamp: 1_700_000_000_099,
        maxTimestampSoFar: 1_700_000_000_099,
        createdAt: 1_700_000_000_500,
        objectSize: 5555,
      };
      await commit(store, [e]);
      expect(plain(await store.getTail(ref))).toEqual(e);
      const moved = { ...e, topicId: 'U', originObjectKey: 'first-home' };
      await indexed(store, [moved]);
      expect(await store.findEntries({ topicId: 'U', partition: 0 }, 0, 1)).toEqual([moved]);
    });
  });
});

describe.each(adapters)('MetadataStore maintenance contract: %s', (_name, make) => {
  it('advances a log start offset only forwards, and only for the same incarnation', async () => {
    const store = await make();
    const t = topic('ret');
    await store.createTopic(t);
    expect(await store.advanceLogStartOffset('ret', t.topicId, 1, 5)).toBe(true);
    expect(await store.advanceLogStartOffset('ret', t.topicId, 1, 3)).toBe(false);
    expect(await store.advanceLogStartOffset('ret', 'another-incarnation', 1, 9)).toBe(false);
    expect(await store.advanceLogStartOffset('nope', t.topicId, 1, 9)).toBe(false);
    expect((await store.getTopic('ret', { consistent: true }))?.logStartOffsets).toEqual({ 1: 5 });
  });

  it('swaps entries one by one, only those still where the compactor read them', async () => {
    const store = await make();
    const a = entry('t', 0, 0, 2, 'old-1');
    const b = entry('t', 0, 2, 2, 'old-2');
    const c = entry('t', 0, 4, 1, 'old-3');
    await indexed(store, [a, b, c]);
    const moved = (e: IndexEntry, key: string) => ({
      ...e,
      objectKey: key,
      byteOffset: 8 + e.baseOffset * 10,
      originObjectKey: e.objectKey,
    });
    expect(await store.replaceEntries([{ old: a, next: moved(a, 'new') }])).toBe(1);
    const ref = { topicId: 't', partition: 0 };
    // A second compactor that read a before the swap loses a, and still swaps c.
    expect(
      await store.replaceEntries([
        { old: a, next: moved(a, 'other') },
        { old: c, next: moved(c, 'other') },
      ]),
    ).toBe(1);
    expect(await store.findEntries(ref, 0, 10)).toEqual([moved(a, 'new'), b, moved(c, 'other')]);
    // A swap never creates an entry that is not there.
    expect(
      await store.replaceEntries([{ old: entry('t', 0, 9, 1, 'x'), next: entry('t', 0, 9, 1, 'y') }]),
    ).toBe(0);
    expect(await store.findEntries(ref, 0, 10)).toHaveLength(3);
  });

  it('removes entries one by one, skipping the changed and the too young', async () => {
    const store = await make();
    const ref = { topicId: 'r', partition: 0 };
    const es = [
      entry('r', 0, 0, 1, 'k0'),
      entry('r', 0, 1, 1, 'k1'),
      { ...entry('r', 0, 2, 1, 'k2'), createdAt: 50 },
    ];
    await indexed(store, es);
    const stale = { ...(es[1] as IndexEntry), objectKey: 'not-any-more' };
    expect(await store.removeEntries([es[0] as IndexEntry, stale, es[2] as IndexEntry], 10)).toBe(1);
    expect((await store.findEntries(ref, 0, 10)).map((e) => e.baseOffset)).toEqual([1, 2]);
  });

  it('scans every referenced object, and keeps GC candidates and job cursors', async () => {
    const store = await make();
    await indexed(store, [entry('s', 0, 0, 1, 'obj-a'), entry('s', 1, 0, 1, 'obj-b')]);
    await commit(store, [entry('s2', 0, 0, 1, 'obj-c')]); // a record of the commit chain references one too
    const { objects, itemsRead } = await store.scanReferencedObjects();
    expect(objects.has('obj-a') && objects.has('obj-b') && objects.has('obj-c')).toBe(true);
    expect(objects.has('undefined')).toBe(false);
    expect(itemsRead).toBeGreaterThanOrEqual(3);

    await store.markGcCandidates(['x', 'y'], 100);
    await store.markGcCandidates(['x', 'z'], 200); // x keeps its first sighting
    expect(await store.listGcCandidates()).toEqual(
      new Map([
        ['x', 100],
        ['y', 100],
        ['z', 200],
      ]),
    );
    await store.clearGcCandidates(['x', 'missing']);
    expect([...(await store.listGcCandidates()).keys()].sort()).toEqual(['y', 'z']);

    expect(await store.getMaintenanceCursor('compact')).toBeUndefined();
    await store.setMaintenanceCursor('compact', 'orders\u000000003');
    expect(await store.getMaintenanceCursor('compact')).toBe('orders\u000000003');
    await store.setMaintenanceCursor('compact', undefined);
    expect(await store.getMaintenanceCursor('compact')).toBeUndefined();
  });

  it('forgets a deleted topic once its data is gone', async () => {
    const store = await make();
    const t = topic('gone');
    await store.createTopic(t);
    await store.deleteTopic('gone');
    expect((await store.listDeletedTopics()).map((d) => d.topicId)).toContain(t.topicId);
    await store.forgetDeletedTopic(t.topicId);
    expect((await store.listDeletedTopics()).map((d) => d.topicId)).not.toContain(t.topicId);
  });
});
