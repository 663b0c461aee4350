import { describe, expect, it } from 'vitest';
import { type ChainHead, type CommitRecord, endsAfter } from '../../lib/metadata/commit-record.js';
import { DynamoDbMetadataStore } from '../../lib/metadata/dynamodb-metadata-store.js';
import { ensureTables, type TableNames } from '../../lib/metadata/dynamodb-schema.js';
import type { IndexEntry } from '../../lib/metadata/metadata-store.js';
import { makeDynamoClient, uniquePrefix } from '../support/env.js';

// The DynamoDB adapter's commit chain and its two tiers (ARCHITECTURE §4): what the memory adapter does
// not model (it indexes every record at once).

async function tables(): Promise<TableNames> {
  return ensureTables(makeDynamoClient(), uniquePrefix('chain'));
}

function store(names: TableNames, options?: { maxRecords?: number }): DynamoDbMetadataStore {
  return new DynamoDbMetadataStore(makeDynamoClient(), names, Date.now, {
    maxRecords: options?.maxRecords ?? 20_000,
    markTtlMs: 10_000,
    windowBytes: 3_600,
  });
}

/** The next record of `topicId`'s chain with `counts[p]` records for each partition p it names. */
function next(
  head: ChainHead,
  topicId: string,
  counts: Record<number, number>,
  objectKey: string,
): CommitRecord {
  const batches = Object.entries(counts).map(([p, n], i) => {
    const partition = Number(p);
    const base = head.ends[partition]?.nextOffset ?? 0;
    return {
      partition,
      baseOffset: base,
      lastOffset: base + n - 1,
      recordCount: n,
      byteOffset: 8 + i * 100,
      byteLength: 100,
      firstTimestamp: 1_000 + base,
      maxTimestamp: 1_000 + base + n - 1,
    };
  });
  return {
    topicId,
    seq: head.seq + 1,
    objectKey,
    objectSize: 1_000,
    createdAt: 5_000,
    batches,
    ends: endsAfter(head, batches),
  };
}

async function commitMany(s: DynamoDbMetadataStore, topicId: string, n: number): Promise<CommitRecord[]> {
  const records: CommitRecord[] = [];
  for (let i = 0; i < n; i++) {
    const record = next(await s.getHead(topicId), topicId, i % 3 === 0 ? { 0: 2, 1: 1 } : { 0: 3 }, `o${i}`);
    await s.appendCommit(record);
    records.push(record);
  }
  return records;
}

async function list(s: DynamoDbMetadataStore, ref: { topicId: string; partition: number }, from: number) {
  const out: IndexEntry[] = [];
  for await (const e of s.listEntries(ref, from)) out.push(e);
  return out;
}

