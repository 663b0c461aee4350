import type { Clock } from '../clock.js';
import { type CrashPoints, NO_CRASH_POINTS } from '../crash-points.js';
import { SluiceError, ThrottledError, TopicNotFoundError } from '../errors.js';
import {
  type ChainHead,
  type CommitBatch,
  type CommitRecord,
  endOf,
  endsAfter,
  entryOf,
  headOf,
} from '../metadata/commit-record.js';
import {
  CommitConflictError,
  CommitOutcomeUnknownError,
  type IdempotencyCompletion,
  INDEX_KEY_REUSE_GUARD_MS,
  type IndexEntry,
  type MetadataStore,
} from '../metadata/metadata-store.js';
import { type BatchInput, type BatchLocation, encodeSegment } from '../segment/format.js';
import { newSegmentKey, type SegmentStore } from '../storage/segment-store.js';
import type { Compression, LogRecord, Topic } from '../types.js';
import type { PartitionWatcher } from './watcher.js';

/** One produce request's records, already assigned to partitions (each partition at most once). */
export interface AppendRequest {
  topic: Topic;
  batches: Array<{ partition: number; records: LogRecord[] }>;
  /**
   * For an idempotent request: the idempotency record to mark committed in the same atomic write as the
   * request's index entries, with the result built from the base offsets the commit assigns.
   */
  completion?: {
    scope: string;
    key: string;
    attemptId: string;
    result: (bases: Map<number, number>) => Buffer;
  };
}

/** Where one request's records landed: the base offset of its run of records in each partition. */
export type AppendResult =
  | { ok: true; partitions: Map<number, { baseOffset: number }> }
  | { ok: false; error: unknown };

export interface AppenderOptions {
  compression: Compression;
  /** Commit attempts per flush before giving up with THROTTLED (contention on a partition's log end). */
  maxCommitAttempts: number;
  /**
   * How long this process trusts a partition's log end learned from its own commit before reading it again.
   * Must stay far below INDEX_KEY_REUSE_GUARD_MS (see docs/ARCHITECTURE.md, "Why index keys age").
   */
  tailCacheMaxAgeMs: number;
  /**
   * The longest time from the start of a flush's segment put to the start of any commit attempt: past it
   * the Appender starts no attempt (the produce fails), so an object GC may delete is never referenced by a
   * commit made after GC's grace. GC's grace must be at least `minGcGraceMs(maxCommitDelayMs)` (§4.3, §10.4).
   */
  maxCommitDelayMs: number;
}

/**
 * The longest one commit attempt may run once started: the DynamoDB client's 3 SDK attempts of at most
 * 10 s each (functions/deps.ts), their backoff, and a margin for clock rates.
 */
export const COMMIT_ATTEMPT_MARGIN_MS = 60_000;

/**
 * The shortest GC grace period safe with `maxCommitDelayMs`: a commit attempt starts at most
 * `maxCommitDelayMs` after its object's put began and lands within COMMIT_ATTEMPT_MARGIN_MS of its start;
 * twice the bound leaves room for a read between its index lookup and its GET of an object just swapped.
 */
export function minGcGraceMs(
  maxCommitDelayMs: number,
  commitAttemptMarginMs: number = COMMIT_ATTEMPT_MARGIN_MS,
): number {
  return 2 * maxCommitDelayMs + commitAttemptMarginMs;
}

/** Hooks for tests that inject faults between the steps of the protocol. */
export interface AppenderHooks {
  afterSegmentPut?: (objectKey: string) => Promise<void> | void;
  /** Runs after a produce call's commit, before it answers (tests lose the answer here). */
  afterCommit?: () => Promise<void> | void;
}

/** Observers for new objects (a read cache may keep the bytes it just wrote). */
export type SegmentListener = (objectKey: string, bytes: Buffer) => void;

/** Observers for committed index entries, in commit order per partition. */
export type CommitListener = (entry: IndexEntry) => void;

interface PartitionBatch {
  topic: Topic;
  partition: number;
  records: LogRecord[];
  location?: BatchLocation;
  /** For each request in this batch: its index and the position of its first record in the batch. */
  members: Array<{ request: number; start: number }>;
}

interface CachedHead {
  head: ChainHead;
  confirmedAt: number;
}

/**
 * The write path: one flush = one segment object holding a batch per partition touched, then the offset
 * commit in DynamoDB: for each topic of the flush, ONE commit record appended to the topic's chain (one
 * conditional put, whatever the partitions touched; docs/ARCHITECTURE.md §4). Offsets are assigned at
 * commit time (as in KIP-1150), so a commit that loses a race re-reads the chain's head and tries again
 * without rewriting the object.
 *
 * Requests are atomic: all batches of one topic in a flush are one record, written or not as a whole.
 * Topics commit separately, so one topic's failure never fails another's requests.
 */
