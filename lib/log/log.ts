import type { Clock } from '../clock.js';
import { mapBounded } from '../concurrency.js';
import { type CrashPoints, NO_CRASH_POINTS } from '../crash-points.js';
import {
  ConflictError,
  IdempotencyKeyReusedError,
  InvalidRequestError,
  OffsetOutOfRangeError,
  PartitionNotFoundError,
  SluiceError,
  TopicNotFoundError,
} from '../errors.js';
import type { Limits } from '../limits.js';
import {
  DEFAULT_MAINTENANCE_OPTIONS,
  Maintenance,
  type MaintenanceHooks,
  type MaintenanceOptions,
} from '../maintenance/maintenance.js';
import { type ChainHead, endOf, entryOf } from '../metadata/commit-record.js';
import {
  type IdempotencyClaim,
  type IdempotencyState,
  type IndexEntry,
  type MetadataStore,
  type PartitionRef,
  partitionKey,
} from '../metadata/metadata-store.js';
import { headerBytes, type LogMetrics, NO_METRICS } from '../metrics/metrics.js';
import { StickyPartitioner } from '../partitioner.js';
import type { SegmentStore } from '../storage/segment-store.js';
import type { Compression, FetchedRecord, Topic } from '../types.js';
import {
  Appender,
  type AppenderHooks,
  type AppendRequest,
  COMMIT_ATTEMPT_MARGIN_MS,
  minGcGraceMs,
} from './appender.js';
import { ProduceBatcher } from './batcher.js';
import {
  decodeProduceResult,
  encodeProduceResult,
  IDEMPOTENCY_LEASE_MS,
  IDEMPOTENCY_WINDOW_MS,
  type ProduceOffsets,
  produceBodyHash,
} from './idempotency.js';
import { type ProduceInput, prepareProduce } from './produce.js';
import { RecentEntries } from './recent-entries.js';
import { SegmentReader } from './segment-reader.js';
import { TopicService } from './topics.js';
import { PartitionWatcher } from './watcher.js';

export interface LogOptions {
  /** 0: every produce call flushes its own segment (Lambda). > 0: merge concurrent calls (agent mode). */
  lingerMs: number;
  maxFlushBytes: number;
  maxFlushInFlight: number;
  compression: Compression;
  maxCommitAttempts: number;
  /**
   * The longest time from the start of a flush's segment put to the start of any commit attempt; past it
   * the produce fails (§4.3). GC's grace must be at least `minGcGraceMs` of it (§10.4).
   */
  maxCommitDelayMs: number;
  /**
   * The longest a started commit attempt may take to land (COMMIT_ATTEMPT_MARGIN_MS with the SDK clients
   * of functions/deps.ts). Only a client with other timeouts changes it: the fault suite's instances, whose
   * injected delays are bounded, use a few seconds so that GC's grace can be seconds too.
   */
  commitAttemptMarginMs?: number;
  tailCacheMaxAgeMs: number;
  topicCacheTtlMs: number;
  /** How often a long-polling fetch re-reads the index for commits made by other processes. */
  pollIntervalMs: number;
  wholeObjectMaxBytes: number;
  readCacheBytes: number;
  /**
   * How long this process serves index entries it holds without asking DynamoDB: the entries it just
   * committed (RecentEntries) and the batch a read stopped inside (KnownPartitions). A maintenance pass run
   * by another instance shows here within this bound; one run by this process, at once (§8).
   */
  entryCacheTtlMs: number;
}

/**
 * How long ago a cached topic must have been known current for a reader to use it before its head read
 * confirms it (the group coordinator's plan during a member fetch, TopicService.cachedForRead).
 */
export const TOPIC_MAX_VALIDATED_AGE_MS = 60_000;

export const DEFAULT_LOG_OPTIONS: LogOptions = {
  lingerMs: 20,
  maxFlushBytes: 4 * 1024 * 1024,
  maxFlushInFlight: 4,
  compression: 'none',
  maxCommitAttempts: 100,
  maxCommitDelayMs: 5 * 60 * 1000,
  tailCacheMaxAgeMs: 30_000,
  topicCacheTtlMs: 1_000,
  pollIntervalMs: 250,
  wholeObjectMaxBytes: 8 * 1024 * 1024,
  readCacheBytes: 256 * 1024 * 1024,
  entryCacheTtlMs: 3_000,
};

export interface LogDeps {
  store: SegmentStore;
  metadata: MetadataStore;
  clock: Clock;
  limits: Limits;
  options: LogOptions;
  hooks?: AppenderHooks;
  /** Compaction, retention and GC thresholds (defaults otherwise; compression follows `options`). */
  maintenance?: Partial<MaintenanceOptions>;
  maintenanceHooks?: MaintenanceHooks;
  /** Counts of records produced and fetched per topic (lib/metrics/metrics.ts); default: none. */
  metrics?: LogMetrics;
  /** Named points of the write path and the jobs where the fault suite may crash the process; default none. */
  crashPoints?: CrashPoints;
}

export interface IdempotencyOptions {
  scope: string;
  key: string;
  /** What "the same request" means; default: the topic, format and records as parsed. */
  bodyHash?: string;
  /** How long the key is remembered; default 24 h (IDEMPOTENCY_WINDOW_MS). */
  windowMs?: number;
}

export interface FetchRequest {
  offset: number | 'earliest' | 'latest';
  maxRecords: number;
  maxBytes: number;
  waitMs: number;
  signal?: AbortSignal | undefined;
  /**
   * The topic incarnation the caller reads (a live tail pins the one it started on): when the topic's
   * current incarnation is another (deleted, perhaps created again), TOPIC_NOT_FOUND instead of records.
   */
  topicId?: string | undefined;
}

