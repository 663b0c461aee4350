import { SluiceError } from '../errors.js';
import type { Topic, TopicConfig } from '../types.js';

/**
 * One committed record batch: the offset index maps the offset range [baseOffset, lastOffset] of one
 * partition to the bytes of one batch inside one segment object.
 *
 * The index item's key is (topicId, partition, baseOffset). A commit is a put conditional on that key not
 * existing, where baseOffset is the previous tail's lastOffset + 1: the key itself is the compare-and-set on
 * the partition's log end (see docs/ARCHITECTURE.md, "Commit protocol").
 */
export interface IndexEntry {
  topicId: string;
  partition: number;
  baseOffset: number;
  /** Inclusive, as Kafka's batch lastOffset. The partition's high watermark is the tail's lastOffset + 1. */
  lastOffset: number;
  recordCount: number;
  objectKey: string;
  byteOffset: number;
  byteLength: number;
  /** Size of the whole object, so readers can decide to fetch and cache it whole. */
  objectSize: number;
  firstTimestamp: number;
  maxTimestamp: number;
  /** max(maxTimestamp) over this batch and every batch before it: monotonic, like Kafka's time index. */
  maxTimestampSoFar: number;
  /** When the commit was made (writer's clock); deletions of index keys wait for it to age. */
  createdAt: number;
  /**
   * The object the batch was committed in, once a compactor moved it to another object (absent before).
   * It keeps a retried commit recognisable as its own after a swap (isSameBatch).
   */
  originObjectKey?: string;
}

/**
 * An index key may be deleted (by retention or compaction) only when it is not its partition's tail and
 * its entry was created more than this long ago. Writers never put at a key learned longer ago than a
 * small fraction of it, so a slow writer cannot re-create a deleted key (docs/ARCHITECTURE.md §4.4).
 */
export const INDEX_KEY_REUSE_GUARD_MS = 60 * 60 * 1000;

export interface PartitionRef {
  topicId: string;
  partition: number;
}

export interface TopicUpdate {
  partitions?: number;
  config?: TopicConfig;
}

/** Where an idempotent produce stands (one record per scope and Idempotency-Key). */
export type IdempotencyState =
  | { state: 'started'; attemptId: string }
  /** The key was used before with another body. */
  | { state: 'mismatch' }
  /** Another attempt holds the key and its lease has not run out. */
  | { state: 'in-flight' }
  /** An earlier attempt committed: its stored result (see Log.produce for the encoding). */
  | { state: 'committed'; result: Buffer }
  /**
   * The record was written for another topic incarnation (`topic`, `topicId`): it is never replayed, refused
   * or waited for on behalf of this one. The caller decides whether that incarnation still exists.
   */
  | { state: 'other-incarnation'; topic: string; topicId: string };

export interface IdempotencyClaim {
  scope: string;
  key: string;
  bodyHash: string;
  /**
   * The topic incarnation the produce appends to, part of the record's identity: a record is only ever
   * replayed (or refused, or waited for) for the incarnation it was written for.
   */
  topic: string;
  topicId: string;
  /** Take over a record of this other incarnation, which the caller found deleted. */
  replacing?: string;
  /** The claim may be taken over by another attempt after this time (the attempt is presumed dead). */
  leaseUntil: number;
  /** The record is forgotten after this time (24 h after the first attempt). */
  expiresAt: number;
}

/**
 * Marks an idempotency record committed, in the same atomic write as the index entries of the produce it
 * belongs to, on condition that `attemptId` still holds it. So "committed" and "appended" can never
 * disagree, whatever crashes: a retry either finds the result or appends for the first time.
 */
export interface IdempotencyCompletion {
  scope: string;
  key: string;
  attemptId: string;
  result: Buffer;
}

/** The port for topics and the offset index (DynamoDB in AWS, memory in unit tests). */
export interface MetadataStore {
  /** Creates a topic. Throws TopicExistsError when the name is taken. */
  createTopic(topic: Topic): Promise<void>;
  getTopic(name: string, options?: { consistent?: boolean }): Promise<Topic | undefined>;
  listTopics(): Promise<Array<Pick<Topic, 'name' | 'partitions'>>>;
  /**
   * Changes partitions and/or config of the incarnation `topicId`. Partitions only grow. Throws
   * TopicNotFoundError when the topic (that incarnation) is gone, InvalidRequestError when shrinking.
   */
  updateTopic(name: string, topicId: string, update: TopicUpdate): Promise<Topic>;
  /** Deletes a topic and records its incarnation for background cleanup. Throws TopicNotFoundError. */
  deleteTopic(name: string): Promise<Topic>;
  /** Incarnations deleted and not yet cleaned up. */
  listDeletedTopics(): Promise<
    Array<{ topicId: string; name: string; partitions: number; deletedAt: number }>
  >;

  /** The partition's last batch (strongly consistent), or undefined for an empty partition. */
  getTail(ref: PartitionRef): Promise<IndexEntry | undefined>;
  /**
   * Commits batches of distinct partitions atomically. Each entry is written only if no entry exists at its
   * (topicId, partition, baseOffset). When an entry exists there that is this very entry (same object and
   * byte range: a retry of a commit that succeeded), it counts as committed. Throws CommitConflictError
   * naming the partitions whose log end moved, or IdempotencyLostError when a completion's attempt no
   * longer holds its key; nothing is written in either case.
   */
  commit(entries: readonly IndexEntry[], completions?: readonly IdempotencyCompletion[]): Promise<void>;

