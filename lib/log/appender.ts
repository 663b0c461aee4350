import type { Clock } from '../clock.js';
import { type CrashPoints, NO_CRASH_POINTS } from '../crash-points.js';
import { SluiceError, ThrottledError, TopicNotFoundError } from '../errors.js';
import {
  CommitConflictError,
  type IdempotencyCompletion,
  INDEX_KEY_REUSE_GUARD_MS,
  type IndexEntry,
  type MetadataStore,
  type PartitionRef,
  partitionKey,
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

interface CachedTail {
  nextOffset: number;
  maxTimestampSoFar: number;
  confirmedAt: number;
}

/**
 * The write path: one flush = one segment object holding a batch per partition touched, then the offset
 * commit in DynamoDB. Offsets are assigned at commit time (as in KIP-1150), so a commit that loses a race
 * re-reads the log end and tries again without rewriting the object.
 *
 * Requests are atomic: the partition batches of one request (and of every request sharing a partition with
 * it, transitively) commit in one DynamoDB transaction. Flushes of unrelated partitions commit separately,
 * so one request's failure never fails an unrelated one.
 */
export class Appender {
  private readonly tails = new Map<string, CachedTail>();
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
    // Alongside the put (no added latency): is each topic's incarnation still live? A produce invoked after
    // its topic's delete answered must not be acknowledged (this instance's topic cache may be stale, §4).
    const refusals = this.confirmTopics(batches);
    try {
      await this.store.put(objectKey, segment.bytes);
    } catch (error) {
      await refusals;
      return requests.map(() => ({ ok: false, error }));
    }
    const refused = await refusals;
    for (const listener of this.listeners) listener(objectKey, segment.bytes);
    await this.hooks.afterSegmentPut?.(objectKey);
    await this.crash.reach('produce.afterSegmentPut', objectKey);

    const results: AppendResult[] = requests.map(() => ({ ok: true, partitions: new Map() }));
    const components = connectedComponents(requests.length, batches);
    // Commits of one process run one after another: they would only contend with each other otherwise.
    const run = this.commitChain.then(() =>
      Promise.all(
        components.map(async (component) => {
          try {
            // A component is one topic's (a request writes to one topic): a dead incarnation commits nothing.
            const refusal = refused.get(component[0]?.topic.topicId ?? '');
            if (refusal !== undefined) throw refusal;
            const bases = await this.commitComponent(
              component,
              requests,
              objectKey,
              segment.bytes.length,
              putStartedAt + this.options.maxCommitDelayMs,
            );
            component.forEach((batch, i) => {
              const base = bases[i] as number;
              for (const member of batch.members) {
                const result = results[member.request];
                if (result?.ok) result.partitions.set(batch.partition, { baseOffset: base + member.start });
              }
            });
          } catch (error) {
            for (const batch of component) {
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

  /**
   * One strongly consistent read of each topic of the flush: the error to answer its requests with when
   * its incarnation is gone (deleted, or deleted and created again) or cannot be confirmed. Never rejects.
   */
  private async confirmTopics(batches: readonly PartitionBatch[]): Promise<Map<string, unknown>> {
    const topics = new Map<string, Topic>();
    for (const batch of batches) topics.set(batch.topic.topicId, batch.topic);
    const refused = new Map<string, unknown>();
    await Promise.all(
      [...topics.values()].map(async (topic) => {
        try {
          const current = await this.metadata.getTopic(topic.name, { consistent: true });
          if (current?.topicId !== topic.topicId)
            refused.set(topic.topicId, new TopicNotFoundError(topic.name));
        } catch (error) {
          refused.set(topic.topicId, error);
        }
      }),
    );
    return refused;
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

  /** Assigns offsets to the component's batches with one conditional write (or transaction). */
  private async commitComponent(
    component: PartitionBatch[],
    requests: readonly AppendRequest[],
    objectKey: string,
    objectSize: number,
    /** No attempt starts after this time (maxCommitDelayMs after the segment put began). */
    attemptDeadline: number,
  ): Promise<number[]> {
    const refs = component.map((b) => ({ topicId: b.topic.topicId, partition: b.partition }));
    const idempotent = [...new Set(component.flatMap((b) => b.members.map((m) => m.request)))].filter(
      (index) => requests[index]?.completion !== undefined,
    );
    let attempt = 0;
    let entries: IndexEntry[] | undefined;
    let lastError: unknown;
    for (;;) {
      attempt += 1;
      if (this.clock.now() > attemptDeadline) throw this.pastDeadline(refs, attempt - 1, lastError);
      if (!entries) {
        const tails = await Promise.all(refs.map((ref) => this.tailOf(ref)));
        const now = this.clock.now();
        entries = component.map((batch, i) => {
          const location = batch.location as BatchLocation;
          const tail = tails[i] as CachedTail;
          return {
            topicId: batch.topic.topicId,
            partition: batch.partition,
            baseOffset: tail.nextOffset,
            lastOffset: tail.nextOffset + location.lastOffsetDelta,
            recordCount: location.recordCount,
            objectKey,
            byteOffset: location.byteOffset,
            byteLength: location.byteLength,
            objectSize,
            firstTimestamp: location.firstTimestamp,
            maxTimestamp: location.maxTimestamp,
            maxTimestampSoFar: Math.max(tail.maxTimestampSoFar, location.maxTimestamp),
            createdAt: now,
          };
        });
      }
      // The deadline again, after the tail reads: they may have taken long.
      if (this.clock.now() > attemptDeadline) throw this.pastDeadline(refs, attempt - 1, lastError);
      await this.crash.reach('commit.beforeAttempt', refs.map(partitionKey).join(','));
      try {
        await this.metadata.commit(entries, completionsFor(idempotent, requests, component, entries));
        const now = this.clock.now();
        for (const entry of entries) {
          this.tails.set(partitionKey(entry), {
            nextOffset: entry.lastOffset + 1,
            maxTimestampSoFar: entry.maxTimestampSoFar,
            confirmedAt: now,
          });
          for (const listener of this.commitListeners) listener(entry);
          this.watcher?.notify(entry, entry.lastOffset + 1);
        }
        return entries.map((e) => e.baseOffset);
      } catch (error) {
        if (error instanceof CommitConflictError) {
          // Definitive: another writer holds those keys, so our entries are not committed anywhere.
          // Re-read the log end of every partition of the component and assign offsets again.
          for (const ref of refs) this.tails.delete(partitionKey(ref));
          entries = undefined;
        } else if (!isAmbiguous(error)) {
          throw error;
        } else {
          await this.crash.reach('commit.afterAmbiguousFailure', refs.map(partitionKey).join(','));
        }
        lastError = error;
        // An ambiguous failure (timeout, network) may have committed: retry the very same entries, never
        // other offsets, so that a landed commit is recognised as ours instead of being committed twice.
        if (attempt >= this.options.maxCommitAttempts) {
          throw new ThrottledError(
            `could not commit to ${refs.map(partitionKey).join(', ')} after ${attempt} attempts: too much contention`,
            { cause: error },
          );
        }
        await sleep(Math.min(200, 2 ** Math.min(attempt, 7)) * Math.random());
      }
    }
  }

  /**
   * The error of a component whose commit may not start another attempt. After an ambiguous failure the
   * records may be committed: the answer is INTERNAL (outcome unknown, as any 500), never a claim that
   * nothing was written. After conflicts only, nothing was: THROTTLED, as when the attempts run out.
   */
  private pastDeadline(refs: readonly PartitionRef[], attempts: number, lastError: unknown): SluiceError {
    const where = refs.map(partitionKey).join(', ');
    const bound = `maxCommitDelayMs (${this.options.maxCommitDelayMs} ms)`;
    if (lastError !== undefined && isAmbiguous(lastError)) {
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

  private async tailOf(ref: PartitionRef): Promise<CachedTail> {
    const key = partitionKey(ref);
    const cached = this.tails.get(key);
    const now = this.clock.now();
    if (cached && now - cached.confirmedAt <= this.options.tailCacheMaxAgeMs && now >= cached.confirmedAt) {
      return cached;
    }
    const tail = await this.metadata.getTail(ref);
    const fresh: CachedTail = {
      nextOffset: tail ? tail.lastOffset + 1 : 0,
      maxTimestampSoFar: tail ? tail.maxTimestampSoFar : Number.MIN_SAFE_INTEGER,
      confirmedAt: now,
    };
    this.tails.set(key, fresh);
    return fresh;
  }
}

/** The idempotency completions of a component's requests, with the base offsets these entries assign. */
function completionsFor(
  indexes: readonly number[],
  requests: readonly AppendRequest[],
  component: readonly PartitionBatch[],
  entries: readonly IndexEntry[],
): IdempotencyCompletion[] {
  return indexes.flatMap((index) => {
    const completion = requests[index]?.completion;
    if (!completion) return [];
    const bases = new Map<number, number>();
    component.forEach((batch, i) => {
      const member = batch.members.find((m) => m.request === index);
      const entry = entries[i];
      if (member && entry) bases.set(batch.partition, entry.baseOffset + member.start);
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

/** Union of batches that share a request: each union commits atomically. */
function connectedComponents(requestCount: number, batches: PartitionBatch[]): PartitionBatch[][] {
  const parent = batches.map((_, i) => i);
  const find = (i: number): number => {
    let root = i;
    while (parent[root] !== root) root = parent[root] as number;
    parent[i] = root;
    return root;
  };
  const firstBatchOfRequest = new Array<number | undefined>(requestCount);
  batches.forEach((batch, i) => {
    for (const { request } of batch.members) {
      const first = firstBatchOfRequest[request];
      if (first === undefined) firstBatchOfRequest[request] = i;
      else parent[find(i)] = find(first);
    }
  });
  const groups = new Map<number, PartitionBatch[]>();
  batches.forEach((batch, i) => {
    const root = find(i);
    const group = groups.get(root) ?? [];
    group.push(batch);
    groups.set(root, group);
  });
  return [...groups.values()];
}

/** Errors after which the write may or may not have happened. */
function isAmbiguous(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const name = error.name;
  const meta = (error as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return (
    name === 'TimeoutError' ||
    name === 'RequestTimeout' ||
    name === 'AbortError' ||
    /ECONNRESET|ETIMEDOUT|EPIPE|socket hang up/i.test(error.message) ||
    (meta?.httpStatusCode !== undefined && meta.httpStatusCode >= 500) ||
    name === 'ProvisionedThroughputExceededException' ||
    name === 'ThrottlingException' ||
    name === 'InternalServerError' ||
    name === 'TransactionInProgressException'
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