export interface FetchResult {
  records: FetchedRecord[];
  nextOffset: number;
  highWatermark: number;
  logStartOffset: number;
}

/** One partition of a multi-partition read (consumer groups), at a position the caller keeps. */
export interface PartitionFetch {
  topic: string;
  /** The incarnation the position belongs to: a re-created topic's partitions are not read. */
  topicId: string;
  partition: number;
  offset: number;
  /** Where to go when `offset` is outside the log (no committed offset, or retention passed it). */
  reset: 'earliest' | 'latest';
}

export interface FetchManyOptions {
  maxRecords: number;
  maxBytes: number;
  waitMs: number;
  signal?: AbortSignal | undefined;
  /** Topic and head reads already made for this call (a commit-on-fetch's range check shares them). */
  reads?: TopicReads;
}

/** A topic and its chain head as one reader call saw them (Log.readableTopic). */
export interface ReadableTopic {
  topic: Topic;
  head: Promise<ChainHead>;
}

/** The topics one reader call resolved, by name: each topic and its head are read once per call. */
export type TopicReads = Map<string, Promise<ReadableTopic>>;

export interface PartitionFetchResult extends PartitionFetch {
  records: FetchedRecord[];
  nextOffset: number;
  highWatermark: number;
  logStartOffset: number;
}

export interface PartitionInfo {
  partition: number;
  logStartOffset: number;
  highWatermark: number;
  segments: number;
  sizeBytes: number;
}

/**
 * What this process has learned about partitions, to save reads: the highest high watermark it saw (a high
 * watermark only grows, and no maintenance pass moves it, so it is a safe lower bound), how many records a
 * batch holds lately (to size index queries), and the last entry a read stopped inside, for at most
 * `entryTtlMs` after it was read from the index (key compaction may replace it; its old object stays
 * readable for GC's grace period, far longer). Bounded: cleared at 10,000 partitions.
 */
class KnownPartitions {
  private readonly marks = new Map<string, number>();
  private readonly perEntry = new Map<string, number>();
  private readonly lastEntries = new Map<string, { entry: IndexEntry; at: number }>();
  /** The entries the current read of a partition got, when each was read from the index, until `settle`. */
  private readonly seen = new Map<
    string,
    { entries: readonly IndexEntry[]; at: number[]; generation: number }
  >();
  /** Bumped by `forget`: a read that began before it must not store what it read. */
  private generation = 0;

  constructor(private readonly entryTtlMs: number) {}

  observeHighWatermark(ref: PartitionRef, highWatermark: number): void {
    const key = partitionKey(ref);
    if (this.marks.size > 10_000) this.marks.clear();
    if ((this.marks.get(key) ?? -1) < highWatermark) this.marks.set(key, highWatermark);
  }

  highWatermark(ref: PartitionRef): number | undefined {
    return this.marks.get(partitionKey(ref));
  }

  /** `at`: when each entry was read from the index (or committed), the start of its time in a cache. */
  observeEntries(ref: PartitionRef, entries: readonly IndexEntry[], at: number[]): void {
    const key = partitionKey(ref);
    if (this.perEntry.size > 10_000) this.perEntry.clear();
    if (this.lastEntries.size > 10_000) this.lastEntries.clear();
    if (this.seen.size > 10_000) this.seen.clear();
    const records = entries.reduce((sum, e) => sum + (e.lastOffset - e.baseOffset + 1), 0);
    if (entries.length > 0) this.perEntry.set(key, Math.max(1, records / entries.length));
    this.seen.set(key, { entries, at, generation: this.generation });
  }

  /** After a read: keep the entry the next read starts inside (if it stopped mid-batch), else nothing. */
  settle(ref: PartitionRef, next: number): void {
    const key = partitionKey(ref);
    const seen = this.seen.get(key);
    this.seen.delete(key);
    const index = seen?.entries.findIndex((e) => e.baseOffset < next && next <= e.lastOffset) ?? -1;
    const inside = seen?.entries[index];
    const at = seen?.at[index];
    if (inside && at !== undefined && seen?.generation === this.generation)
      this.lastEntries.set(key, { entry: inside, at });
    else this.lastEntries.delete(key);
  }

  recordsPerEntry(ref: PartitionRef): number {
    return this.perEntry.get(partitionKey(ref)) ?? 1;
  }

  /** The held entry that `offset` falls strictly inside, with when it was read from the index. */
  entryContaining(
    ref: PartitionRef,
    offset: number,
    now: number,
  ): { entry: IndexEntry; at: number } | undefined {
    const held = this.lastEntries.get(partitionKey(ref));
    if (!held || now - held.at > this.entryTtlMs || now < held.at) return undefined;
    const { entry } = held;
    return entry.baseOffset < offset && offset <= entry.lastOffset ? held : undefined;
  }

  /** Forgets the entries held for a partition (a maintenance pass of this process changed its index). */
  forget(ref: PartitionRef): void {
    this.generation += 1;
    this.lastEntries.delete(partitionKey(ref));
  }

  /** Forgets every entry held (a pass ran elsewhere on this instance's behalf). */
  forgetAll(): void {
    this.generation += 1;
    this.lastEntries.clear();
  }
}

/** How many index entries one fetch asks DynamoDB for at a time. */
const ENTRIES_PER_QUERY = 50;

