import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
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
import type { TableNames } from './dynamodb-schema.js';
import {
  CommitConflictError,
  type IdempotencyClaim,
  type IdempotencyCompletion,
  IdempotencyLostError,
  type IdempotencyState,
  type IndexEntry,
  isSameBatch,
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

  constructor(
    client: DynamoDBClient,
    private readonly tables: TableNames,
    private readonly now: () => number = Date.now,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
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
    const values: Item = { ':id': topicId };
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
      const result = await this.doc.send(
        new UpdateCommand({
          TableName: this.tables.metadata,
          Key: { pk: TOPIC_PK, sk: name },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      if (!result.Attributes) throw new Error('UpdateItem returned no attributes');
      return itemToTopic(result.Attributes);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        const old = error.Item ? unmarshall(error.Item as Record<string, AttributeValue>) : undefined;
        if (!old || old.topicId !== topicId) throw new TopicNotFoundError(name);
        throw new InvalidRequestError(
          `partitions may only grow (topic '${name}' has ${String(old.partitions)})`,
        );
      }
      throw error;
    }
  }

  async deleteTopic(name: string): Promise<Topic> {
    const topic = await this.getTopic(name, { consistent: true });
    if (!topic) throw new TopicNotFoundError(name);
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
          ],
        }),
      );
    } catch (error) {
      // The topic changed or vanished between the read and the delete: someone else deleted it.
      if (error instanceof TransactionCanceledException) throw new TopicNotFoundError(name);
      throw error;
    }
    return topic;
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
    const result = await this.doc.send(
      new QueryCommand({
        TableName: this.tables.index,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': partitionKey(ref) },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const item = result.Items?.[0];
    return item ? itemToEntry(item) : undefined;
  }

  async commit(
    entries: readonly IndexEntry[],
    completions: readonly IdempotencyCompletion[] = [],
  ): Promise<void> {
    if (entries.length === 0 && completions.length === 0) return;
    if (entries.length === 1 && completions.length === 0) {
      const [entry] = entries as [IndexEntry];
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tables.index,
            Item: entryToItem(entry),
            ConditionExpression: 'attribute_not_exists(pk)',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        const existing = error.Item
          ? itemToEntry(unmarshall(error.Item as Record<string, AttributeValue>))
          : undefined;
        if (existing && isSameBatch(existing, entry)) return; // our own earlier attempt landed
        throw new CommitConflictError([{ ref: refOf(entry), existing }], { cause: error });
      }
      return;
    }
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            ...entries.map((entry) => ({
              Put: {
                TableName: this.tables.index,
                Item: entryToItem(entry),
                ConditionExpression: 'attribute_not_exists(pk)',
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
              },
            })),
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
      if (!(error instanceof TransactionCanceledException)) throw error;
      const reasons = error.CancellationReasons ?? [];
      const conflicts: Array<{ ref: PartitionRef; existing: IndexEntry | undefined }> = [];
      let lost: IdempotencyCompletion | undefined;
      let ownEarlierAttempt = 0;
      reasons.forEach((reason, i) => {
        if (!reason || reason.Code === 'None' || reason.Code === undefined) return;
        const entry = entries[i];
        const completion = entry ? undefined : completions[i - entries.length];
        const old = reason.Item ? unmarshall(reason.Item) : undefined;
        if (entry) {
          const existing = reason.Code === 'ConditionalCheckFailed' && old ? itemToEntry(old) : undefined;
          if (existing && isSameBatch(existing, entry)) ownEarlierAttempt += 1;
          // TransactionConflict and the like: the log end is contended; re-read and retry.
          else conflicts.push({ ref: refOf(entry), existing });
        } else if (completion) {
          if (
            reason.Code === 'ConditionalCheckFailed' &&
            old?.attemptId === completion.attemptId &&
            old.result
          ) {
            ownEarlierAttempt += 1; // our own earlier attempt completed it
          } else if (reason.Code === 'ConditionalCheckFailed') {
            lost = completion;
          } else {
            // Another transaction held the idempotency record: nothing was written; every partition of
            // this commit re-reads its end and tries again.
            for (const e of entries) conflicts.push({ ref: refOf(e), existing: undefined });
          }
        }
      });
      if (lost) throw new IdempotencyLostError(lost.key);
      if (conflicts.length === 0 && ownEarlierAttempt === entries.length + completions.length) return;
      if (conflicts.length === 0) throw error;
      throw new CommitConflictError(conflicts, { cause: error });
    }
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
    const containing = await this.entryAtOrBefore(ref, offset);
    if (containing && containing.lastOffset >= offset) return [containing, ...entries].slice(0, limit);
    return entries;
  }

  async entryAtOrBefore(ref: PartitionRef, offset: number): Promise<IndexEntry | undefined> {
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

  async *listEntries(ref: PartitionRef, fromOffset: number): AsyncIterable<IndexEntry> {
    const containing = await this.entryAtOrBefore(ref, fromOffset);
    const start = containing && containing.lastOffset >= fromOffset ? containing.baseOffset : fromOffset;
    const pages = paginateQuery(
      { client: this.doc },
      {
        TableName: this.tables.index,
        KeyConditionExpression: 'pk = :pk AND sk >= :o',
        ExpressionAttributeValues: { ':pk': partitionKey(ref), ':o': start },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) yield itemToEntry(item);
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
        new UpdateCommand({
          TableName: this.tables.metadata,
          Key: { pk: TOPIC_PK, sk: name },
          UpdateExpression: 'SET logStartOffsets.#p = :offset',
          ConditionExpression:
            'topicId = :id AND (attribute_not_exists(logStartOffsets.#p) OR logStartOffsets.#p < :offset)',
          ExpressionAttributeNames: { '#p': String(partition) },
          ExpressionAttributeValues: { ':id': topicId, ':offset': offset },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
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
            objects.add(String(item.objectKey));
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

function refOf(entry: IndexEntry): PartitionRef {
  return { topicId: entry.topicId, partition: entry.partition };
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