  /**
   * Claims (scope, key) for a new attempt, or reports why not: the key is in flight elsewhere, was used
   * with another body, or has a committed result — each only for a record of the claim's own topic
   * incarnation; a record of another incarnation is reported as such (and taken over only when the claim
   * names it in `replacing`). An expired record or an expired lease counts as free.
   */
  claimIdempotencyKey(claim: IdempotencyClaim, now: number): Promise<IdempotencyState>;
  /** Gives the key up after a failed attempt (only while `attemptId` holds it), so a retry can run. */
  releaseIdempotencyKey(scope: string, key: string, attemptId: string): Promise<void>;
  /**
   * Up to `limit` entries holding offsets ≥ `offset`, in offset order, starting with the batch containing
   * `offset` when there is one.
   */
  findEntries(ref: PartitionRef, offset: number, limit: number): Promise<IndexEntry[]>;
  /** The last entry whose baseOffset ≤ offset (strongly consistent), or undefined. */
  entryAtOrBefore(ref: PartitionRef, offset: number): Promise<IndexEntry | undefined>;
  /** Every entry of a partition with lastOffset ≥ fromOffset, in offset order (paginated under the hood). */
  listEntries(ref: PartitionRef, fromOffset: number): AsyncIterable<IndexEntry>;

  // ---- maintenance (retention, compaction, garbage collection; docs/ARCHITECTURE.md §10) -----------------

  /** Removes the record of a deleted incarnation once its data is gone. */
  forgetDeletedTopic(topicId: string): Promise<void>;
  /**
   * Raises a partition's logStartOffset to `offset` (never lowers it). Returns false when the incarnation
   * `topicId` is gone or the stored value is already at least `offset`.
   */
  advanceLogStartOffset(name: string, topicId: string, partition: number, offset: number): Promise<boolean>;
  /**
   * Points entries at new bytes (a compactor's swap), each with its own conditional put: an entry is
   * replaced only if it still points where `old` does. Returns how many were replaced; the others lost to a
   * concurrent compactor or retention (their content is the same either way, so a partial swap is safe).
   */
  replaceEntries(replacements: ReadonlyArray<{ old: IndexEntry; next: IndexEntry }>): Promise<number>;
  /**
   * Removes entries one by one (retention, deleted topics), each only if it still points where it did and
   * was created before `removableBefore`. Returns how many were removed.
   */
  removeEntries(entries: readonly IndexEntry[], removableBefore: number): Promise<number>;
  /** Every object key the whole index references (a full, paginated scan), and how many items it read. */
  scanReferencedObjects(): Promise<{ objects: Set<string>; itemsRead: number }>;
  /** Garbage-collection candidates: unreferenced objects and when a GC pass first saw them so. */
  listGcCandidates(): Promise<Map<string, number>>;
  markGcCandidates(keys: readonly string[], firstSeenAt: number): Promise<void>;
  clearGcCandidates(keys: readonly string[]): Promise<void>;
  /** Where a maintenance job stopped, so that the next run resumes there (undefined: from the start). */
  getMaintenanceCursor(job: string): Promise<string | undefined>;
  setMaintenanceCursor(job: string, cursor: string | undefined): Promise<void>;
}

/** A commit lost the race for one or more partitions' log end. Carries what is now there when known. */
export class CommitConflictError extends SluiceError {
  constructor(
    readonly conflicts: ReadonlyArray<{ ref: PartitionRef; existing: IndexEntry | undefined }>,
    options: { cause?: unknown } = {},
  ) {
    super(
      'CONFLICT',
      `log end moved for ${conflicts.map((c) => `${c.ref.topicId}/${c.ref.partition}`).join(', ')}`,
      { retriable: true, ...options },
    );
  }
}

/** A commit's idempotency completion failed its condition: another attempt took the key over. */
export class IdempotencyLostError extends SluiceError {
  constructor(key: string) {
    super(
      'CONFLICT',
      `Idempotency-Key '${key}' was taken over by another attempt before this one committed`,
      {
        retriable: true,
      },
    );
  }
}

/**
 * The same batch (a retry of a commit whose answer was lost), as opposed to another writer's. A compactor
 * may have moved the committed batch to another object meanwhile (even at once, with minAgeMs 0): it keeps
 * the object the batch was committed in as `originObjectKey`, and an object holds at most one batch per
 * partition, so (object committed in, partition, offsets) identifies the commit.
 */
export function isSameBatch(existing: IndexEntry, ours: IndexEntry): boolean {
  const committedIn = existing.originObjectKey ?? existing.objectKey;
  const oursIn = ours.originObjectKey ?? ours.objectKey;
  const sameBytes = existing.originObjectKey !== undefined || existing.byteOffset === ours.byteOffset;
  return (
    committedIn === oursIn &&
    sameBytes &&
    existing.baseOffset === ours.baseOffset &&
    existing.lastOffset === ours.lastOffset
  );
}

export function partitionKey(ref: PartitionRef): string {
  return `${ref.topicId}/${ref.partition}`;
}