/** The engine's use cases: topics, produce, fetch, offset lookups. Knows nothing of HTTP. */
export class Log {
  readonly topics: TopicService;
  readonly appender: Appender;
  /** The background jobs: compaction, retention, garbage collection (run on schedules or on demand). */
  readonly maintenance: Maintenance;
  /** What produce and fetch count; the HTTP layer publishes it when a request ends. */
  readonly metrics: LogMetrics;
  private readonly batcher: ProduceBatcher | undefined;
  private readonly reader: SegmentReader;
  private readonly watcher = new PartitionWatcher();
  private readonly recent: RecentEntries;
  private readonly known: KnownPartitions;
  private readonly sticky = new StickyPartitioner();
  private readonly metadata: MetadataStore;
  private readonly clock: Clock;
  private readonly limits: Limits;
  private readonly options: LogOptions;
  private readonly hooks: AppenderHooks | undefined;
  private readonly crash: CrashPoints;

  constructor(deps: LogDeps) {
    this.hooks = deps.hooks;
    this.crash = deps.crashPoints ?? NO_CRASH_POINTS;
    const gcGraceMs = deps.maintenance?.gcGraceMs ?? DEFAULT_MAINTENANCE_OPTIONS.gcGraceMs;
    const margin = deps.options.commitAttemptMarginMs ?? COMMIT_ATTEMPT_MARGIN_MS;
    if (gcGraceMs < minGcGraceMs(deps.options.maxCommitDelayMs, margin)) {
      throw new Error(
        `gcGraceMs (${gcGraceMs}) must be at least 2 × maxCommitDelayMs (${deps.options.maxCommitDelayMs}) ` +
          `+ ${margin} ms = ${minGcGraceMs(deps.options.maxCommitDelayMs, margin)} (docs/ARCHITECTURE.md §10.4)`,
      );
    }
    this.metrics = deps.metrics ?? NO_METRICS;
    this.metadata = deps.metadata;
    this.clock = deps.clock;
    this.limits = deps.limits;
    this.options = deps.options;
    this.topics = new TopicService(
      deps.metadata,
      deps.clock,
      deps.limits,
      { cacheTtlMs: deps.options.topicCacheTtlMs, maxValidatedAgeMs: TOPIC_MAX_VALIDATED_AGE_MS },
      this.crash,
    );
    this.appender = new Appender(
      deps.store,
      deps.metadata,
      deps.clock,
      {
        compression: deps.options.compression,
        maxCommitAttempts: deps.options.maxCommitAttempts,
        tailCacheMaxAgeMs: deps.options.tailCacheMaxAgeMs,
        maxCommitDelayMs: deps.options.maxCommitDelayMs,
      },
      this.watcher,
      deps.hooks,
      this.crash,
    );
    this.reader = new SegmentReader(deps.store, {
      wholeObjectMaxBytes: deps.options.wholeObjectMaxBytes,
      cacheBytes: deps.options.readCacheBytes,
      coalesceGapBytes: 256 * 1024,
    });
    this.appender.onSegmentWritten((key, bytes) => this.reader.remember(key, bytes));
    this.maintenance = new Maintenance(
      {
        store: deps.store,
        metadata: deps.metadata,
        clock: deps.clock,
        crashPoints: this.crash,
        ...(deps.maintenanceHooks ? { hooks: deps.maintenanceHooks } : {}),
      },
      { compression: deps.options.compression, ...deps.maintenance },
    );
    this.known = new KnownPartitions(deps.options.entryCacheTtlMs);
    this.recent = new RecentEntries(deps.clock, {
      maxPerPartition: 64,
      ttlMs: deps.options.entryCacheTtlMs,
    });
    // A pass of this process forgets what the caches hold of each partition it changes, before it answers.
    this.maintenance.onChange((change) => {
      const ref = { topicId: change.topicId, partition: change.partition };
      this.recent.forget(ref);
      this.known.forget(ref);
      if (change.what === 'logStartOffset') this.topics.invalidate(change.topic);
    });
    this.appender.onCommitted((entry) => {
      this.recent.add(entry);
      this.known.observeHighWatermark(entry, entry.lastOffset + 1);
    });
    this.batcher =
      deps.options.lingerMs > 0
        ? new ProduceBatcher(this.appender, {
            lingerMs: deps.options.lingerMs,
            maxFlushBytes: deps.options.maxFlushBytes,
            maxFlushPartitions: deps.limits.maxPartitionsPerRequest,
            maxInFlight: deps.options.maxFlushInFlight,
          })
        : undefined;
  }

