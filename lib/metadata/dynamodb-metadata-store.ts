import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  paginateScan,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { InvalidRequestError, TopicExistsError, TopicNotFoundError } from '../errors.js';
import type { Topic, TopicConfig } from '../types.js';
import {
  type ChainHead,
  type CommitRecord,
  EMPTY_HEAD,
  encodeEnds,
  endOf,
  entryOf,
  headOf,
  type PartitionEnd,
  terminalAfter,
} from './commit-record.js';
import {
  ChainReader,
  type ChainReaderOptions,
  chainPk,
  DEFAULT_CHAIN_READER_OPTIONS,
  itemToMark,
  itemToRecord,
  MARK_SK,
  NO_MARK,
  recordToItem,
} from './dynamodb-chain.js';
import { isOutcomeUnknown } from './dynamodb-errors.js';
import type { TableNames } from './dynamodb-schema.js';
import {
  CommitConflictError,
  CommitOutcomeUnknownError,
  type HeadReadOptions,
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

const TOPIC_PK = 'topic';
const DELETED_TOPIC_PK = 'deleted-topic';
const IDEMPOTENCY_SK = 'idempotency';
/** Unreferenced objects a GC pass has seen: `pk = "gc-candidate"`, `sk = objectKey`, `firstSeenAt`. */
const GC_CANDIDATE_PK = 'gc-candidate';
/** Where each maintenance job stopped: `pk = "maintenance"`, `sk = job`, `cursor`. */
const MAINTENANCE_PK = 'maintenance';

/** Length-prefixed, so no scope and key pair can collide with another. */
function idempotencyPk(scope: string, key: string): string {
  return `idempotency/${scope.length}/${scope}/${key}`;
}

type Item = Record<string, unknown>;

/**
 * MetadataStore on DynamoDB. Item layouts are documented in docs/ARCHITECTURE.md and dynamodb-schema.ts.
 * Condition failures never leave this file as SDK exceptions: they become typed domain errors.
 */
export class DynamoDbMetadataStore implements MetadataStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly chainReader: ChainReader;

  constructor(
    client: DynamoDBClient,
    private readonly tables: TableNames,
    private readonly now: () => number = Date.now,
    chainOptions: ChainReaderOptions = DEFAULT_CHAIN_READER_OPTIONS,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.chainReader = new ChainReader(this.doc, tables.index, now, chainOptions);
  }

  /** Commit records this instance holds in memory (the bound of ARCHITECTURE §8). */
  get heldCommitRecords(): number {
    return this.chainReader.size;
  }

  // ---- topics -------------------------------------------------------------------------------------------

  async createTopic(topic: Topic): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tables.metadata,
          Item: topicToItem(topic),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new TopicExistsError(topic.name);
      throw error;
    }
  }

  async getTopic(name: string, options: { consistent?: boolean } = {}): Promise<Topic | undefined> {
    const result = await this.doc.send(
      new GetCommand({
        TableName: this.tables.metadata,
        Key: { pk: TOPIC_PK, sk: name },
        ConsistentRead: options.consistent ?? false,
      }),
    );
    return result.Item ? itemToTopic(result.Item) : undefined;
  }

  async listTopics(): Promise<Array<Pick<Topic, 'name' | 'partitions'>>> {
    const topics: Array<Pick<Topic, 'name' | 'partitions'>> = [];
    const pages = paginateQuery(
      { client: this.doc },
      {
        TableName: this.tables.metadata,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': TOPIC_PK },
        ProjectionExpression: 'sk, #partitions',
        ExpressionAttributeNames: { '#partitions': 'partitions' },
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        topics.push({ name: String(item.sk), partitions: Number(item.partitions) });
      }
    }
    return topics;
  }

  async updateTopic(name: string, topicId: string, update: TopicUpdate): Promise<Topic> {
    const sets: string[] = [];
    const values: Item = { ':id': topicId, ':one': 1 };
    const names: Record<string, string> = {};
    let condition = 'topicId = :id';
    if (update.partitions !== undefined) {
      sets.push('#partitions = :p');
      names['#partitions'] = 'partitions';
      values[':p'] = update.partitions;
      condition += ' AND #partitions <= :p';
    }
    if (update.config !== undefined) {
      sets.push('#config = :c');
      names['#config'] = 'config';
      values[':c'] = update.config;
    }
    if (sets.length === 0) {
      const topic = await this.getTopic(name, { consistent: true });
      if (!topic || topic.topicId !== topicId) throw new TopicNotFoundError(name);
      return topic;
    }
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tables.metadata,
                Key: { pk: TOPIC_PK, sk: name },
                UpdateExpression: `SET ${sets.join(', ')} ADD tv :one`,
                ConditionExpression: condition,
                ExpressionAttributeNames: names,
                ExpressionAttributeValues: values,
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            this.bumpTopicVersion(topicId),
          ],
        }),
      );
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const [reason] = error.CancellationReasons ?? [];
      if (reason?.Code !== 'ConditionalCheckFailed') throw error;
      const old = reason.Item ? unmarshall(reason.Item as Record<string, AttributeValue>) : undefined;
      if (!old || old.topicId !== topicId) throw new TopicNotFoundError(name);
      throw new InvalidRequestError(
        `partitions may only grow (topic '${name}' has ${String(old.partitions)})`,
      );
    }
    // A transaction returns no attributes: the topic as it is now (strongly consistent, so this change shows).
    const topic = await this.getTopic(name, { consistent: true });
    if (!topic || topic.topicId !== topicId) throw new TopicNotFoundError(name);
    return topic;
  }

  /**
   * The half of a topic change's transaction that counts it on the chain's mark item (created by the update
   * when missing), where a reader's head read sees it (Topic.version, docs/ARCHITECTURE.md §8).
   */
  private bumpTopicVersion(topicId: string) {
    return {
      Update: {
        TableName: this.tables.index,
        Key: { pk: chainPk(topicId), sk: MARK_SK },
        UpdateExpression: 'ADD tv :one',
        ExpressionAttributeValues: { ':one': 1 },
      },
    };
  }

  async deleteTopic(name: string): Promise<Topic> {
    // The delete and the chain's terminal record are one transaction: once it lands, every commit to this
    // incarnation conflicts with the terminal record and answers 404.
    for (let attempt = 1; ; attempt++) {
      const topic = await this.getTopic(name, { consistent: true });
      if (!topic) throw new TopicNotFoundError(name);
      const head = await this.getHead(topic.topicId, { headOnly: true });
      const terminal = terminalAfter(topic.topicId, head, this.now());
      try {
        await this.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Delete: {
                  TableName: this.tables.metadata,
                  Key: { pk: TOPIC_PK, sk: name },
                  ConditionExpression: 'topicId = :id',
                  ExpressionAttributeValues: { ':id': topic.topicId },
                },
              },
              {
                Put: {
                  TableName: this.tables.metadata,
                  Item: {
                    pk: DELETED_TOPIC_PK,
                    sk: topic.topicId,
                    name,
                    partitions: topic.partitions,
                    deletedAt: this.now(),
                  },
                },
              },
              {
                Put: {
                  TableName: this.tables.index,
                  Item: recordToItem(terminal),
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
            ],
          }),
        );
        return topic;
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        const [topicReason, , chainReason] = error.CancellationReasons ?? [];
        // The topic changed or vanished between the read and the delete: someone else deleted it.
        if (topicReason?.Code === 'ConditionalCheckFailed') throw new TopicNotFoundError(name);
        // A commit took the chain's next position (or another transaction held an item): read again.
        if (attempt >= 50) throw error;
        if (chainReason?.Code !== 'ConditionalCheckFailed') {
          await new Promise((r) => setTimeout(r, Math.min(200, 2 ** attempt) * Math.random()));
        }
      }
    }
  }

  async listDeletedTopics() {
    const out: Array<{ topicId: string; name: string; partitions: number; deletedAt: number }> = [];
    const pages = paginateQuery(
      { client: this.doc },
      {
        TableName: this.tables.metadata,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': DELETED_TOPIC_PK },
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        out.push({
          topicId: String(item.sk),
          name: String(item.name),
          partitions: Number(item.partitions),
          deletedAt: Number(item.deletedAt),
        });
      }
    }
    return out;
  }

  /** Removes the record of a deleted incarnation once its data is gone. */
  async forgetDeletedTopic(topicId: string): Promise<void> {
    await this.doc.send(
      new DeleteCommand({ TableName: this.tables.metadata, Key: { pk: DELETED_TOPIC_PK, sk: topicId } }),
    );
  }

  // ---- offset index -------------------------------------------------------------------------------------

  async getTail(ref: PartitionRef): Promise<IndexEntry | undefined> {
    const head = await this.getHead(ref.topicId);
    const end = endOf(head.ends, ref.partition).nextOffset;
    return end === 0 ? undefined : this.entryAtOrBefore(ref, end - 1);
  }

  async getHead(topicId: string, options: HeadReadOptions = {}): Promise<ChainHead> {
    const window = await this.chainReader.readWindow(
      topicId,
      options.headOnly ? 0 : undefined,
      options.consistent ?? true,
    );
    const newest = window.records[0];
    // The newest-first query always starts with the mark when there is one (it sorts last): no mark item
    // means the topic was never changed (version 0).
    return { ...(newest ? headOf(newest) : EMPTY_HEAD), topicVersion: window.mark.topicVersion ?? 0 };
  }

  async appendCommit(
    record: CommitRecord,
    completions: readonly IdempotencyCompletion[] = [],
  ): Promise<void> {
    const item = recordToItem(record);
    const ours = (existing: CommitRecord | undefined) =>
      existing !== undefined && !existing.deleted && existing.objectKey === record.objectKey;
    if (completions.length === 0) {
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tables.index,
            Item: item,
            ConditionExpression: 'attribute_not_exists(pk)',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
      } catch (error) {
        if (isOutcomeUnknown(error)) {
          throw new CommitOutcomeUnknownError(record.topicId, record.seq, { cause: error });
        }
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        const existing = error.Item
          ? itemToRecord(unmarshall(error.Item as Record<string, AttributeValue>))
          : undefined;
        if (ours(existing)) return this.chainReader.remember(record); // our own earlier attempt landed
        if (existing) this.chainReader.remember(existing);
        throw new CommitConflictError(record.topicId, record.seq, existing, { cause: error });
      }
      this.chainReader.remember(record);
      return;
    }
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tables.index,
                Item: item,
                ConditionExpression: 'attribute_not_exists(pk)',
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
              },
            },
            ...completions.map((completion) => ({
              Update: {
                TableName: this.tables.metadata,
                Key: { pk: idempotencyPk(completion.scope, completion.key), sk: IDEMPOTENCY_SK },
                UpdateExpression: 'SET #result = :result REMOVE leaseUntil',
                ConditionExpression: 'attemptId = :attempt AND attribute_not_exists(#result)',
                ExpressionAttributeNames: { '#result': 'result' },
                ExpressionAttributeValues: { ':attempt': completion.attemptId, ':result': completion.result },
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
              },
            })),
          ],
        }),
      );
    } catch (error) {
      if (isOutcomeUnknown(error)) {
        throw new CommitOutcomeUnknownError(record.topicId, record.seq, { cause: error });
      }
      if (!(error instanceof TransactionCanceledException)) throw error;
      const reasons = error.CancellationReasons ?? [];
      const [put, ...rest] = reasons;
      const existing =
        put?.Code === 'ConditionalCheckFailed' && put.Item ? itemToRecord(unmarshall(put.Item)) : undefined;
      let lost: IdempotencyCompletion | undefined;
      let contended = put !== undefined && put.Code !== 'None' && put.Code !== undefined && !existing;
      let allOurs = ours(existing);
      rest.forEach((reason, i) => {
        const completion = completions[i];
        if (!completion || !reason || reason.Code === 'None' || reason.Code === undefined) return;
        const old = reason.Item ? unmarshall(reason.Item) : undefined;
        if (reason.Code !== 'ConditionalCheckFailed') contended = true;
        else if (!(old?.attemptId === completion.attemptId && old.result)) lost = completion;
      });
      // Each failed item was our own earlier attempt's (its record and its completions): committed.
      if (allOurs && !lost && !contended) {
        allOurs = rest.every(
          (reason, i) =>
            !reason ||
            reason.Code === 'None' ||
            reason.Code === undefined ||
            (reason.Code === 'ConditionalCheckFailed' &&
              reason.Item !== undefined &&
              unmarshall(reason.Item).attemptId === completions[i]?.attemptId),
        );
        if (allOurs) return this.chainReader.remember(record);
      }
      if (existing && !ours(existing)) {
        this.chainReader.remember(existing);
        throw new CommitConflictError(record.topicId, record.seq, existing, { cause: error });
      }
      if (lost) throw new IdempotencyLostError(lost.key);
      // Another transaction held an item (TransactionConflict): nothing was written; re-read and retry.
      throw new CommitConflictError(record.topicId, record.seq, undefined, { cause: error });
    }
    this.chainReader.remember(record);
  }

  async claimIdempotencyKey(claim: IdempotencyClaim, now: number): Promise<IdempotencyState> {
    const attemptId = randomUUID();
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tables.metadata,
          Item: {
            pk: idempotencyPk(claim.scope, claim.key),
            sk: IDEMPOTENCY_SK,
            bodyHash: claim.bodyHash,
            topic: claim.topic,
            topicId: claim.topicId,
            attemptId,
            leaseUntil: claim.leaseUntil,
            expiresAt: claim.expiresAt,
            // DynamoDB's TTL removes the item some time after this (epoch seconds); reads check expiresAt.
            ttl: Math.ceil(claim.expiresAt / 1000),
          },
          // A record of another incarnation is taken over only when named in `replacing`. Records written
          // before incarnations were recorded (no topicId) count as this incarnation's until they expire.
          ConditionExpression:
            'attribute_not_exists(pk) OR expiresAt < :now OR ' +
            '((attribute_not_exists(topicId) OR topicId = :topicId) AND bodyHash = :hash AND ' +
            'attribute_not_exists(#result) AND leaseUntil < :now)' +
            (claim.replacing !== undefined ? ' OR topicId = :replacing' : ''),
          ExpressionAttributeNames: { '#result': 'result' },
          ExpressionAttributeValues: {
            ':now': now,
            ':hash': claim.bodyHash,
            ':topicId': claim.topicId,
            ...(claim.replacing !== undefined ? { ':replacing': claim.replacing } : {}),
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { state: 'started', attemptId };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const old = error.Item ? unmarshall(error.Item as Record<string, AttributeValue>) : undefined;
      if (!old) return { state: 'in-flight' }; // changed under us: report busy, the client retries
      // The SDK retried a put whose answer was lost after DynamoDB applied it: the claim is ours.
      if (old.attemptId === attemptId && !(old.result instanceof Uint8Array))
        return { state: 'started', attemptId };
      if (typeof old.topicId === 'string' && old.topicId !== claim.topicId) {
        return { state: 'other-incarnation', topic: String(old.topic), topicId: old.topicId };
      }
      if (old.bodyHash !== claim.bodyHash) return { state: 'mismatch' };
      if (old.result instanceof Uint8Array) return { state: 'committed', result: Buffer.from(old.result) };
      return { state: 'in-flight' };
    }
  }

  async releaseIdempotencyKey(scope: string, key: string, attemptId: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tables.metadata,
          Key: { pk: idempotencyPk(scope, key), sk: IDEMPOTENCY_SK },
          ConditionExpression: 'attemptId = :attempt AND attribute_not_exists(#result)',
          ExpressionAttributeNames: { '#result': 'result' },
          ExpressionAttributeValues: { ':attempt': attemptId },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Already taken over or completed: nothing of ours to release.
    }
  }

  async findEntries(ref: PartitionRef, offset: number, limit: number): Promise<IndexEntry[]> {
    const mark = await this.chainReader.mark(ref.topicId);
    if (offset >= endOf(mark.ends, ref.partition).nextOffset) {
      return this.chainReader.entriesFrom(ref, offset, limit, mark);
    }
    const result = await this.doc.send(
      new QueryCommand({
        TableName: this.tables.index,
        KeyConditionExpression: 'pk = :pk AND sk >= :o',
        ExpressionAttributeValues: { ':pk': partitionKey(ref), ':o': offset },
        Limit: limit,
        ConsistentRead: true,
      }),
    );
    const entries = (result.Items ?? []).map(itemToEntry);
    // A reader that continues from a previous nextOffset lands on a batch boundary: one query is enough.
    if (entries[0]?.baseOffset === offset) return entries;
    const containing = await this.indexedAtOrBefore(ref, offset);
    if (containing && containing.lastOffset >= offset) return [containing, ...entries].slice(0, limit);
    return entries;
  }

  async entryAtOrBefore(ref: PartitionRef, offset: number): Promise<IndexEntry | undefined> {
    const mark = await this.chainReader.mark(ref.topicId);
    const indexedEnd = endOf(mark.ends, ref.partition).nextOffset;
    if (offset >= indexedEnd) {
      const hot = await this.chainReader.entryAtOrBefore(ref, offset, mark);
      if (hot) return hot;
    }
    return this.indexedAtOrBefore(ref, Math.min(offset, indexedEnd - 1));
  }

  /** The last indexed entry whose baseOffset ≤ offset. */
  private async indexedAtOrBefore(ref: PartitionRef, offset: number): Promise<IndexEntry | undefined> {
    if (offset < 0) return undefined;
    const result = await this.doc.send(
      new QueryCommand({
        TableName: this.tables.index,
        KeyConditionExpression: 'pk = :pk AND sk <= :o',
        ExpressionAttributeValues: { ':pk': partitionKey(ref), ':o': offset },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const item = result.Items?.[0];
    return item ? itemToEntry(item) : undefined;
  }

  async *listIndexedEntries(ref: PartitionRef, fromOffset: number, below: number): AsyncIterable<IndexEntry> {
    if (fromOffset >= below) return;
    const containing = await this.indexedAtOrBefore(ref, fromOffset);
    const start = containing && containing.lastOffset >= fromOffset ? containing.baseOffset : fromOffset;
    const pages = paginateQuery(
      { client: this.doc },
      {
        TableName: this.tables.index,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :o AND :end',
        ExpressionAttributeValues: { ':pk': partitionKey(ref), ':o': start, ':end': below - 1 },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) yield itemToEntry(item);
    }
  }

  async *listEntries(ref: PartitionRef, fromOffset: number): AsyncIterable<IndexEntry> {
    const mark = await this.chainReader.mark(ref.topicId, { fresh: true });
    yield* this.listIndexedEntries(ref, fromOffset, endOf(mark.ends, ref.partition).nextOffset);
    for await (const record of this.listCommits(ref.topicId, mark.seq, Number.MAX_SAFE_INTEGER - 1)) {
      for (const batch of record.batches) {
        if (batch.partition === ref.partition && batch.lastOffset >= fromOffset) yield entryOf(record, batch);
      }
    }
  }

  // ---- indexing -----------------------------------------------------------------------------------------

  async getIndexMark(topicId: string): Promise<IndexMark> {
    // A Query of the one key rather than a GetItem: the same unit, and the API function (which reads the
    // mark for a partitions listing) needs no GetItem grant on the index table.
    const result = await this.doc.send(
      new QueryCommand({
        TableName: this.tables.index,
        KeyConditionExpression: 'pk = :pk AND sk = :mark',
        ExpressionAttributeValues: { ':pk': chainPk(topicId), ':mark': MARK_SK },
        ConsistentRead: true,
      }),
    );
    const item = result.Items?.[0];
    return item ? itemToMark(item) : NO_MARK;
  }

  async claimIndexing(
    topicId: string,
    mark: IndexMark,
    target: number,
    until: number,
    now: number,
  ): Promise<number | undefined> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tables.index,
          Key: { pk: chainPk(topicId), sk: MARK_SK },
          UpdateExpression: 'SET pendingSeq = :t, pendingUntil = :u',
          ConditionExpression:
            `${mark.seq < 0 ? '(attribute_not_exists(markSeq) OR markSeq = :ms)' : 'markSeq = :ms'} AND ` +
            '(attribute_not_exists(pendingSeq) OR (pendingSeq = :t AND pendingUntil < :now))',
          ExpressionAttributeValues: { ':t': target, ':u': until, ':ms': mark.seq, ':now': now },
        }),
      );
      return target;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  async *listCommits(topicId: string, afterSeq: number, uptoSeq: number): AsyncIterable<CommitRecord> {
    if (uptoSeq <= afterSeq) return;
    const pages = paginateQuery(
      { client: this.doc, pageSize: 100 },
      {
        TableName: this.tables.index,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: {
          ':pk': chainPk(topicId),
          ':from': afterSeq + 1,
          ':to': Math.min(uptoSeq, MARK_SK - 1),
        },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        const record = itemToRecord(item);
        this.chainReader.remember(record);
        yield record;
      }
    }
  }

  async putIndexEntries(entries: readonly IndexEntry[]): Promise<void> {
    await inChunks(entries, 16, async (entry) => {
      const { seq: _seq, ...indexed } = entry;
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tables.index,
            Item: entryToItem(indexed),
            ConditionExpression: 'attribute_not_exists(pk)',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        const existing = error.Item ? unmarshall(error.Item as Record<string, AttributeValue>) : undefined;
        // An earlier attempt of the same claim wrote it (same range, maybe another object): done.
        if (existing && Number(existing.lastOffset) === entry.lastOffset) return;
        throw new Error(`index entry ${partitionKey(entry)}@${entry.baseOffset} exists with other offsets`, {
          cause: error,
        });
      }
    });
  }

  async advanceIndexMark(
    topicId: string,
    fromSeq: number,
    to: { seq: number; ends: PartitionEnd[] },
    now: number,
  ): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tables.index,
          Key: { pk: chainPk(topicId), sk: MARK_SK },
          UpdateExpression: 'SET markSeq = :s, e = :e, advancedAt = :now REMOVE pendingSeq, pendingUntil',
          ConditionExpression:
            fromSeq < 0 ? '(attribute_not_exists(markSeq) OR markSeq = :from)' : 'markSeq = :from',
          ExpressionAttributeValues: {
            ':s': to.seq,
            ':e': encodeEnds(to.ends, 0),
            ':now': now,
            ':from': fromSeq,
          },
        }),
      );
      this.chainReader.forgetMark(topicId);
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async removeCommits(topicId: string, uptoSeq: number, removableBefore: number): Promise<number> {
    const head = await this.getHead(topicId, { headOnly: true });
    const doomed: number[] = [];
    const pages = paginateQuery(
      { client: this.doc },
      {
        TableName: this.tables.index,
        KeyConditionExpression: 'pk = :pk AND sk <= :to',
        ExpressionAttributeValues: { ':pk': chainPk(topicId), ':to': Math.min(uptoSeq, head.seq - 1) },
        ProjectionExpression: 'sk, createdAt',
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        if (Number(item.createdAt) < removableBefore) doomed.push(Number(item.sk));
      }
    }
    await this.deleteChainItems(topicId, doomed);
    return doomed.length;
  }

  async removeChain(topicId: string): Promise<number> {
    const all: number[] = [];
    const pages = paginateQuery(
      { client: this.doc },
      {
        TableName: this.tables.index,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': chainPk(topicId) },
        ProjectionExpression: 'sk',
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) all.push(Number(item.sk));
    await this.deleteChainItems(topicId, all);
    return all.filter((sk) => sk !== MARK_SK).length;
  }

  private async deleteChainItems(topicId: string, sks: readonly number[]): Promise<void> {
    for (let i = 0; i < sks.length; i += 25) {
      let requests: Array<{ DeleteRequest: { Key: Item } }> = sks
        .slice(i, i + 25)
        .map((sk) => ({ DeleteRequest: { Key: { pk: chainPk(topicId), sk } } }));
      // BatchWriteItem may leave some undone under throttling: retry those (the SDK retries the call).
      for (let attempt = 0; requests.length > 0; attempt++) {
        const result = await this.doc.send(
          new BatchWriteCommand({ RequestItems: { [this.tables.index]: requests } }),
        );
        requests = (result.UnprocessedItems?.[this.tables.index] ?? []) as typeof requests;
        if (requests.length > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
      }
    }
  }

  // ---- maintenance --------------------------------------------------------------------------------------

  async advanceLogStartOffset(
    name: string,
    topicId: string,
    partition: number,
    offset: number,
  ): Promise<boolean> {
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tables.metadata,
                Key: { pk: TOPIC_PK, sk: name },
                UpdateExpression: 'SET logStartOffsets.#p = :offset ADD tv :one',
                ConditionExpression:
                  'topicId = :id AND (attribute_not_exists(logStartOffsets.#p) OR logStartOffsets.#p < :offset)',
                ExpressionAttributeNames: { '#p': String(partition) },
                ExpressionAttributeValues: { ':id': topicId, ':offset': offset, ':one': 1 },
              },
            },
            this.bumpTopicVersion(topicId),
          ],
        }),
      );
      return true;
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      if (error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed') return false;
      throw error;
    }
  }

  async replaceEntries(replacements: ReadonlyArray<{ old: IndexEntry; next: IndexEntry }>): Promise<number> {
    let replaced = 0;
    await inChunks(replacements, 16, async ({ old, next }) => {
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tables.index,
            Item: entryToItem(next),
            ConditionExpression: 'objectKey = :key AND byteOffset = :at',
            ExpressionAttributeValues: { ':key': old.objectKey, ':at': old.byteOffset },
          }),
        );
        replaced++;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    });
    return replaced;
  }

  async removeEntries(entries: readonly IndexEntry[], removableBefore: number): Promise<number> {
    const results = await Promise.all(
      entries.map(async (entry) => {
        try {
          await this.doc.send(
            new DeleteCommand({
              TableName: this.tables.index,
              Key: { pk: partitionKey(entry), sk: entry.baseOffset },
              ConditionExpression: 'objectKey = :key AND byteOffset = :at AND createdAt < :before',
              ExpressionAttributeValues: {
                ':key': entry.objectKey,
                ':at': entry.byteOffset,
                ':before': removableBefore,
              },
            }),
          );
          return 1;
        } catch (error) {
          if (error instanceof ConditionalCheckFailedException) return 0;
          throw error;
        }
      }),
    );
    return results.reduce<number>((a, b) => a + b, 0);
  }

  async scanReferencedObjects(): Promise<{ objects: Set<string>; itemsRead: number }> {
    const objects = new Set<string>();
    let itemsRead = 0;
    // Four parallel scan segments; each page is eventually consistent, which is enough: an object
    // referenced by an item committed after the scan read its page is young, or was referenced before.
    const segments = 4;
    await Promise.all(
      Array.from({ length: segments }, async (_, segment) => {
        const pages = paginateScan(
          { client: this.doc },
          {
            TableName: this.tables.index,
            ProjectionExpression: 'objectKey',
            Segment: segment,
            TotalSegments: segments,
          },
        );
        for await (const page of pages) {
          for (const item of page.Items ?? []) {
            // Chain records reference their flush object too; marks and terminal records reference none.
            if (item.objectKey !== undefined) objects.add(String(item.objectKey));
            itemsRead++;
          }
        }
      }),
    );
    return { objects, itemsRead };
  }

  async listGcCandidates(): Promise<Map<string, number>> {
    const candidates = new Map<string, number>();
    const pages = paginateQuery(
      { client: this.doc },
      {
        TableName: this.tables.metadata,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': GC_CANDIDATE_PK },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) candidates.set(String(item.sk), Number(item.firstSeenAt));
    }
    return candidates;
  }

  async markGcCandidates(keys: readonly string[], firstSeenAt: number): Promise<void> {
    await inChunks(keys, 16, (key) =>
      this.doc
        .send(
          new PutCommand({
            TableName: this.tables.metadata,
            Item: { pk: GC_CANDIDATE_PK, sk: key, firstSeenAt },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        )
        .catch((error) => {
          // Already a candidate: keep the first sighting.
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
        }),
    );
  }

  async clearGcCandidates(keys: readonly string[]): Promise<void> {
    await inChunks(keys, 16, (key) =>
      this.doc.send(
        new DeleteCommand({ TableName: this.tables.metadata, Key: { pk: GC_CANDIDATE_PK, sk: key } }),
      ),
    );
  }

  async getMaintenanceCursor(job: string): Promise<string | undefined> {
    const result = await this.doc.send(
      new GetCommand({
        TableName: this.tables.metadata,
        Key: { pk: MAINTENANCE_PK, sk: job },
        ConsistentRead: true,
      }),
    );
    return result.Item?.cursor === undefined ? undefined : String(result.Item.cursor);
  }

  async setMaintenanceCursor(job: string, cursor: string | undefined): Promise<void> {
    if (cursor === undefined) {
      await this.doc.send(
        new DeleteCommand({ TableName: this.tables.metadata, Key: { pk: MAINTENANCE_PK, sk: job } }),
      );
    } else {
      await this.doc.send(
        new PutCommand({ TableName: this.tables.metadata, Item: { pk: MAINTENANCE_PK, sk: job, cursor } }),
      );
    }
  }
}

/** Runs `fn` over `items`, at most `concurrency` at a time. */
async function inChunks<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  for (let i = 0; i < items.length; i += concurrency) {
    await Promise.all(items.slice(i, i + concurrency).map(fn));
  }
}

function topicToItem(topic: Topic): Item {
  return {
    pk: TOPIC_PK,
    sk: topic.name,
    topicId: topic.topicId,
    partitions: topic.partitions,
    config: topic.config,
    createdAt: topic.createdAt,
    logStartOffsets: Object.fromEntries(
      Object.entries(topic.logStartOffsets).map(([p, o]) => [String(p), o]),
    ),
    ...(topic.version ? { tv: topic.version } : {}),
  };
}

function itemToTopic(item: Item): Topic {
  const starts = (item.logStartOffsets ?? {}) as Record<string, number>;
  return {
    name: String(item.sk),
    topicId: String(item.topicId),
    partitions: Number(item.partitions),
    config: item.config as TopicConfig,
    createdAt: Number(item.createdAt),
    logStartOffsets: Object.fromEntries(Object.entries(starts).map(([p, o]) => [Number(p), Number(o)])),
    ...(item.tv !== undefined ? { version: Number(item.tv) } : {}),
  };
}

function entryToItem(entry: IndexEntry): Item {
  return {
    pk: partitionKey(entry),
    sk: entry.baseOffset,
    lastOffset: entry.lastOffset,
    recordCount: entry.recordCount,
    objectKey: entry.objectKey,
    byteOffset: entry.byteOffset,
    byteLength: entry.byteLength,
    objectSize: entry.objectSize,
    firstTimestamp: entry.firstTimestamp,
    maxTimestamp: entry.maxTimestamp,
    maxTimestampSoFar: entry.maxTimestampSoFar,
    createdAt: entry.createdAt,
    ...(entry.originObjectKey !== undefined ? { origin: entry.originObjectKey } : {}),
  };
}

function itemToEntry(item: Item): IndexEntry {
  const pk = String(item.pk);
  const slash = pk.lastIndexOf('/');
  return {
    topicId: pk.slice(0, slash),
    partition: Number(pk.slice(slash + 1)),
    baseOffset: Number(item.sk),
    lastOffset: Number(item.lastOffset),
    recordCount: Number(item.recordCount),
    objectKey: String(item.objectKey),
    byteOffset: Number(item.byteOffset),
    byteLength: Number(item.byteLength),
    objectSize: Number(item.objectSize),
    firstTimestamp: Number(item.firstTimestamp),
    maxTimestamp: Number(item.maxTimestamp),
    maxTimestampSoFar: Number(item.maxTimestampSoFar),
    createdAt: Number(item.createdAt),
    ...(item.origin !== undefined ? { originObjectKey: String(item.origin) } : {}),
  };
}
