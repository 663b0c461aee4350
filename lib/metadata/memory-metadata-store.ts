import { randomUUID } from 'node:crypto';
import { InvalidRequestError, TopicExistsError, TopicNotFoundError } from '../errors.js';
import type { Topic } from '../types.js';
import {
  type ChainHead,
  type CommitRecord,
  EMPTY_HEAD,
  entryOf,
  headOf,
  terminalAfter,
} from './commit-record.js';
import {
  CommitConflictError,
  type IdempotencyClaim,
  type IdempotencyCompletion,
  IdempotencyLostError,
  type IdempotencyState,
  type IndexEntry,
  type IndexMark,
  type MetadataStore,
  type PartitionRef,
  partitionKey,
  type TopicUpdate,
} from './metadata-store.js';

/**
 * In-memory MetadataStore for unit tests. Every method runs to completion without yielding between its
 * checks and its writes, which is what makes appendCommit() atomic here (DynamoDB transactions in the real
 * one). It indexes each commit record at once (its entries are written with it), so its chain is always
 * fully indexed and its reads need no hot tier.
 */
export class MemoryMetadataStore implements MetadataStore {
  private readonly topics = new Map<string, Topic>();
  private readonly deleted = new Map<
    string,
    { topicId: string; name: string; partitions: number; deletedAt: number }
  >();
  private readonly index = new Map<string, IndexEntry[]>();
  /** topicId → seq → record. */
  private readonly chains = new Map<string, Map<number, CommitRecord>>();
  private readonly idempotency = new Map<
    string,
    {
      bodyHash: string;
      topic: string;
      topicId: string;
      attemptId: string;
      leaseUntil: number;
      expiresAt: number;
      result?: Buffer;
    }
  >();

  private readonly gcCandidates = new Map<string, number>();
  private readonly cursors = new Map<string, string>();

  constructor(private readonly now: () => number = Date.now) {}

  async createTopic(topic: Topic): Promise<void> {
    if (this.topics.has(topic.name)) throw new TopicExistsError(topic.name);
    this.topics.set(topic.name, structuredClone(topic));
  }

  async getTopic(name: string): Promise<Topic | undefined> {
    const topic = this.topics.get(name);
    return topic && structuredClone(topic);
  }

