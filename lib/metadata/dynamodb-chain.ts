import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import {
  type CommitRecord,
  decodeBatches,
  decodeEnds,
  encodeBatches,
  encodeEnds,
  endBefore,
  endOf,
  entryOf,
} from './commit-record.js';
import type { IndexEntry, IndexMark, PartitionRef } from './metadata-store.js';

type Item = Record<string, unknown>;

/**
 * The chain's items live in the index table: `pk = "c#<topicId>"`, `sk = seq` for records, and one mark
 * item at `sk = MARK_SK`, which sorts after every record: a newest-first query returns the mark, then the
 * head, then the records before it — one request for the high watermark, the mark and the recent batches.
 */
export const MARK_SK = Number.MAX_SAFE_INTEGER;

export const NO_MARK: IndexMark = { seq: -1, ends: [] };

export function chainPk(topicId: string): string {
  return `c#${topicId}`;
}

export function recordToItem(record: CommitRecord): Item {
  return {
    pk: chainPk(record.topicId),
    sk: record.seq,
    ...(record.deleted ? { deleted: true } : { objectKey: record.objectKey }),
    objectSize: record.objectSize,
    createdAt: record.createdAt,
    b: encodeBatches(record.batches, record.createdAt),
    e: encodeEnds(record.ends, record.createdAt),
  };
}

export function itemToRecord(item: Item): CommitRecord {
  const createdAt = Number(item.createdAt);
  const deleted = item.deleted === true;
  return {
    topicId: String(item.pk).slice(2),
    seq: Number(item.sk),
    objectKey: deleted ? '' : String(item.objectKey),
    objectSize: Number(item.objectSize),
    createdAt,
    batches: decodeBatches(item.b as Uint8Array, createdAt),
    ends: decodeEnds(item.e as Uint8Array, createdAt),
    ...(deleted ? { deleted: true } : {}),
  };
}

export function itemToMark(item: Item): IndexMark {
  const seq = item.markSeq === undefined ? -1 : Number(item.markSeq);
  return {
    seq,
    ends: item.e === undefined ? [] : decodeEnds(item.e as Uint8Array, 0),
    ...(item.advancedAt !== undefined ? { advancedAt: Number(item.advancedAt) } : {}),
    ...(item.tv !== undefined ? { topicVersion: Number(item.tv) } : {}),
    ...(item.pendingSeq !== undefined
      ? { pending: { seq: Number(item.pendingSeq), until: Number(item.pendingUntil) } }
      : {}),
  };
}

export interface ChainReaderOptions {
  /** Records kept in memory (immutable, so never stale; bounded by count). */
  maxRecords: number;
  /** How long a mark read from DynamoDB is used before it is read again (§8: safe at any age ≤ 60 s). */
  markTtlMs: number;
  /** The budget of one head read, in bytes: how many recent records it may bring along (4 KB = 1 RRU). */
  windowBytes: number;
}

export const DEFAULT_CHAIN_READER_OPTIONS: ChainReaderOptions = {
  maxRecords: 20_000,
  markTtlMs: 10_000,
  windowBytes: 3_000,
};

/** Records the head read brings along at most (the window), and how far a hot-tier search walks forward. */
const MAX_WINDOW_RECORDS = 8;
const MAX_FORWARD_RECORDS = 32;
/** What one forward range query of the hot tier may read at most (bytes; 4 KB is one read unit). */
const PREFETCH_BYTES = 16 * 1024;

/**
 * Reads of the hot tier: the chain's records not yet indexed (docs/ARCHITECTURE.md §4.5). Records are
 * immutable once written, so the reader keeps the ones it saw (bounded LRU) and reads each from DynamoDB at
 * most once while it holds it; the mark it keeps is at most `markTtlMs` old, which is safe because records
 * stay readable long after they are indexed (§10.4).
 */