  /**
   * Appends records; resolves once they are in the segment store and their offsets are committed. With
   * `idempotency`, a retry carrying the same key and body returns the first call's offsets (`replayed`)
   * and appends nothing, including after a lost response; the key is committed in the same atomic write
   * as the records (docs/ARCHITECTURE.md §4.9). A key belongs to one topic incarnation: after the topic is
   * deleted and created again, the same key appends to the new topic (it is never replayed from the old).
   */
  async produce(
    topicName: string,
    input: ProduceInput,
    options: { idempotency?: IdempotencyOptions } = {},
  ): Promise<{ offsets: ProduceOffsets; replayed: boolean }> {
    let topic = await this.topics.get(topicName);
    // An idempotent produce that finds this instance's cached incarnation stale starts again on the current one.
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.produceTo(topic, input, options.idempotency, attempt > 0);
      if (!('restartOn' in outcome)) return outcome;
      if (attempt >= 2) {
        throw new ConflictError(`topic '${topicName}' is being deleted and created again; retry later`);
      }
      topic = outcome.restartOn;
    }
  }

  /** `fresh`: `topic` was just read strongly consistently (not from the topic cache). */
  private async produceTo(
    topic: Topic,
    input: ProduceInput,
    idempotency: IdempotencyOptions | undefined,
    fresh: boolean,
  ): Promise<{ offsets: ProduceOffsets; replayed: boolean } | { restartOn: Topic }> {
    const topicName = topic.name;
    const prepared = prepareProduce(topic, input, this.limits, this.sticky, this.clock.now());
    const offsetsFrom = (bases: Map<number, number>): ProduceOffsets =>
      prepared.placements.map((p) => ({
        partition: p.partition,
        offset: (bases.get(p.partition) ?? Number.NaN) + p.position,
        timestamp: p.timestamp,
      }));

    let attemptId: string | undefined;
    if (idempotency) {
      if (prepared.request.batches.length >= this.limits.maxPartitionsPerRequest) {
        throw new InvalidRequestError(
          `an idempotent request may touch at most ${this.limits.maxPartitionsPerRequest - 1} partitions ` +
            '(its idempotency record takes one item of the atomic commit): split it',
        );
      }
      const now = this.clock.now();
      const state = await this.claimIdempotencyKey(
        topic,
        {
          scope: idempotency.scope,
          key: idempotency.key,
          bodyHash: idempotency.bodyHash ?? produceBodyHash(topicName, input),
          leaseUntil: now + IDEMPOTENCY_LEASE_MS,
          expiresAt: now + (idempotency.windowMs ?? IDEMPOTENCY_WINDOW_MS),
        },
        now,
        fresh,
      );
      if ('restartOn' in state) return state;
      if (state.state === 'mismatch') throw new IdempotencyKeyReusedError(idempotency.key);
      if (state.state === 'in-flight') {
        throw new ConflictError(
          `a request with Idempotency-Key '${idempotency.key}' is still in flight; retry later`,
        );
      }
      if (state.state === 'committed') return { offsets: decodeProduceResult(state.result), replayed: true };
      attemptId = state.attemptId;
      await this.crash.reach('idempotency.afterClaim', idempotency.key);
      const claimed = { scope: idempotency.scope, key: idempotency.key, attemptId };
      prepared.request.completion = {
        ...claimed,
        result: (bases) => encodeProduceResult(offsetsFrom(bases)),
      };
    }

    let bases: Map<number, number>;
    try {
      bases = await this.append(prepared.request, prepared.bytes);
    } catch (error) {
      // The flush found this incarnation gone: what this process caches of the topic is stale.
      if (error instanceof TopicNotFoundError) this.topics.invalidate(topicName);
      if (idempotency && attemptId) {
        // Not committed (a commit and its idempotency record are one atomic write): free the key at once.
        await this.metadata
          .releaseIdempotencyKey(idempotency.scope, idempotency.key, attemptId)
          .catch(() => undefined);
      }
      throw error;
    }
    this.metrics.produced(topicName, prepared.placements.length, prepared.bytes);
    await this.hooks?.afterCommit?.();
    await this.crash.reach('produce.afterCommit', topicName);
    return { offsets: offsetsFrom(bases), replayed: false };
  }

  /**
   * Claims an Idempotency-Key for `topic`'s incarnation (docs/ARCHITECTURE.md §4.9). A record is replayed,
   * refused or waited for only for the incarnation it was written for, and only once that incarnation is
   * confirmed current by a strongly consistent read (this instance's topic cache may be up to its TTL old):
   * a replay never points into a deleted topic. A record of a deleted incarnation counts as absent and is
   * taken over; one of another live topic is another request (`mismatch`). `restartOn`: this instance's
   * cached incarnation is stale; produce again on the current one.
   */
  private async claimIdempotencyKey(
    topic: Topic,
    claim: Omit<IdempotencyClaim, 'topic' | 'topicId' | 'replacing'>,
    now: number,
    fresh: boolean,
  ): Promise<Exclude<IdempotencyState, { state: 'other-incarnation' }> | { restartOn: Topic }> {
    let replacing: string | undefined;
    for (let round = 0; round < 3; round++) {
      const state = await this.metadata.claimIdempotencyKey(
        { ...claim, topic: topic.name, topicId: topic.topicId, ...(replacing ? { replacing } : {}) },
        now,
      );
      if (state.state === 'started') return state;
      if (state.state !== 'other-incarnation') {
        if (!fresh) {
          const current = await this.topics.getFresh(topic.name);
          if (current.topicId !== topic.topicId) return { restartOn: current };
        }
        return state;
      }
      const holder = await this.topics.getFresh(state.topic).catch((error: unknown) => {
        if (error instanceof TopicNotFoundError) return undefined;
        throw error;
      });
      if (state.topic === topic.name) {
        if (!holder) throw new TopicNotFoundError(topic.name);
        if (holder.topicId !== topic.topicId) return { restartOn: holder };
        // Else the record's incarnation was deleted and this one is current: take the record over.
      } else if (holder?.topicId === state.topicId) {
        return { state: 'mismatch' }; // the key belongs to a request on another topic, still alive
      }
      replacing = state.topicId;
    }
    throw new ConflictError(`Idempotency-Key '${claim.key}' is contended; retry later`);
  }

  private async append(request: AppendRequest, bytes: number): Promise<Map<number, number>> {
    let partitions: Map<number, { baseOffset: number }>;
    if (this.batcher) {
      partitions = await this.batcher.submit(request, bytes);
    } else {
      const [result] = await this.appender.append([request]);
      if (!result) throw new Error('appender returned no result');
      if (!result.ok) throw result.error;
      partitions = result.partitions;
    }
    return new Map([...partitions].map(([partition, { baseOffset }]) => [partition, baseOffset]));
  }

  /**
   * Forgets everything this process caches of the index and of topics, so that its next reads reflect a
   * maintenance pass that ran in another process on its behalf (the deployed API function's admin passes
   * run in the job's own function). Passes this process runs itself forget only what they change.
   */
  forgetCachedIndex(): void {
    this.recent.clear();
    this.known.forgetAll();
    this.topics.invalidateAll();
  }

  /** Answers every produce call still waiting in the batcher (for a clean shutdown). */
  async flush(): Promise<void> {
    await this.batcher?.drain();
  }

  async fetch(topicName: string, partition: number, request: FetchRequest): Promise<FetchResult> {
    const { topic, head } = await this.readableTopic(topicName);
    if (request.topicId !== undefined && topic.topicId !== request.topicId) {
      throw new SluiceError(
        'TOPIC_NOT_FOUND',
        `topic '${topicName}' was deleted while it was being read (a topic created again under its name is ` +
          'a new, empty topic)',
      );
    }
    const ref = this.refOf(topic, partition);
    const logStartOffset = topic.logStartOffsets[partition] ?? 0;
    let highWatermark = await this.highWatermark(ref, logStartOffset, new Map([[topic.topicId, head]]));
    const offset =
      request.offset === 'earliest'
        ? logStartOffset
        : request.offset === 'latest'
          ? highWatermark
          : request.offset;
    if (offset < logStartOffset || offset > highWatermark) {
      throw new OffsetOutOfRangeError(offset, logStartOffset, highWatermark);
    }
    const maxRecords = Math.max(1, Math.min(request.maxRecords, this.limits.maxFetchRecords));
    const maxBytes = Math.max(1, Math.min(request.maxBytes, this.limits.maxFetchBytes));
    const waitMs = Math.max(0, Math.min(request.waitMs, this.limits.maxFetchWaitMs));

    if (offset === highWatermark && waitMs > 0) {
      highWatermark = await this.waitForRecords(ref, logStartOffset, offset, waitMs, request.signal);
    }
    if (offset >= highWatermark) return { records: [], nextOffset: offset, highWatermark, logStartOffset };

    const read = await this.readRange(ref, offset, highWatermark, maxRecords, maxBytes);
    this.metrics.fetched(topicName, read.records.length, read.countedBytes);
    return {
      records: read.records,
      nextOffset: read.nextOffset,
      highWatermark: read.highWatermark,
      logStartOffset,
    };
  }

  /**
   * Reads several partitions at once for a consumer-group member: positions outside [logStartOffset,
   * highWatermark] are reset (`reset`, as Kafka's auto.offset.reset), `waitMs` long-polls until any of the
   * partitions has a record, and `maxRecords`/`maxBytes` are split evenly between the partitions that have
   * records, with what one leaves unused offered to the others in a second round. A partition whose topic
   * incarnation is gone (deleted, re-created) or that no longer exists returns nothing.
   */
  async fetchMany(
    requests: readonly PartitionFetch[],
    options: FetchManyOptions,
  ): Promise<PartitionFetchResult[]> {
    // A member may own 1,000 partitions: at most STORE_CONCURRENCY watermark reads and range reads at once;
    // the partitions of one topic share one read of its chain head.
    const heads = new Map<string, Promise<ChainHead>>();
    const topics: TopicReads = options.reads ?? new Map();
    const states = await mapBounded(
      requests,
      async (request): Promise<PartitionFetchResult & { ref?: PartitionRef }> => {
        const empty = {
          ...request,
          records: [],
          nextOffset: request.offset,
          highWatermark: 0,
          logStartOffset: 0,
        };
        let topic: Topic;
        try {
          const resolved = await this.readableTopicIn(topics, request.topic);
          topic = resolved.topic;
          heads.set(topic.topicId, resolved.head);
        } catch (error) {
          if (error instanceof SluiceError && error.code === 'TOPIC_NOT_FOUND') return empty;
          throw error;
        }
        if (topic.topicId !== request.topicId || request.partition >= topic.partitions) return empty;
        const ref = { topicId: topic.topicId, partition: request.partition };
        const logStartOffset = topic.logStartOffsets[request.partition] ?? 0;
        const highWatermark = await this.highWatermark(ref, logStartOffset, heads);
        const outOfRange = request.offset < logStartOffset || request.offset > highWatermark;
        const offset = !outOfRange
          ? request.offset
          : request.reset === 'earliest'
            ? logStartOffset
            : highWatermark;
        return { ...request, ref, records: [], nextOffset: offset, highWatermark, logStartOffset };
      },
    );
    const live = states.filter((s) => s.ref !== undefined);
    const waitMs = Math.max(0, Math.min(options.waitMs, this.limits.maxFetchWaitMs));
    if (waitMs > 0 && live.length > 0 && live.every((s) => s.nextOffset >= s.highWatermark)) {
      await this.waitForAny(live, waitMs, options.signal);
    }

    let recordsLeft = Math.max(1, Math.min(options.maxRecords, this.limits.maxFetchRecords));
    let bytesLeft = Math.max(1, Math.min(options.maxBytes, this.limits.maxFetchBytes));
    let candidates = live.filter((s) => s.nextOffset < s.highWatermark);
    for (let round = 0; round < 2 && candidates.length > 0 && recordsLeft > 0 && bytesLeft > 0; round++) {
      const recordQuota = Math.max(1, Math.floor(recordsLeft / candidates.length));
      const byteQuota = Math.max(1, Math.floor(bytesLeft / candidates.length));
      const reads = await mapBounded(candidates, (s) =>
        this.readRange(s.ref as PartitionRef, s.nextOffset, s.highWatermark, recordQuota, byteQuota),
      );
      const full: typeof candidates = [];
      candidates.forEach((s, i) => {
        const read = reads[i];
        if (!read) return;
        s.records.push(...read.records);
        this.metrics.fetched(s.topic, read.records.length, read.countedBytes);
        s.nextOffset = read.nextOffset;
        s.highWatermark = Math.max(s.highWatermark, read.highWatermark);
        recordsLeft -= read.records.length;
        bytesLeft -= read.bytes;
        if (read.nextOffset < s.highWatermark) full.push(s);
      });
      candidates = full;
    }
    return states.map(({ ref: _ref, ...result }) => result);
  }

  /**
   * A partition's log start and high watermark (strongly consistent). With `atLeast`, a high watermark this
   * process already saw at or above it is answered without a read: a high watermark only ever grows, so it
   * is a true lower bound (what a commit's range check needs).
   */
  async watermarks(
    topicName: string,
    partition: number,
    atLeast?: number,
    /**
     * The reads of the fetch this belongs to (a commit-on-fetch): the topic and head it reads next anyway,
     * read once for both.
     */
    reads?: TopicReads,
  ): Promise<{ topicId: string; logStartOffset: number; highWatermark: number }> {
    if (reads) {
      const { topic, head } = await this.readableTopicIn(reads, topicName);
      const ref = this.refOf(topic, partition);
      const logStartOffset = topic.logStartOffsets[partition] ?? 0;
      const heads = new Map([[topic.topicId, head]]);
      return {
        topicId: topic.topicId,
        logStartOffset,
        highWatermark: await this.highWatermark(ref, logStartOffset, heads),
      };
    }
    const topic = await this.topics.get(topicName);
    const ref = this.refOf(topic, partition);
    const logStartOffset = topic.logStartOffsets[partition] ?? 0;
    const known = this.known.highWatermark(ref);
    if (atLeast !== undefined && known !== undefined && known >= atLeast) {
      return { topicId: topic.topicId, logStartOffset, highWatermark: known };
    }
    return {
      topicId: topic.topicId,
      logStartOffset,
      highWatermark: await this.highWatermark(ref, logStartOffset),
    };
  }

  /**
   * Every partition's log start and high watermark of a topic, from one strongly consistent head read (the
   * lag job and a group's describe: one read per topic, not one per partition).
   */
  async topicWatermarks(
    topicName: string,
  ): Promise<{ topicId: string; partitions: Array<{ logStartOffset: number; highWatermark: number }> }> {
    const { topic, head } = await this.readableTopic(topicName);
    const { ends } = await head;
    return {
      topicId: topic.topicId,
      partitions: Array.from({ length: topic.partitions }, (_, partition) => {
        const logStartOffset = topic.logStartOffsets[partition] ?? 0;
        const highWatermark = Math.max(endOf(ends, partition).nextOffset, logStartOffset);
        this.known.observeHighWatermark({ topicId: topic.topicId, partition }, highWatermark);
        return { logStartOffset, highWatermark };
      }),
    };
  }

  /** The first offset whose timestamp is ≥ `timestamp`, or the high watermark when there is none. */
  async offsetForTimestamp(topicName: string, partition: number, timestamp: number): Promise<number> {
    const topic = await this.topics.get(topicName);
    const ref = this.refOf(topic, partition);
    const logStartOffset = topic.logStartOffsets[partition] ?? 0;
    const end = endOf((await this.metadata.getHead(ref.topicId)).ends, ref.partition);
    const highWatermark = Math.max(end.nextOffset, logStartOffset);
    if (end.nextOffset <= logStartOffset || end.maxTimestampSoFar < timestamp) return highWatermark;
    // Binary search over offsets for the first batch whose running maximum timestamp reaches the target
    // (monotonic, like Kafka's time index): O(log n) strongly consistent reads of one item each.
    let lo = logStartOffset;
    let hi = end.nextOffset - 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const entry = await this.metadata.entryAtOrBefore(ref, mid);
      if (!entry || entry.maxTimestampSoFar < timestamp) {
        lo = Math.max(mid + 1, entry ? entry.lastOffset + 1 : mid + 1);
      } else {
        hi = Math.min(entry.baseOffset, mid);
      }
    }
    for await (const entry of this.metadata.listEntries(ref, lo)) {
      const [batch] = await this.reader.read([entry]);
      for (const record of batch?.records ?? []) {
        const offset = entry.baseOffset + record.offsetDelta;
        if (offset >= logStartOffset && record.timestamp >= timestamp) return offset;
      }
    }
    return highWatermark;
  }

  /**
   * Every partition's log start, high watermark, segments and size: the indexed tier per partition, then
   * the chain's records after the index mark once for the whole topic (not once per partition).
   */
  async partitions(topicName: string): Promise<PartitionInfo[]> {
    const topic = await this.topics.getFresh(topicName);
    // Read first: records after it stay in the chain for at least a minute after a later mark passes them
    // (§4.4), so the two listings below neither miss nor double-count a batch.
    const mark = await this.metadata.getIndexMark(topic.topicId);
    const tallies = Array.from({ length: topic.partitions }, (_, partition) => {
      const logStartOffset = topic.logStartOffsets[partition] ?? 0;
      return {
        partition,
        logStartOffset,
        highWatermark: logStartOffset,
        objects: new Set<string>(),
        sizeBytes: 0,
      };
    });
    const add = (entry: { partition: number; objectKey: string; byteLength: number; lastOffset: number }) => {
      const tally = tallies[entry.partition];
      if (!tally || entry.lastOffset < tally.logStartOffset) return;
      tally.objects.add(entry.objectKey);
      tally.sizeBytes += entry.byteLength;
      tally.highWatermark = Math.max(tally.highWatermark, entry.lastOffset + 1);
    };
    await mapBounded(tallies, async (tally) => {
      const ref = { topicId: topic.topicId, partition: tally.partition };
      const below = endOf(mark.ends, tally.partition).nextOffset;
      for await (const entry of this.metadata.listIndexedEntries(ref, tally.logStartOffset, below))
        add(entry);
    });
    for await (const record of this.metadata.listCommits(
      topic.topicId,
      mark.seq,
      Number.MAX_SAFE_INTEGER - 1,
    )) {
      for (const batch of record.batches) add(entryOf(record, batch));
    }
    return tallies.map(({ objects, ...tally }) => ({ ...tally, segments: objects.size }));
  }

  /** Records of [offset, highWatermark), at most maxRecords and about maxBytes (at least one record). */
  private async readRange(
    ref: PartitionRef,
    offset: number,
    highWatermark: number,
    maxRecords: number,
    maxBytes: number,
  ): Promise<{
    records: FetchedRecord[];
    nextOffset: number;
    /** Keys and values: what maxBytes limits. */
    bytes: number;
    /** Keys, values and headers: what the metrics count (recordBytes). */
    countedBytes: number;
    /** `highWatermark`, raised to the end of every entry read: above every record returned. */
    highWatermark: number;
  }> {
    const partition = ref.partition;
    const records: FetchedRecord[] = [];
    let top = highWatermark;
    let bytes = 0;
    let countedBytes = 0;
    let next = offset;
    outer: while (next < highWatermark) {
      // Ask for about as many entries as the records still wanted need (from this partition's recent
      // records per batch), not a fixed page: an index item is ~250 bytes and a query pays for all it reads.
      const perEntry = this.known.recordsPerEntry(ref);
      const want = Math.max(
        1,
        Math.min(
          ENTRIES_PER_QUERY,
          maxRecords - records.length,
          Math.ceil((maxRecords - records.length) / perEntry) + 1,
        ),
      );
      const { entries, at } =
        this.recentRun(ref, next, want) ??
        (await this.findEntries(ref, next, want, highWatermark, maxRecords - records.length));
      if (entries.length === 0) break;
      this.known.observeEntries(ref, entries, at);
      // Every entry read is committed, and its predecessors with it (the chain, §4.1): its end is a high
      // watermark too. Entries committed after the tail read come back here, so the answer's high
      // watermark is raised to them, never left below a record it returns.
      for (const entry of entries) top = Math.max(top, entry.lastOffset + 1);
      const batches = await this.reader.read(entries);
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i] as IndexEntry;
        const batch = batches[i];
        if (!batch) break outer;
        for (const record of batch.records) {
          const recordOffset = entry.baseOffset + record.offsetDelta;
          if (recordOffset < next) continue;
          const size = (record.key?.length ?? 0) + (record.value?.length ?? 0);
          // Always return at least one record, even one larger than maxBytes, so a reader makes progress.
          if (records.length >= maxRecords || (records.length > 0 && bytes + size > maxBytes)) break outer;
          records.push({
            partition,
            offset: recordOffset,
            timestamp: record.timestamp,
            key: record.key,
            value: record.value,
            format: record.format,
            headers: record.headers,
          });
          bytes += size;
          countedBytes += size + headerBytes(record.headers);
          next = recordOffset + 1;
        }
        // Offsets removed by key compaction inside a batch are skipped transparently.
        next = Math.max(next, entry.lastOffset + 1);
      }
    }
    // Where the next read starts mid-batch (a quota ended inside it), remember that batch's entry: the
    // next read then needs one query from the following batch boundary instead of two.
    this.known.settle(ref, next);
    this.known.observeHighWatermark(ref, top);
    return { records, nextOffset: next, bytes, countedBytes, highWatermark: top };
  }

  /** This process's own recent commits from `offset` (no query), with when each was committed. */
  private recentRun(
    ref: PartitionRef,
    offset: number,
    want: number,
  ): { entries: IndexEntry[]; at: number[] } | undefined {
    const run = this.recent.timedRun(ref, offset, want);
    return run && { entries: run.map((r) => r.entry), at: run.map((r) => r.addedAt) };
  }

  /**
   * Index entries from `offset`, using the remembered batch when `offset` falls inside it; with when each
   * was read from the index.
   */
  private async findEntries(
    ref: PartitionRef,
    offset: number,
    want: number,
    highWatermark: number,
    recordsWanted: number,
  ): Promise<{ entries: IndexEntry[]; at: number[] }> {
    const now = this.clock.now();
    const queried = async (from: number, limit: number) => {
      const entries = await this.metadata.findEntries(ref, from, limit);
      return { entries, at: entries.map(() => now) };
    };
    const held = this.known.entryContaining(ref, offset, now);
    if (!held) return queried(offset, want);
    const { entry } = held;
    const enough = entry.lastOffset - offset + 1 >= recordsWanted;
    if (want <= 1 || enough || entry.lastOffset + 1 >= highWatermark)
      return { entries: [entry], at: [held.at] };
    const rest = await queried(entry.lastOffset + 1, want - 1);
    return { entries: [entry, ...rest.entries], at: [held.at, ...rest.at] };
  }

  /** Long-poll over several partitions: returns once any has a record past its position, or at the deadline. */
  private async waitForAny(
    states: Array<{ ref?: PartitionRef; nextOffset: number; highWatermark: number; logStartOffset: number }>,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const deadline = this.clock.now() + waitMs;
    for (;;) {
      const remaining = deadline - this.clock.now();
      if (remaining <= 0 || signal?.aborted) return;
      const round = new AbortController();
      const onAbort = () => round.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const woken = await Promise.race(
        states.map((s) =>
          this.watcher
            .wait(
              s.ref as PartitionRef,
              s.nextOffset + 1,
              Math.min(remaining, this.options.pollIntervalMs),
              round.signal,
            )
            .then((committed) => (committed !== undefined ? { s, committed } : undefined)),
        ),
      );
      round.abort();
      signal?.removeEventListener('abort', onAbort);
      if (woken) {
        woken.s.highWatermark = Math.max(woken.s.highWatermark, woken.committed);
        return;
      }
      const heads = new Map<string, Promise<ChainHead>>();
      const highWatermarks = await mapBounded(states, (s) =>
        this.highWatermark(s.ref as PartitionRef, s.logStartOffset, heads),
      );
      let any = false;
      states.forEach((s, i) => {
        s.highWatermark = Math.max(s.highWatermark, highWatermarks[i] ?? 0);
        if (s.highWatermark > s.nextOffset) any = true;
      });
      if (any) return;
    }
  }

  private refOf(topic: Topic, partition: number): PartitionRef {
    if (!Number.isInteger(partition) || partition < 0) {
      throw new InvalidRequestError(`partition must be a non-negative integer, got ${partition}`);
    }
    if (partition >= topic.partitions)
      throw new PartitionNotFoundError(topic.name, partition, topic.partitions);
    return { topicId: topic.topicId, partition };
  }

  /**
   * The partition's high watermark from its topic's chain head (one strongly consistent read). `heads`
   * shares one read between the partitions of a topic within one call.
   */
  private async highWatermark(
    ref: PartitionRef,
    logStartOffset: number,
    heads?: Map<string, Promise<ChainHead>>,
  ): Promise<number> {
    let head = heads?.get(ref.topicId);
    if (!head) {
      head = this.metadata.getHead(ref.topicId);
      heads?.set(ref.topicId, head);
    }
    const highWatermark = Math.max(endOf((await head).ends, ref.partition).nextOffset, logStartOffset);
    this.known.observeHighWatermark(ref, highWatermark);
    return highWatermark;
  }

  /**
   * The topic and its chain head for a reader, both as current as the strongly consistent head read: the
   * head read (which the reader needs for its high watermark anyway) carries the topic's version, so a
   * cached topic whose version matches is used without reading the topic item, past the cache's own bound
   * (up to TOPIC_MAX_VALIDATED_AGE_MS), and one whose version does not match (another instance changed the
   * partitions, the config or a log start) is read again, strongly, before it is used. A member fetch of a
   * topic it polls costs the head read alone (docs/ARCHITECTURE.md §8).
   */
  private readableTopicIn(reads: TopicReads, name: string): Promise<ReadableTopic> {
    let readable = reads.get(name);
    if (!readable) {
      readable = this.readableTopic(name);
      reads.set(name, readable);
    }
    return readable;
  }

  private async readableTopic(name: string): Promise<ReadableTopic> {
    const cached = this.topics.cachedForRead(name);
    if (cached) {
      const changes = this.topics.changeCount;
      const head = await this.metadata.getHead(cached.topic.topicId);
      if (head.topicVersion === undefined && cached.fresh)
        return { topic: cached.topic, head: Promise.resolve(head) };
      if (!head.deleted && head.topicVersion === (cached.topic.version ?? 0)) {
        if (!cached.fresh) this.topics.confirm(cached.topic, changes);
        return { topic: cached.topic, head: Promise.resolve(head) };
      }
      // Changed, deleted, or (an adapter that cannot tell) past the cache's bound: read it again.
      const topic = await this.topics.refresh(name);
      if (topic.topicId === cached.topic.topicId && head.topicVersion !== undefined && !head.deleted) {
        return { topic, head: Promise.resolve(head) };
      }
      return { topic, head: this.metadata.getHead(topic.topicId) };
    }
    const topic = await this.topics.get(name);
    const head = await this.metadata.getHead(topic.topicId);
    // The topic read may be eventually consistent: a head that counts more changes than it shows means a
    // change it missed; read it again, strongly.
    if (head.topicVersion !== undefined && head.topicVersion > (topic.version ?? 0)) {
      const current = await this.topics.refresh(name);
      return {
        topic: current,
        head:
          current.topicId === topic.topicId ? Promise.resolve(head) : this.metadata.getHead(current.topicId),
      };
    }
    return { topic, head: Promise.resolve(head) };
  }

  /** Long-poll: returns the high watermark once it passes `offset`, or when the wait ends. */
  private async waitForRecords(
    ref: PartitionRef,
    logStartOffset: number,
    offset: number,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    const deadline = this.clock.now() + waitMs;
    for (;;) {
      const remaining = deadline - this.clock.now();
      if (remaining <= 0 || signal?.aborted) return offset;
      const committed = await this.watcher.wait(
        ref,
        offset + 1,
        Math.min(remaining, this.options.pollIntervalMs),
        signal,
      );
      // Woken by a commit of this very process: that high watermark is committed, no need to ask DynamoDB.
      if (committed !== undefined && committed > offset) return committed;
      const highWatermark = await this.highWatermark(ref, logStartOffset);
      if (highWatermark > offset) return highWatermark;
    }
  }
}
