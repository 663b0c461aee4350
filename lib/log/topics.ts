import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import { type CrashPoints, NO_CRASH_POINTS } from '../crash-points.js';
import { InvalidRequestError, TopicNotFoundError } from '../errors.js';
import type { Limits } from '../limits.js';
import type { MetadataStore } from '../metadata/metadata-store.js';
import { DEFAULT_TOPIC_CONFIG, type Topic, type TopicConfig, type TopicConfigInput } from '../types.js';

/** Kafka's rule for topic names: 1–249 of [a-zA-Z0-9._-], and not "." or "..". */
export const TOPIC_NAME_PATTERN = /^[a-zA-Z0-9._-]{1,249}$/;

export function validateTopicName(name: string): void {
  if (!TOPIC_NAME_PATTERN.test(name) || name === '.' || name === '..') {
    throw new InvalidRequestError(
      `invalid topic name '${name.slice(0, 300)}': use 1–249 characters of [a-zA-Z0-9._-], not '.' or '..'`,
    );
  }
}

export interface TopicServiceOptions {
  /**
   * How long a topic read from the metadata store is reused by this process. Produce and fetch look the
   * topic up on every call; a short cache keeps that off DynamoDB's bill. Changes made through this
   * process invalidate it at once; changes made elsewhere (another Lambda instance) show within this bound.
   */
  cacheTtlMs: number;
  /**
   * How old a cached topic a reader may still use once the head read it makes anyway has confirmed its
   * version (`cachedForRead`); past this the reader reads the topic again.
   */
  maxValidatedAgeMs: number;
}

/** Topic administration: create, describe, list, change, delete. */
export class TopicService {
  private readonly cache = new Map<string, { topic: Topic; expiresAt: number; confirmedAt: number }>();
  /** Concurrent misses for one topic share one read instead of each going to the store. */
  private readonly loading = new Map<string, Promise<{ topic: Topic | undefined; cacheable: boolean }>>();
  /** Topics to read strongly consistently next (invalidated), and until when to read every topic so. */
  private readonly stale = new Set<string>();
  private consistentUntil = 0;
  /** Bumped by every invalidation: a read started before one is not cached. */
  private generation = 0;

  constructor(
    private readonly metadata: MetadataStore,
    private readonly clock: Clock,
    private readonly limits: Limits,
    private readonly options: TopicServiceOptions,
    private readonly crash: CrashPoints = NO_CRASH_POINTS,
  ) {}

  async create(input: { name: string; partitions?: number; config?: TopicConfigInput }): Promise<Topic> {
    validateTopicName(input.name);
    const partitions = input.partitions ?? 1;
    this.checkPartitions(partitions);
    const config = { ...DEFAULT_TOPIC_CONFIG, ...stripUndefined(input.config ?? {}) };
    validateConfig(config);
    const topic: Topic = {
      name: input.name,
      topicId: randomUUID(),
      partitions,
      config,
      createdAt: this.clock.now(),
      logStartOffsets: {},
    };
    await this.metadata.createTopic(topic);
    this.invalidate(topic.name);
    return topic;
  }

  /** The topic, from the cache when fresh. Throws TopicNotFoundError. */
  async get(name: string): Promise<Topic> {
    const now = this.clock.now();
    const cached = this.cache.get(name);
    if (cached && cached.expiresAt > now) return cached.topic;
    let load = this.loading.get(name);
    if (!load) {
      // After an invalidation, a strongly consistent read: an eventually consistent one could still
      // answer what this process has just changed (a log start its retention pass advanced).
      const consistent = this.stale.has(name) || now < this.consistentUntil;
      const generation = this.generation;
      const started = this.metadata.getTopic(name, { consistent }).then((topic) => {
        // An invalidation while the read was under way: the answer may predate the change, so not cached.
        if (generation !== this.generation) return { topic, cacheable: false };
        this.stale.delete(name);
        return { topic, cacheable: true };
      });
      load = started.finally(() => {
        if (this.loading.get(name) === load) this.loading.delete(name);
      });
      this.loading.set(name, load);
    }
    const { topic, cacheable } = await load;
    if (!topic) {
      this.cache.delete(name);
      throw new TopicNotFoundError(name);
    }
    if (cacheable && this.options.cacheTtlMs > 0)
      this.cache.set(name, { topic, expiresAt: now + this.options.cacheTtlMs, confirmedAt: now });
    return topic;
  }

  /**
   * For a reader who is about to read the topic's chain head anyway (fetch): the cached topic even past the
   * cache's bound (known current at most `maxValidatedAgeMs` ago), with whether it is within the bound. The reader must
   * check it against the head's topic version (`confirm` when it matches, `refresh` when it does not), so a
   * topic read this way is as current as the head read, not as the cache (docs/ARCHITECTURE.md §8).
   */
  cachedForRead(name: string): { topic: Topic; fresh: boolean } | undefined {
    const cached = this.cache.get(name);
    if (!cached) return undefined;
    const now = this.clock.now();
    if (cached.confirmedAt > now || now - cached.confirmedAt > this.options.maxValidatedAgeMs)
      return undefined;
    return { topic: cached.topic, fresh: cached.expiresAt > now };
  }

