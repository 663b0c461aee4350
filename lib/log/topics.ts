import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
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
}

/** Topic administration: create, describe, list, change, delete. */
export class TopicService {
  private readonly cache = new Map<string, { topic: Topic; expiresAt: number }>();
  /** Concurrent misses for one topic share one read instead of each going to the store. */
  private readonly loading = new Map<string, Promise<Topic | undefined>>();

  constructor(
    private readonly metadata: MetadataStore,
    private readonly clock: Clock,
    private readonly limits: Limits,
    private readonly options: TopicServiceOptions,
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
    this.cache.delete(topic.name);
    return topic;
  }

  /** The topic, from the cache when fresh. Throws TopicNotFoundError. */
  async get(name: string): Promise<Topic> {
    const now = this.clock.now();
    const cached = this.cache.get(name);
    if (cached && cached.expiresAt > now) return cached.topic;
    let load = this.loading.get(name);
    if (!load) {
      load = this.metadata.getTopic(name).finally(() => this.loading.delete(name));
      this.loading.set(name, load);
    }
    const topic = await load;
    if (!topic) {
      this.cache.delete(name);
      throw new TopicNotFoundError(name);
    }
    if (this.options.cacheTtlMs > 0)
      this.cache.set(name, { topic, expiresAt: now + this.options.cacheTtlMs });
    return topic;
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
    this.cache.delete(name);
    return updated;
  }

  async delete(name: string): Promise<Topic> {
    const deleted = await this.metadata.deleteTopic(name);
    this.cache.delete(name);
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
