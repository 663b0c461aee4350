/**
 * The commit chain's records (docs/ARCHITECTURE.md §4): one record per flush per topic, holding every batch
 * the flush committed to that topic's partitions and the **end vector** — each partition's next offset and
 * running maximum timestamp after the record. The record at `seq` + 1 follows from the one at `seq`, so a
 * commit is one conditional put whatever the number of partitions it touches.
 *
 * This file is the record's pure model and its compact binary encoding (stored as two binary attributes:
 * DynamoDB bills by size, and a JSON list of maps would cost 3–4× as much).
 */
import { ByteReader, unzigzag, uvarintSize, writeUVarint, zigzag } from '../segment/varint.js';
import type { IndexEntry } from './metadata-store.js';

/** Where a partition stands after a record: the next offset to assign and max(record timestamps) so far. */
export interface PartitionEnd {
  nextOffset: number;
  /** Number.MIN_SAFE_INTEGER for a partition that never had a record. */
  maxTimestampSoFar: number;
}

/** One partition's batch of a flush, as the commit record holds it. */
export interface CommitBatch {
  partition: number;
  baseOffset: number;
  /** Inclusive. */
  lastOffset: number;
  recordCount: number;
  byteOffset: number;
  byteLength: number;
  firstTimestamp: number;
  maxTimestamp: number;
}

export interface CommitRecord {
  topicId: string;
  /** Position in the topic's chain: 0, 1, 2, … with no gap. */
  seq: number;
  /** The flush's segment object ('' for a terminal record). */
  objectKey: string;
  objectSize: number;
  /** Commit time (writer's clock). */
  createdAt: number;
  batches: CommitBatch[];
  /** After this record, by partition (a partition past the end of the list is empty: offset 0). */
  ends: PartitionEnd[];
  /** A terminal record: the incarnation was deleted; nothing may follow it. */
  deleted?: boolean;
}

/** The chain's newest record as writers need it: where the next record goes and what it follows. */
export interface ChainHead {
  /** The newest record's seq, or -1 for a topic that has none yet. */
  seq: number;
  ends: PartitionEnd[];
  deleted: boolean;
  /**
   * The topic's version as the chain's mark counts it (Topic.version), when the read brought the mark: the
   * same strongly consistent read that gives a reader its high watermark tells whether its cached topic is
   * current. Absent when the adapter cannot tell (then the topic cache's own bound applies).
   */
  topicVersion?: number;
}

export const EMPTY_END: PartitionEnd = { nextOffset: 0, maxTimestampSoFar: Number.MIN_SAFE_INTEGER };

export const EMPTY_HEAD: ChainHead = { seq: -1, ends: [], deleted: false };

export function endOf(ends: readonly PartitionEnd[], partition: number): PartitionEnd {
  return ends[partition] ?? EMPTY_END;
}

export function headOf(record: CommitRecord): ChainHead {
  return { seq: record.seq, ends: record.ends, deleted: record.deleted === true };
}

/** The terminal record that ends `topicId`'s chain after `head` (the topic's delete, §4.10). */
export function terminalAfter(topicId: string, head: ChainHead, createdAt: number): CommitRecord {
  return {
    topicId,
    seq: head.seq + 1,
    objectKey: '',
    objectSize: 0,
    createdAt,
    batches: [],
    ends: head.ends,
    deleted: true,
  };
}

/** The index entry of one of the record's batches (`seq` marks it as read from the chain). */
export function entryOf(record: CommitRecord, batch: CommitBatch): IndexEntry {
  return {
    topicId: record.topicId,
    partition: batch.partition,
    baseOffset: batch.baseOffset,
    lastOffset: batch.lastOffset,
    recordCount: batch.recordCount,
    objectKey: record.objectKey,
    byteOffset: batch.byteOffset,
    byteLength: batch.byteLength,
    objectSize: record.objectSize,
    firstTimestamp: batch.firstTimestamp,
    maxTimestamp: batch.maxTimestamp,
    maxTimestampSoFar: endOf(record.ends, batch.partition).maxTimestampSoFar,
    createdAt: record.createdAt,
    seq: record.seq,
  };
}

/** The end of `partition` just before `record`: its batch's base offset, or its end after it. */
export function endBefore(record: CommitRecord, partition: number): number {
  const batch = record.batches.find((b) => b.partition === partition);
  return batch ? batch.baseOffset : endOf(record.ends, partition).nextOffset;
}

// ---- encoding ---------------------------------------------------------------------------------------------

/** Timestamps are stored relative to the record's createdAt (small for fresh data), zigzagged. */
function tsSize(ts: number, base: number): number {
  return uvarintSize(zigzag(ts - base));
}

/**
 * Batches: count, then per batch partition, baseOffset, lastOffset − baseOffset, recordCount, byteOffset,
 * byteLength, firstTimestamp − createdAt, maxTimestamp − firstTimestamp (zigzag varints).
 */