export class Appender {
  private readonly heads = new Map<string, CachedHead>();
  private readonly listeners: SegmentListener[] = [];
  private readonly commitListeners: CommitListener[] = [];
  private commitChain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: SegmentStore,
    private readonly metadata: MetadataStore,
    private readonly clock: Clock,
    private readonly options: AppenderOptions,
    private readonly watcher?: PartitionWatcher,
    private readonly hooks: AppenderHooks = {},
    private readonly crash: CrashPoints = NO_CRASH_POINTS,
  ) {
    if (options.tailCacheMaxAgeMs * 10 > INDEX_KEY_REUSE_GUARD_MS) {
      throw new Error(
        'tailCacheMaxAgeMs must stay far below INDEX_KEY_REUSE_GUARD_MS (ARCHITECTURE.md §4.4)',
      );
    }
  }

  onSegmentWritten(listener: SegmentListener): void {
    this.listeners.push(listener);
  }

  onCommitted(listener: CommitListener): void {
    this.commitListeners.push(listener);
  }

  async append(requests: readonly AppendRequest[]): Promise<AppendResult[]> {
    const batches = this.groupBatches(requests);
    const inputs: BatchInput[] = batches.map((b) => ({
      topic: b.topic.name,
      topicId: b.topic.topicId,
      partition: b.partition,
      records: b.records,
    }));
    const segment = await encodeSegment(inputs, { compression: this.options.compression });
    segment.batches.forEach((location, i) => {
      const batch = batches[i];
      if (batch) batch.location = location;
    });
    const putStartedAt = this.clock.now();
    const objectKey = newSegmentKey(putStartedAt);
    try {
      await this.store.put(objectKey, segment.bytes);
    } catch (error) {
      return requests.map(() => ({ ok: false, error }));
    }
    for (const listener of this.listeners) listener(objectKey, segment.bytes);
    await this.hooks.afterSegmentPut?.(objectKey);
    await this.crash.reach('produce.afterSegmentPut', objectKey);

    const results: AppendResult[] = requests.map(() => ({ ok: true, partitions: new Map() }));
    const byTopic = new Map<string, PartitionBatch[]>();
    for (const batch of batches) {
      const list = byTopic.get(batch.topic.topicId) ?? [];
      list.push(batch);
      byTopic.set(batch.topic.topicId, list);
    }
    // Commits of one process run one after another: they would only contend with each other otherwise.
    const run = this.commitChain.then(() =>
      Promise.all(
        [...byTopic.values()].map(async (topicBatches) => {
          try {
            const bases = await this.commitTopic(
              topicBatches,
              requests,
              objectKey,
              segment.bytes.length,
              putStartedAt + this.options.maxCommitDelayMs,
            );
            topicBatches.forEach((batch, i) => {
              const base = bases[i] as number;
              for (const member of batch.members) {
                const result = results[member.request];
                if (result?.ok) result.partitions.set(batch.partition, { baseOffset: base + member.start });
              }
            });
          } catch (error) {
            for (const batch of topicBatches) {
              for (const member of batch.members) results[member.request] = { ok: false, error };
            }
          }
        }),
      ),
    );
    this.commitChain = run.catch(() => undefined);
    await run;
    return results;
  }

  private groupBatches(requests: readonly AppendRequest[]): PartitionBatch[] {
    const byPartition = new Map<string, PartitionBatch>();
    requests.forEach((request, index) => {
      for (const { partition, records } of request.batches) {
        if (records.length === 0) continue;
        const key = `${request.topic.topicId}/${partition}`;
        let batch = byPartition.get(key);
        if (!batch) {
          batch = { topic: request.topic, partition, records: [], members: [] };
          byPartition.set(key, batch);
        }
        batch.members.push({ request: index, start: batch.records.length });
        for (const record of records) batch.records.push(record);
      }
    });
    return [...byPartition.values()];
  }

  /**
   * Assigns offsets to one topic's batches of the flush with one conditional put of a commit record at the
   * chain's next position (with the idempotency completions, in one transaction, when there are any).
   */
  private async commitTopic(
    batches: PartitionBatch[],
    requests: readonly AppendRequest[],
    objectKey: string,
    objectSize: number,
    /** No attempt starts after this time (maxCommitDelayMs after the segment put began). */
    attemptDeadline: number,
  ): Promise<number[]> {
    const topic = (batches[0] as PartitionBatch).topic;
    const where = `${topic.name} (${batches.map((b) => b.partition).join(',')})`;
    const idempotent = [...new Set(batches.flatMap((b) => b.members.map((m) => m.request)))].filter(
      (index) => requests[index]?.completion !== undefined,
    );
    let attempt = 0;
    let record: CommitRecord | undefined;
    let lastError: unknown;
    for (;;) {
      attempt += 1;
      if (this.clock.now() > attemptDeadline) throw this.pastDeadline(where, attempt - 1, lastError);
      if (!record) {
        const head = await this.headOf(topic.topicId, lastError instanceof CommitConflictError);
        // The incarnation was deleted (its terminal record is the head): nothing may be committed to it.
        if (head.deleted) throw new TopicNotFoundError(topic.name);
        const commitBatches: CommitBatch[] = batches.map((batch) => {
          const location = batch.location as BatchLocation;
          const base = endOf(head.ends, batch.partition).nextOffset;
          return {
            partition: batch.partition,
            baseOffset: base,
            lastOffset: base + location.lastOffsetDelta,
            recordCount: location.recordCount,
            byteOffset: location.byteOffset,
            byteLength: location.byteLength,
            firstTimestamp: location.firstTimestamp,
            maxTimestamp: location.maxTimestamp,
          };
        });
        record = {
          topicId: topic.topicId,
          seq: head.seq + 1,
          objectKey,
          objectSize,
          createdAt: this.clock.now(),
          batches: commitBatches,
          ends: endsAfter(head, commitBatches),
        };
      }
      // The deadline again, after the head read: it may have taken long.
      if (this.clock.now() > attemptDeadline) throw this.pastDeadline(where, attempt - 1, lastError);
      await this.crash.reach('commit.beforeAttempt', `${topic.topicId}#${record.seq}`);
      try {
        await this.metadata.appendCommit(record, completionsFor(idempotent, requests, batches, record));
        this.heads.set(topic.topicId, { head: headOf(record), confirmedAt: this.clock.now() });
        for (const batch of record.batches) {
          const entry = entryOf(record, batch);
          for (const listener of this.commitListeners) listener(entry);
          this.watcher?.notify(entry, entry.lastOffset + 1);
        }
        return record.batches.map((b) => b.baseOffset);
      } catch (error) {
        if (error instanceof CommitConflictError) {
          // Definitive: another writer (or the topic's delete) holds that position, so our record is not
          // committed anywhere. Read the head again and assign offsets again.
          this.heads.delete(topic.topicId);
          if (error.existing?.deleted) throw new TopicNotFoundError(topic.name);
          record = undefined;
        } else if (!(error instanceof CommitOutcomeUnknownError)) {
          throw error;
        } else {
          await this.crash.reach('commit.afterAmbiguousFailure', `${topic.topicId}#${record.seq}`);
        }
        lastError = error;
        // An ambiguous failure (timeout, network) may have committed: retry the very same record, never
        // another position, so that a landed commit is recognised as ours instead of being committed twice.
        if (attempt >= this.options.maxCommitAttempts) {
          throw new ThrottledError(
            `could not commit to ${where} after ${attempt} attempts: too much contention`,
            { cause: error },
          );
        }
        // Full jitter over a window that doubles up to 500 ms: writers that keep colliding on a hot topic
        // spread out instead of retrying in step (every failed conditional write is billed).
        await sleep(Math.min(500, 4 * 2 ** Math.min(attempt, 7)) * Math.random());
      }
    }
  }

  /**
   * The error of a component whose commit may not start another attempt. After an ambiguous failure the
   * records may be committed: the answer is INTERNAL (outcome unknown, as any 500), never a claim that
   * nothing was written. After conflicts only, nothing was: THROTTLED, as when the attempts run out.
   */
  private pastDeadline(where: string, attempts: number, lastError: unknown): SluiceError {
    const bound = `maxCommitDelayMs (${this.options.maxCommitDelayMs} ms)`;
    if (lastError instanceof CommitOutcomeUnknownError) {
      return new SluiceError(
        'INTERNAL',
        `the commit to ${where} did not get a definite answer within ${bound} after ${attempts} attempts; ` +
          'the records may or may not be committed',
        { cause: lastError, retriable: true },
      );
    }
    return new ThrottledError(`could not commit to ${where} within ${bound} (${attempts} attempts)`, {
      ...(lastError !== undefined ? { cause: lastError } : {}),
    });
  }

  /** The topic's chain head: this process's own last commit while fresh, else a strongly consistent read. */
  private async headOf(topicId: string, consistent: boolean): Promise<ChainHead> {
    const cached = this.heads.get(topicId);
    const now = this.clock.now();
    if (cached && now - cached.confirmedAt <= this.options.tailCacheMaxAgeMs && now >= cached.confirmedAt) {
      return cached.head;
    }
    // The first read may be eventually consistent (half the price): a stale head only makes the put
    // conflict, and the read after a conflict is strongly consistent (§4.3).
    const head = await this.metadata.getHead(topicId, { headOnly: true, consistent });
    this.heads.set(topicId, { head, confirmedAt: now });
    return head;
  }
}

/** The idempotency completions of the topic's requests, with the base offsets `record` assigns. */
function completionsFor(
  indexes: readonly number[],
  requests: readonly AppendRequest[],
  batches: readonly PartitionBatch[],
  record: CommitRecord,
): IdempotencyCompletion[] {
  return indexes.flatMap((index) => {
    const completion = requests[index]?.completion;
    if (!completion) return [];
    const bases = new Map<number, number>();
    batches.forEach((batch, i) => {
      const member = batch.members.find((m) => m.request === index);
      const committed = record.batches[i];
      if (member && committed) bases.set(batch.partition, committed.baseOffset + member.start);
    });
    return [
      {
        scope: completion.scope,
        key: completion.key,
        attemptId: completion.attemptId,
        result: completion.result(bases),
      },
    ];
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
