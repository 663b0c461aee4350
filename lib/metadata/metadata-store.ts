import { SluiceError } from '../errors.js';
import type { Topic, TopicConfig } from '../types.js';
import type { ChainHead, CommitRecord, PartitionEnd } from './commit-record.js';

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
  /**
   * Set on an entry read from the commit chain (the hot tier, not yet indexed): the seq of its commit
   * record. Maintenance rewrites and removes only indexed entries (no `seq`).
   */
  seq?: number;
}

/**
 * Where a topic's chain has been indexed (docs/ARCHITECTURE.md §4): every batch of records with seq ≤
 * `seq` has a per-partition index entry, and `ends` is the end vector of record `seq` (so offsets below
 * ends[p] of partition p are in the indexed tier). `seq` -1: nothing indexed yet.
 */
export interface IndexMark {
  seq: number;
  ends: PartitionEnd[];
  /** An indexing pass claimed records up to `pending.seq` until `pending.until`. */
  pending?: { seq: number; until: number };
  /** When the mark last moved (the indexer's clock). */
  advancedAt?: number;
  /** The topic's version (Topic.version) as counted on the mark item; absent is 0. */
  topicVersion?: number;
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

export interface HeadReadOptions {
  /**
   * For a writer: only the head (the adapter may bring recent records along for readers, who then need no
   * other read; a writer has no use for them and pays for every byte).
   */
  headOnly?: boolean;
  /**
   * False: an eventually consistent read (half the price). Only a writer may ask for it: a stale head
   * only makes its conditional put conflict (then it reads again, strongly consistently); a reader's high
   * watermark must be strongly consistent (guarantee 6).
   */
  consistent?: boolean;
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
   * The newest record of the topic incarnation's commit chain (strongly consistent): its seq and end
   * vector. `seq` -1 when nothing was committed yet.
   */
  getHead(topicId: string, options?: HeadReadOptions): Promise<ChainHead>;
  /**
   * Commits a flush's batches of one topic: puts `record` at `record.seq` of its chain, only if no record
   * is there (the compare-and-set, §4.1), together with the idempotency completions, atomically. A record
   * already there that is this very record (same object: a retry of a commit that succeeded) counts as
   * committed. Throws CommitConflictError with the record found there (another writer's, or the topic's
   * terminal record), or IdempotencyLostError when a completion's attempt no longer holds its key; nothing
   * is written in either case.
   */
  appendCommit(record: CommitRecord, completions?: readonly IdempotencyCompletion[]): Promise<void>;

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
  /**
   * The indexed tier's entries of a partition (no commit records) with lastOffset ≥ fromOffset and
   * baseOffset < below, in offset order: with `below` = the partition's end in an index mark, what that mark
   * covers. A reader of a whole topic lists these per partition and the chain's records after the mark once
   * (`listCommits`), instead of the chain once per partition.
   */
  listIndexedEntries(ref: PartitionRef, fromOffset: number, below: number): AsyncIterable<IndexEntry>;

  // ---- maintenance (retention, compaction, garbage collection; docs/ARCHITECTURE.md §10) -----------------

  /** Removes the record of a deleted incarnation once its data is gone. */
  forgetDeletedTopic(topicId: string): Promise<void>;

  // ---- indexing: the commit chain into per-partition entries (§4, §10) ------------------------------------

  /** How far the topic's chain is indexed (strongly consistent). */
  getIndexMark(topicId: string): Promise<IndexMark>;
  /**
   * Claims indexing the records after `mark.seq` up to `target`, until `until`: only if the mark is still
   * at `mark.seq` and no other live claim exists. An expired claim is taken over with its own target (the
   * entries it may have written are exactly that range's). Returns the target to index, or undefined.
   */
  claimIndexing(
    topicId: string,
    mark: IndexMark,
    target: number,
    until: number,
    now: number,
  ): Promise<number | undefined>;
  /** The chain's records with `afterSeq` < seq ≤ `uptoSeq`, in order (strongly consistent, paginated). */
  listCommits(topicId: string, afterSeq: number, uptoSeq: number): AsyncIterable<CommitRecord>;
  /**
   * Writes indexed entries, each only where no entry exists; an existing entry with the same offsets (an
   * earlier attempt of the same claim) counts as written. Throws on an entry with other offsets there.
   */
  putIndexEntries(entries: readonly IndexEntry[]): Promise<void>;
  /** Moves the mark from `fromSeq` to `to` at `now` (ends its claim). False when the mark moved meanwhile. */
  advanceIndexMark(
    topicId: string,
    fromSeq: number,
    to: { seq: number; ends: PartitionEnd[] },
    now: number,
  ): Promise<boolean>;
  /**
   * Deletes the chain's records with seq ≤ `uptoSeq` that are not the newest and were created before
   * `removableBefore` (their batches are indexed: the caller checked the mark). Returns how many went.
   */
  removeCommits(topicId: string, uptoSeq: number, removableBefore: number): Promise<number>;
  /** Deletes a deleted incarnation's whole chain and its mark. */
  removeChain(topicId: string): Promise<number>;
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

/**
 * A commit lost the race for its chain position: `existing` is the record found there (another writer's,
 * or the topic's terminal record), when known.
 */
export class CommitConflictError extends SluiceError {
  constructor(
    readonly topicId: string,
    readonly seq: number,
    readonly existing: CommitRecord | undefined,
    options: { cause?: unknown } = {},
  ) {
    super('CONFLICT', `commit chain of ${topicId} moved past ${seq - 1}`, { retriable: true, ...options });
  }
}

/**
 * A commit's request failed without a definite answer (a timeout, a lost connection, a 5xx, throttling): the
 * record may or may not be at its position. The adapter classifies its client's errors into this one (the
 * transport error is the `cause`); the appender retries the very same record, so that a landed commit is
 * recognised as its own instead of being committed twice.
 */
export class CommitOutcomeUnknownError extends SluiceError {
  constructor(
    readonly topicId: string,
    readonly seq: number,
    options: { cause?: unknown } = {},
  ) {
    super('INTERNAL', `commit ${seq} of ${topicId}: outcome unknown`, { retriable: true, ...options });
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

export function partitionKey(ref: PartitionRef): string {
  return `${ref.topicId}/${ref.partition}`;
}