export function encodeBatches(batches: readonly CommitBatch[], createdAt: number): Buffer {
  let size = uvarintSize(batches.length);
  for (const b of batches) {
    size +=
      uvarintSize(b.partition) +
      uvarintSize(b.baseOffset) +
      uvarintSize(b.lastOffset - b.baseOffset) +
      uvarintSize(b.recordCount) +
      uvarintSize(b.byteOffset) +
      uvarintSize(b.byteLength) +
      tsSize(b.firstTimestamp, createdAt) +
      tsSize(b.maxTimestamp, b.firstTimestamp);
  }
  const out = Buffer.alloc(size);
  let pos = writeUVarint(out, 0, batches.length);
  for (const b of batches) {
    pos = writeUVarint(out, pos, b.partition);
    pos = writeUVarint(out, pos, b.baseOffset);
    pos = writeUVarint(out, pos, b.lastOffset - b.baseOffset);
    pos = writeUVarint(out, pos, b.recordCount);
    pos = writeUVarint(out, pos, b.byteOffset);
    pos = writeUVarint(out, pos, b.byteLength);
    pos = writeUVarint(out, pos, zigzag(b.firstTimestamp - createdAt));
    pos = writeUVarint(out, pos, zigzag(b.maxTimestamp - b.firstTimestamp));
  }
  return out;
}

export function decodeBatches(bytes: Uint8Array, createdAt: number): CommitBatch[] {
  const reader = new ByteReader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const count = reader.uvarint('batch count');
  const batches: CommitBatch[] = [];
  for (let i = 0; i < count; i++) {
    const partition = reader.uvarint('partition');
    const baseOffset = reader.uvarint('base offset');
    const lastOffset = baseOffset + reader.uvarint('last offset');
    const recordCount = reader.uvarint('record count');
    const byteOffset = reader.uvarint('byte offset');
    const byteLength = reader.uvarint('byte length');
    const firstTimestamp = createdAt + unzigzag(reader.uvarint('first timestamp'));
    const maxTimestamp = firstTimestamp + unzigzag(reader.uvarint('max timestamp'));
    batches.push({
      partition,
      baseOffset,
      lastOffset,
      recordCount,
      byteOffset,
      byteLength,
      firstTimestamp,
      maxTimestamp,
    });
  }
  return batches;
}

/**
 * End vector: count, then per partition nextOffset and a flag-and-timestamp: 0 for a partition with no
 * record yet, else zigzag(maxTimestampSoFar − createdAt) + 1.
 */
export function encodeEnds(ends: readonly PartitionEnd[], createdAt: number): Buffer {
  // Trailing empty partitions are implied by the length.
  let n = ends.length;
  while (n > 0 && isEmptyEnd(ends[n - 1] as PartitionEnd)) n--;
  const stamp = (e: PartitionEnd) =>
    e.maxTimestampSoFar === Number.MIN_SAFE_INTEGER ? 0 : zigzag(e.maxTimestampSoFar - createdAt) + 1;
  let size = uvarintSize(n);
  for (let p = 0; p < n; p++) {
    const e = ends[p] as PartitionEnd;
    size += uvarintSize(e.nextOffset) + uvarintSize(stamp(e));
  }
  const out = Buffer.alloc(size);
  let pos = writeUVarint(out, 0, n);
  for (let p = 0; p < n; p++) {
    const e = ends[p] as PartitionEnd;
    pos = writeUVarint(out, pos, e.nextOffset);
    pos = writeUVarint(out, pos, stamp(e));
  }
  return out;
}

export function decodeEnds(bytes: Uint8Array, createdAt: number): PartitionEnd[] {
  const reader = new ByteReader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const n = reader.uvarint('partition count');
  const ends: PartitionEnd[] = [];
  for (let p = 0; p < n; p++) {
    const nextOffset = reader.uvarint('next offset');
    const stamp = reader.uvarint('max timestamp');
    ends.push({
      nextOffset,
      maxTimestampSoFar: stamp === 0 ? Number.MIN_SAFE_INTEGER : createdAt + unzigzag(stamp - 1),
    });
  }
  return ends;
}

function isEmptyEnd(e: PartitionEnd): boolean {
  return e.nextOffset === 0 && e.maxTimestampSoFar === Number.MIN_SAFE_INTEGER;
}

/**
 * The record that follows `head` with `batches` (base offsets already assigned from `head`'s ends): its
 * end vector.
 */
export function endsAfter(head: ChainHead, batches: readonly CommitBatch[]): PartitionEnd[] {
  const ends = head.ends.slice();
  for (const b of batches) {
    for (let p = ends.length; p <= b.partition; p++) ends.push(EMPTY_END);
    const before = endOf(ends, b.partition);
    ends[b.partition] = {
      nextOffset: b.lastOffset + 1,
      maxTimestampSoFar: Math.max(before.maxTimestampSoFar, b.maxTimestamp),
    };
  }
  return ends;
}