  async listTopics(): Promise<Array<Pick<Topic, 'name' | 'partitions'>>> {
    return [...this.topics.values()]
      .map((t) => ({ name: t.name, partitions: t.partitions }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async updateTopic(name: string, topicId: string, update: TopicUpdate): Promise<Topic> {
    const topic = this.topics.get(name);
    if (!topic || topic.topicId !== topicId) throw new TopicNotFoundError(name);
    if (update.partitions !== undefined && update.partitions < topic.partitions) {
      throw new InvalidRequestError(`partitions may only grow (topic '${name}' has ${topic.partitions})`);
    }
    if (update.partitions !== undefined) topic.partitions = update.partitions;
    if (update.config !== undefined) topic.config = { ...update.config };
    if (update.partitions !== undefined || update.config !== undefined)
      topic.version = (topic.version ?? 0) + 1;
    return structuredClone(topic);
  }

  async deleteTopic(name: string): Promise<Topic> {
    const topic = this.topics.get(name);
    if (!topic) throw new TopicNotFoundError(name);
    this.topics.delete(name);
    const head = await this.getHead(topic.topicId);
    this.chain(topic.topicId).set(head.seq + 1, terminalAfter(topic.topicId, head, this.now()));
    this.deleted.set(topic.topicId, {
      topicId: topic.topicId,
      name,
      partitions: topic.partitions,
      deletedAt: this.now(),
    });
    return topic;
  }

  async listDeletedTopics() {
    return [...this.deleted.values()].map((d) => ({ ...d }));
  }

  async getTail(ref: PartitionRef): Promise<IndexEntry | undefined> {
    const entries = this.index.get(partitionKey(ref));
    const tail = entries?.[entries.length - 1];
    return tail && { ...tail };
  }

  async getHead(topicId: string): Promise<ChainHead> {
    const chain = this.chains.get(topicId);
    const live = [...this.topics.values()].find((t) => t.topicId === topicId);
    const topicVersion = live?.version ?? 0;
    if (!chain || chain.size === 0) return { ...EMPTY_HEAD, topicVersion };
    const newest = Math.max(...chain.keys());
    return { ...headOf(chain.get(newest) as CommitRecord), topicVersion };
  }

  async appendCommit(
    record: CommitRecord,
    completions: readonly IdempotencyCompletion[] = [],
  ): Promise<void> {
    const chain = this.chain(record.topicId);
    const existing = chain.get(record.seq);
    // Our own earlier attempt landed (a retry after a lost answer): committed.
    if (existing && existing.objectKey === record.objectKey && !existing.deleted) return;
    if (existing) throw new CommitConflictError(record.topicId, record.seq, structuredClone(existing));
    for (const completion of completions) {
      const stored = this.idempotency.get(idempotencyId(completion.scope, completion.key));
      if (!stored || stored.attemptId !== completion.attemptId || stored.result)
        throw new IdempotencyLostError(completion.key);
    }
    for (const completion of completions) {
      const stored = this.idempotency.get(idempotencyId(completion.scope, completion.key));
      if (stored) stored.result = Buffer.from(completion.result);
    }
    chain.set(record.seq, structuredClone(record));
    for (const batch of record.batches) {
      const { seq: _seq, ...entry } = entryOf(record, batch);
      const key = partitionKey(entry);
      const list = this.index.get(key) ?? [];
      list.push(entry);
      list.sort((a, b) => a.baseOffset - b.baseOffset);
      this.index.set(key, list);
    }
  }

  async claimIdempotencyKey(claim: IdempotencyClaim, now: number): Promise<IdempotencyState> {
    const id = idempotencyId(claim.scope, claim.key);
    const record = this.idempotency.get(id);
    const replaceable = claim.replacing !== undefined && record?.topicId === claim.replacing;
    if (record && record.expiresAt > now && !replaceable) {
      if (record.topicId !== claim.topicId) {
        return { state: 'other-incarnation', topic: record.topic, topicId: record.topicId };
      }
      if (record.bodyHash !== claim.bodyHash) return { state: 'mismatch' };
      if (record.result) return { state: 'committed', result: Buffer.from(record.result) };
      if (record.leaseUntil > now) return { state: 'in-flight' };
    }
    const attemptId = randomUUID();
    this.idempotency.set(id, {
      bodyHash: claim.bodyHash,
      topic: claim.topic,
      topicId: claim.topicId,
      attemptId,
      leaseUntil: claim.leaseUntil,
      expiresAt: claim.expiresAt,
    });
    return { state: 'started', attemptId };
  }

  async releaseIdempotencyKey(scope: string, key: string, attemptId: string): Promise<void> {
    const id = idempotencyId(scope, key);
    const record = this.idempotency.get(id);
    if (record && record.attemptId === attemptId && !record.result) this.idempotency.delete(id);
  }

  async findEntries(ref: PartitionRef, offset: number, limit: number): Promise<IndexEntry[]> {
    const entries = this.index.get(partitionKey(ref)) ?? [];
    return entries
      .filter((e) => e.lastOffset >= offset)
      .slice(0, limit)
      .map((e) => ({ ...e }));
  }

  async entryAtOrBefore(ref: PartitionRef, offset: number): Promise<IndexEntry | undefined> {
    const entries = this.index.get(partitionKey(ref)) ?? [];
    let found: IndexEntry | undefined;
    for (const entry of entries) {
      if (entry.baseOffset <= offset) found = entry;
      else break;
    }
    return found && { ...found };
  }

  async *listIndexedEntries(ref: PartitionRef, fromOffset: number, below: number): AsyncIterable<IndexEntry> {
    for await (const entry of this.listEntries(ref, fromOffset)) {
      if (entry.baseOffset < below) yield entry;
    }
  }

  async *listEntries(ref: PartitionRef, fromOffset: number): AsyncIterable<IndexEntry> {
    for (const entry of this.index.get(partitionKey(ref)) ?? []) {
      if (entry.lastOffset >= fromOffset) yield { ...entry };
    }
  }

  // ---- maintenance --------------------------------------------------------------------------------------

  async forgetDeletedTopic(topicId: string): Promise<void> {
    this.deleted.delete(topicId);
  }

  // Every record is indexed when committed: the mark is always the head, and there is nothing to claim.
  async getIndexMark(topicId: string): Promise<IndexMark> {
    const head = await this.getHead(topicId);
    return { seq: head.seq, ends: head.ends };
  }

  async claimIndexing(): Promise<number | undefined> {
    return undefined;
  }

  async *listCommits(topicId: string, afterSeq: number, uptoSeq: number): AsyncIterable<CommitRecord> {
    const chain = this.chains.get(topicId);
    if (!chain) return;
    for (const seq of [...chain.keys()].sort((a, b) => a - b)) {
      if (seq > afterSeq && seq <= uptoSeq) yield structuredClone(chain.get(seq) as CommitRecord);
    }
  }

  async putIndexEntries(entries: readonly IndexEntry[]): Promise<void> {
    for (const entry of entries) {
      const key = partitionKey(entry);
      const list = this.index.get(key) ?? [];
      const existing = list.find((e) => e.baseOffset === entry.baseOffset);
      if (existing) {
        if (existing.lastOffset !== entry.lastOffset)
          throw new Error(`index entry ${key}@${entry.baseOffset} differs`);
        continue;
      }
      list.push({ ...entry });
      list.sort((a, b) => a.baseOffset - b.baseOffset);
      this.index.set(key, list);
    }
  }

  async advanceIndexMark(): Promise<boolean> {
    return false;
  }

  async removeCommits(topicId: string, uptoSeq: number, removableBefore: number): Promise<number> {
    const chain = this.chains.get(topicId);
    if (!chain) return 0;
    const newest = Math.max(...chain.keys());
    let removed = 0;
    for (const [seq, record] of chain) {
      if (seq <= uptoSeq && seq < newest && record.createdAt < removableBefore) {
        chain.delete(seq);
        removed++;
      }
    }
    return removed;
  }

  async removeChain(topicId: string): Promise<number> {
    const removed = this.chains.get(topicId)?.size ?? 0;
    this.chains.delete(topicId);
    return removed;
  }

  async advanceLogStartOffset(
    name: string,
    topicId: string,
    partition: number,
    offset: number,
  ): Promise<boolean> {
    const topic = this.topics.get(name);
    if (!topic || topic.topicId !== topicId) return false;
    if ((topic.logStartOffsets[partition] ?? 0) >= offset) return false;
    topic.logStartOffsets[partition] = offset;
    topic.version = (topic.version ?? 0) + 1;
    return true;
  }

  async replaceEntries(replacements: ReadonlyArray<{ old: IndexEntry; next: IndexEntry }>): Promise<number> {
    let replaced = 0;
    for (const { old, next } of replacements) {
      const list = this.index.get(partitionKey(old)) ?? [];
      const i = list.findIndex((x) => x.baseOffset === old.baseOffset);
      const stored = list[i];
      if (!stored || !samePlace(stored, old)) continue;
      list[i] = { ...next };
      replaced++;
    }
    return replaced;
  }

  async removeEntries(entries: readonly IndexEntry[], removableBefore: number): Promise<number> {
    let removed = 0;
    for (const entry of entries) {
      const stored = this.index.get(partitionKey(entry))?.find((x) => x.baseOffset === entry.baseOffset);
      if (stored && samePlace(stored, entry) && stored.createdAt < removableBefore) {
        this.removeEntry(entry);
        removed++;
      }
    }
    return removed;
  }

  async scanReferencedObjects(): Promise<{ objects: Set<string>; itemsRead: number }> {
    const objects = new Set<string>();
    let itemsRead = 0;
    for (const list of this.index.values()) {
      for (const entry of list) {
        objects.add(entry.objectKey);
        itemsRead++;
      }
    }
    return { objects, itemsRead };
  }

  async listGcCandidates(): Promise<Map<string, number>> {
    return new Map(this.gcCandidates);
  }

  async markGcCandidates(keys: readonly string[], firstSeenAt: number): Promise<void> {
    for (const key of keys) if (!this.gcCandidates.has(key)) this.gcCandidates.set(key, firstSeenAt);
  }

  async clearGcCandidates(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.gcCandidates.delete(key);
  }

  async getMaintenanceCursor(job: string): Promise<string | undefined> {
    return this.cursors.get(job);
  }

  async setMaintenanceCursor(job: string, cursor: string | undefined): Promise<void> {
    if (cursor === undefined) this.cursors.delete(job);
    else this.cursors.set(job, cursor);
  }

  private chain(topicId: string): Map<number, CommitRecord> {
    let chain = this.chains.get(topicId);
    if (!chain) {
      chain = new Map();
      this.chains.set(topicId, chain);
    }
    return chain;
  }

  private removeEntry(entry: IndexEntry): void {
    const list = this.index.get(partitionKey(entry)) ?? [];
    const i = list.findIndex((x) => x.baseOffset === entry.baseOffset);
    if (i >= 0) list.splice(i, 1);
  }
}

/** The entry still points at the same bytes (nobody swapped or removed it since it was read). */
function samePlace(a: IndexEntry, b: IndexEntry): boolean {
  return a.objectKey === b.objectKey && a.byteOffset === b.byteOffset;
}

function idempotencyId(scope: string, key: string): string {
  return `${scope}\u0000${key}`;
}