describe('the commit chain on DynamoDB', () => {
  it('finds any offset of a long chain from a cold instance, in O(log n) reads', async () => {
    const names = await tables();
    const writer = store(names);
    const records = await commitMany(writer, 'T', 40);
    const ref = { topicId: 'T', partition: 0 };
    const all = await list(writer, ref, 0);
    expect(all.map((e) => e.seq)).toEqual(records.map((r) => r.seq));
    for (const offset of [0, 1, 2, 57, 58, 100, all.at(-1)?.lastOffset as number]) {
      const cold = store(names); // a new instance: nothing held
      const [first] = await cold.findEntries(ref, offset, 1);
      expect(first?.baseOffset).toBeLessThanOrEqual(offset);
      expect(first?.lastOffset).toBeGreaterThanOrEqual(offset);
      expect(cold.heldCommitRecords).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(40)) + 8);
    }
    expect(await store(names).findEntries({ topicId: 'T', partition: 1 }, 14, 5)).toEqual([]);
    expect(
      (await store(names).findEntries({ topicId: 'T', partition: 1 }, 13, 5)).map((e) => e.baseOffset),
    ).toEqual([13]);
  });

  it('walks forward through the chain with range queries, not one query per record', async () => {
    const names = await tables();
    const records = await commitMany(store(names), 'W', 40);
    const client = makeDynamoClient();
    let queries = 0;
    (
      client.middlewareStack as unknown as {
        add(m: (next: (a: unknown) => Promise<unknown>) => (a: unknown) => Promise<unknown>, o: object): void;
      }
    ).add(
      (next) => async (args) => {
        queries += 1;
        return next(args);
      },
      { step: 'initialize', name: 'countQueries' },
    );
    const cold = new DynamoDbMetadataStore(client, names, Date.now, {
      maxRecords: 20_000,
      markTtlMs: 10_000,
      windowBytes: 3_600,
    });
    // Every batch of partition 0 from offset 0 as a reader fetches them (one per record, 40 records), by a
    // cold instance.
    const ref = { topicId: 'W', partition: 0 };
    const entries: IndexEntry[] = [];
    for (let offset = 0; ; ) {
      const found = await cold.findEntries(ref, offset, 50);
      if (found.length === 0) break;
      entries.push(...found);
      offset = (found.at(-1) as IndexEntry).lastOffset + 1;
    }
    expect(entries.map((e) => e.seq)).toEqual(records.map((r) => r.seq));
    // The head window, the search back to record 0 (O(log n)), then 32-record walks of range queries
    // (about 60 small records fit one 16 KB query): well under one query per record.
    expect(queries).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(40)) + 6);
  });

  it('reads the same entries across the indexed tier and the chain, on every instance', async () => {
    const names = await tables();
    const writer = store(names);
    const records = await commitMany(writer, 'U', 9);
    const ref = { topicId: 'U', partition: 0 };
    const before = (await list(writer, ref, 0)).map(({ seq: _s, ...e }) => e);
    // Index the first five records: one merged entry per partition, as the indexer writes them.
    const mark = await writer.getIndexMark('U');
    expect(await writer.claimIndexing('U', mark, 4, Date.now() + 60_000, Date.now())).toBe(4);
    expect(await writer.claimIndexing('U', mark, 4, Date.now() + 60_000, Date.now())).toBeUndefined();
    const indexedEnd = (records[4] as CommitRecord).ends;
    const merged = (partition: number): IndexEntry => {
      const mine = before.filter(
        (e) => e.partition === partition && e.lastOffset < (indexedEnd[partition]?.nextOffset ?? 0),
      );
      const first = mine[0] as IndexEntry;
      const last = mine.at(-1) as IndexEntry;
      return {
        ...first,
        lastOffset: last.lastOffset,
        recordCount: mine.length,
        objectKey: 'merged',
        maxTimestampSoFar: last.maxTimestampSoFar,
        createdAt: last.createdAt,
      };
    };
    await writer.putIndexEntries([merged(0)]);
    await writer.putIndexEntries([merged(0)]); // again (a pass taking over a dead one's claim): no change
    expect(await writer.advanceIndexMark('U', mark.seq, { seq: 4, ends: indexedEnd }, Date.now())).toBe(true);
    expect(await writer.advanceIndexMark('U', mark.seq, { seq: 4, ends: indexedEnd }, Date.now())).toBe(
      false,
    );

    for (const reader of [writer, store(names)]) {
      const listed = await list(reader, ref, 0);
      expect(listed[0]).toMatchObject({ objectKey: 'merged', baseOffset: 0 });
      expect(listed[0]?.seq).toBeUndefined();
      expect(listed.slice(1).every((e) => e.seq !== undefined && e.seq > 4)).toBe(true);
      expect(listed.at(-1)?.lastOffset).toBe(before.at(-1)?.lastOffset);
      const boundary = indexedEnd[0]?.nextOffset as number;
      expect((await reader.findEntries(ref, boundary - 1, 1))[0]?.objectKey).toBe('merged');
      expect((await reader.findEntries(ref, boundary, 1))[0]?.baseOffset).toBe(boundary);
      expect((await reader.entryAtOrBefore(ref, boundary - 1))?.objectKey).toBe('merged');
    }
  });

  it('removes indexed records, never the newest one', async () => {
    const names = await tables();
    const writer = store(names);
    await commitMany(writer, 'V', 4);
    expect(await writer.removeCommits('V', 10, Number.MAX_SAFE_INTEGER)).toBe(3);
    expect(await writer.removeCommits('V', 10, Number.MAX_SAFE_INTEGER)).toBe(0);
    expect((await writer.getHead('V')).seq).toBe(3);
    expect(await writer.removeCommits('V', 10, 0)).toBe(0); // too young
    expect(await writer.removeChain('V')).toBe(1);
    expect((await writer.getHead('V')).seq).toBe(-1);
  });

  it('holds at most its bound of records, on each of several instances', async () => {
    const names = await tables();
    const a = store(names, { maxRecords: 5 });
    const b = store(names, { maxRecords: 5 });
    await commitMany(a, 'W', 12);
    for (const s of [a, b]) {
      await list(s, { topicId: 'W', partition: 0 }, 0);
      expect(s.heldCommitRecords).toBeLessThanOrEqual(5);
    }
  });
});