export class ChainReader {
  private readonly records = new Map<string, CommitRecord>();
  private readonly marks = new Map<
    string,
    { mark: IndexMark; at: number; recordBytes: number; head: CommitRecord | undefined }
  >();

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly now: () => number,
    private readonly options: ChainReaderOptions = DEFAULT_CHAIN_READER_OPTIONS,
  ) {}

  /**
   * One strongly consistent query, newest first: the mark, the head, and as many records before it as fit
   * the window's byte budget (by the size of this topic's last records).
   */
  async readWindow(
    topicId: string,
    /** Records before the head to bring along; by default as many as fit the window's budget. */
    before?: number,
    /** False only for a writer's first head read (ChainHead, HeadReadOptions.consistent). */
    consistent = true,
  ): Promise<{ mark: IndexMark; records: CommitRecord[] }> {
    const known = this.marks.get(topicId);
    const recordBytes = known?.recordBytes ?? 400;
    const extra =
      before ??
      Math.max(0, Math.min(MAX_WINDOW_RECORDS - 1, Math.floor(this.options.windowBytes / recordBytes) - 1));
    const result = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': chainPk(topicId) },
        ScanIndexForward: false,
        Limit: 2 + extra,
        ConsistentRead: consistent,
      }),
    );
    let mark: IndexMark = { seq: -1, ends: [] };
    const records: CommitRecord[] = [];
    let bytes = 0;
    for (const item of result.Items ?? []) {
      if (Number(item.sk) === MARK_SK) {
        mark = itemToMark(item);
        continue;
      }
      const record = itemToRecord(item);
      bytes += approximateSize(item);
      records.push(record);
      this.remember(record);
    }
    this.setMark(
      topicId,
      mark,
      records.length > 0 ? Math.max(64, bytes / records.length) : recordBytes,
      records[0],
    );
    return { mark, records };
  }

  async mark(topicId: string, options: { fresh?: boolean } = {}): Promise<IndexMark> {
    const known = this.marks.get(topicId);
    if (!options.fresh && known && this.now() - known.at < this.options.markTtlMs && this.now() >= known.at)
      return known.mark;
    return (await this.readWindow(topicId)).mark;
  }

  forgetMark(topicId: string): void {
    this.marks.delete(topicId);
  }

  remember(record: CommitRecord): void {
    // A record past the head this reader holds is a newer head (records are only ever added at the end).
    const known = this.marks.get(record.topicId);
    if (known && (!known.head || known.head.seq < record.seq)) known.head = record;
    if (this.options.maxRecords <= 0) return;
    const key = recordKey(record.topicId, record.seq);
    this.records.delete(key);
    this.records.set(key, record);
    while (this.records.size > this.options.maxRecords) {
      const oldest = this.records.keys().next();
      if (oldest.done) break;
      this.records.delete(oldest.value);
    }
  }

  /** Records held now (tests check the bound). */
  get size(): number {
    return this.records.size;
  }

  /**
   * Up to `limit` entries of the partition from `offset` (≥ the mark's end for it), from the chain: the
   * record holding `offset`, then the partition's batches in the records after it.
   */
  async entriesFrom(
    ref: PartitionRef,
    offset: number,
    limit: number,
    mark: IndexMark,
  ): Promise<IndexEntry[]> {
    const head = this.headCovering(ref, offset) ?? (await this.readWindow(ref.topicId)).records[0];
    if (!head || offset >= endOf(head.ends, ref.partition).nextOffset) return [];
    const start = await this.locate(ref, offset, mark.seq + 1, head);
    if (!start) return [];
    // The records the walk needs after `start` and does not hold are read with one range query rather than
    // one query each: a reader catching up reads ~16 records of 250 bytes for one read unit, not sixteen.
    const recordBytes = this.marks.get(ref.topicId)?.recordBytes ?? 400;
    const span = Math.max(1, Math.min(MAX_FORWARD_RECORDS - 1, Math.floor(PREFETCH_BYTES / recordBytes)));
    const entries: IndexEntry[] = [];
    let walked = 0;
    for (let seq = start.seq; seq <= head.seq && entries.length < limit; seq++) {
      if (seq !== start.seq && !this.records.has(recordKey(ref.topicId, seq))) {
        await this.prefetch(ref.topicId, seq, Math.min(head.seq, seq + span - 1));
      }
      const record = seq === start.seq ? start : await this.recordAt(ref.topicId, seq);
      if (!record) break;
      for (const batch of record.batches) {
        if (batch.partition === ref.partition && batch.lastOffset >= offset)
          entries.push(entryOf(record, batch));
      }
      if (++walked >= MAX_FORWARD_RECORDS && entries.length > 0) break;
    }
    return entries.slice(0, limit);
  }

  /** The entry of the batch holding `offset`, or the partition's last batch when `offset` is past it. */
  async entryAtOrBefore(ref: PartitionRef, offset: number, mark: IndexMark): Promise<IndexEntry | undefined> {
    const head = this.headCovering(ref, offset) ?? (await this.readWindow(ref.topicId)).records[0];
    if (!head) return undefined;
    const end = endOf(head.ends, ref.partition).nextOffset;
    const indexedEnd = endOf(mark.ends, ref.partition).nextOffset;
    const target = Math.min(offset, end - 1);
    if (target < indexedEnd) return undefined;
    const record = await this.locate(ref, target, mark.seq + 1, head);
    const batch = record?.batches.find((b) => b.partition === ref.partition);
    return record && batch ? entryOf(record, batch) : undefined;
  }

  /**
   * The record whose batch for the partition holds `offset`: the lowest seq in [lo, head.seq] whose end
   * for it passes `offset`. Walks back from the head in doubling steps, then bisects; each record read is
   * one GetItem unless held. A record's own batch tells its predecessor's end, which often saves a read.
   */
  private async locate(
    ref: PartitionRef,
    offset: number,
    lo: number,
    head: CommitRecord,
  ): Promise<CommitRecord | undefined> {
    const passes = (r: CommitRecord) => endOf(r.ends, ref.partition).nextOffset > offset;
    let hi = head; // invariant: passes(hi)
    let low = lo; // every seq below `low` is known not to pass (or is outside the hot tier)
    let step = 1;
    while (hi.seq > low && endBefore(hi, ref.partition) > offset) {
      const probeSeq = Math.max(low, hi.seq - step);
      const probe = await this.recordAt(ref.topicId, probeSeq);
      if (!probe) throw new Error(`commit record ${ref.topicId}#${probeSeq} is missing`);
      if (passes(probe)) {
        hi = probe;
        step *= 2;
      } else {
        low = probeSeq + 1;
        step = Math.max(1, Math.floor((hi.seq - low) / 2));
      }
    }
    return passes(hi) && endBefore(hi, ref.partition) <= offset ? hi : undefined;
  }

  /**
   * Brings the records from..to (at or below a head read strongly consistently, so committed) into the held
   * records with one strongly consistent range query, from the first one not held. Records removed after
   * indexing are simply absent.
   */
  private async prefetch(topicId: string, from: number, to: number): Promise<void> {
    let first = from;
    while (first <= to && this.records.has(recordKey(topicId, first))) first++;
    if (first >= to) return; // none, or one: recordAt's single-key query costs the same
    const result = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: { ':pk': chainPk(topicId), ':from': first, ':to': to },
        ConsistentRead: true,
      }),
    );
    for (const item of result.Items ?? []) this.remember(itemToRecord(item));
  }

  private async recordAt(topicId: string, seq: number): Promise<CommitRecord | undefined> {
    const held = this.records.get(recordKey(topicId, seq));
    if (held) {
      this.remember(held);
      return held;
    }
    // A Query of the one key rather than a GetItem: the same unit, and the API role needs no GetItem grant.
    const result = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND sk = :seq',
        ExpressionAttributeValues: { ':pk': chainPk(topicId), ':seq': seq },
        // At or below a head read strongly consistently: committed, and a consistent read finds it.
        ConsistentRead: true,
      }),
    );
    const item = result.Items?.[0];
    if (!item) return undefined;
    const record = itemToRecord(item);
    this.remember(record);
    return record;
  }

  /**
   * The newest head this reader saw, when its end for the partition passes `offset`: enough to find the
   * record holding `offset` (records are immutable, so any head that covers it will do).
   */
  private headCovering(ref: PartitionRef, offset: number): CommitRecord | undefined {
    const head = this.marks.get(ref.topicId)?.head;
    return head && endOf(head.ends, ref.partition).nextOffset > offset ? head : undefined;
  }

  private setMark(
    topicId: string,
    mark: IndexMark,
    recordBytes: number,
    head: CommitRecord | undefined,
  ): void {
    const known = this.marks.get(topicId);
    // Marks and heads only advance: never replace a newer one with an older read.
    const newest = known && known.mark.seq > mark.seq ? known.mark : mark;
    const newestHead = known?.head && (!head || known.head.seq > head.seq) ? known.head : head;
    this.marks.delete(topicId);
    this.marks.set(topicId, { mark: newest, at: this.now(), recordBytes, head: newestHead });
    while (this.marks.size > this.options.maxRecords) {
      const oldest = this.marks.keys().next();
      if (oldest.done) break;
      this.marks.delete(oldest.value);
    }
  }
}

function recordKey(topicId: string, seq: number): string {
  return `${topicId}#${seq}`;
}

/** About what DynamoDB bills for an item: names and values (a number up to 21 bytes), rounded up. */
function approximateSize(item: Item): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    size += name.length;
    if (value instanceof Uint8Array) size += value.byteLength;
    else if (typeof value === 'string') size += Buffer.byteLength(value);
    else size += 12;
  }
  return Math.ceil(size * 1.1);
}