  /**
   * A strongly consistent head read showed `topic`'s version to be current: it counts as just read. Ignored
   * when this process changed the topic meanwhile (an invalidation), or the cache holds another answer.
   */
  confirm(topic: Topic, generation: number): void {
    const cached = this.cache.get(topic.name);
    if (generation !== this.generation || cached?.topic !== topic || this.options.cacheTtlMs <= 0) return;
    const now = this.clock.now();
    cached.expiresAt = now + this.options.cacheTtlMs;
    cached.confirmedAt = now;
  }

  /** The invalidation count now: pass it to `confirm` from before the head read that confirms. */
  get changeCount(): number {
    return this.generation;
  }

  /** Reads the topic strongly consistently and caches it (a head read showed the cached one out of date). */
  async refresh(name: string): Promise<Topic> {
    this.invalidate(name);
    return this.get(name);
  }

  /**
   * Forgets the cached topic: the next `get` reads it strongly consistently (a maintenance pass of this
   * process advanced its log start, or this process changed it).
   */
  invalidate(name: string): void {
    this.generation += 1;
    this.cache.delete(name);
    this.loading.delete(name);
    if (this.stale.size >= 10_000) {
      // A bound on memory: names invalidated and never read again (deleted topics).
      this.stale.clear();
      this.consistentUntil = this.clock.now() + 1_000;
    }
    this.stale.add(name);
  }

  /**
   * Forgets every cached topic, and reads topics strongly consistently for the next second (a pass that ran
   * in another process on this instance's behalf changed topics this process cannot name).
   */
  invalidateAll(): void {
    this.generation += 1;
    for (const name of this.cache.keys()) this.stale.add(name);
    this.cache.clear();
    this.loading.clear();
    this.consistentUntil = this.clock.now() + 1_000;
  }

  /** The topic read from the store with a strongly consistent read, bypassing the cache. */
  async getFresh(name: string): Promise<Topic> {
    const topic = await this.metadata.getTopic(name, { consistent: true });
    if (!topic) throw new TopicNotFoundError(name);
    return topic;
  }

  async list(): Promise<Array<Pick<Topic, 'name' | 'partitions'>>> {
    return this.metadata.listTopics();
  }

  async update(name: string, input: { partitions?: number; config?: TopicConfigInput }): Promise<Topic> {
    const current = await this.getFresh(name);
    if (input.partitions !== undefined) {
      this.checkPartitions(input.partitions);
      if (input.partitions < current.partitions) {
        throw new InvalidRequestError(`partitions may only grow (topic '${name}' has ${current.partitions})`);
      }
    }
    let config: TopicConfig | undefined;
    if (input.config !== undefined) {
      config = { ...current.config, ...stripUndefined(input.config) };
      validateConfig(config);
    }
    const updated = await this.metadata.updateTopic(name, current.topicId, {
      ...(input.partitions !== undefined ? { partitions: input.partitions } : {}),
      ...(config !== undefined ? { config } : {}),
    });
    this.invalidate(name);
    return updated;
  }

  async delete(name: string): Promise<Topic> {
    const deleted = await this.metadata.deleteTopic(name);
    this.invalidate(name);
    await this.crash.reach('topic.afterDelete', name);
    return deleted;
  }

  private checkPartitions(partitions: number): void {
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > this.limits.maxPartitionsPerTopic) {
      throw new InvalidRequestError(
        `partitions must be an integer from 1 to ${this.limits.maxPartitionsPerTopic}, got ${partitions}`,
      );
    }
  }
}

function validateConfig(config: TopicConfig): void {
  const problems: string[] = [];
  if (!Number.isInteger(config.retentionMs) || (config.retentionMs < 1 && config.retentionMs !== -1)) {
    problems.push('retentionMs must be a positive integer or -1 (unlimited)');
  }
  if (
    !Number.isInteger(config.retentionBytes) ||
    (config.retentionBytes < 1 && config.retentionBytes !== -1)
  ) {
    problems.push('retentionBytes must be a positive integer or -1 (unlimited)');
  }
  if (!['delete', 'compact', 'compact,delete'].includes(config.cleanupPolicy)) {
    problems.push("cleanupPolicy must be 'delete', 'compact' or 'compact,delete'");
  }
  if (!Number.isInteger(config.maxRecordBytes) || config.maxRecordBytes < 1) {
    problems.push('maxRecordBytes must be a positive integer');
  }
  if (!Number.isInteger(config.deleteRetentionMs) || config.deleteRetentionMs < 0) {
    problems.push('deleteRetentionMs must be a non-negative integer');
  }
  if (!Number.isInteger(config.minCompactionLagMs) || config.minCompactionLagMs < 0) {
    problems.push('minCompactionLagMs must be a non-negative integer');
  }
  if (problems.length > 0) throw new InvalidRequestError(`invalid topic config: ${problems.join('; ')}`);
}

function stripUndefined(value: TopicConfigInput): Partial<TopicConfig> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<TopicConfig>;
}
