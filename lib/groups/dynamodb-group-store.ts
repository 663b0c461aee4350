import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  GetCommand,
  paginateQuery,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { TableNames } from '../metadata/dynamodb-schema.js';
import type { TopicPartition } from './assignor.js';
import type {
  CommitOutcome,
  GenerationChange,
  GroupState,
  GroupStore,
  MemberState,
  PartitionKey,
  PartitionState,
  ResetOffset,
  TopicSnapshot,
} from './group-store.js';
import { partitionStateKey } from './group-store.js';
import { mayClaim } from './memory-group-store.js';

/** The registry of group names (for listing): `pk = "group"`, `sk = <group>`. */
const REGISTRY_PK = 'group';
const STATE_SK = 'state';
const PARTITION_SK_PREFIX = 'p/';

function groupPk(group: string): string {
  return `group/${group}`;
}

function partitionSk(key: { topicId: string; partition: number }): string {
  return `${PARTITION_SK_PREFIX}${partitionStateKey(key)}`;
}

/** The largest transaction DynamoDB accepts is 100 items; a reset chunk is 99 updates and one check. */
const RESET_CHUNK = 99;

/** Stored assignment: memberId → topic → partitions (compact; the item is read on every group call). */
type StoredAssignments = Record<string, Record<string, number[]>>;

type Item = Record<string, unknown>;

/**
 * GroupStore on the metadata table (item layout in docs/ARCHITECTURE.md §6.2):
 * - `pk = "group/<group>"`, `sk = "state"`: generation, members (map), assignments (map), topics (map);
 * - `pk = "group/<group>"`, `sk = "p/<topicId>/<partition>"`: owner, generation, committedOffset;
 * - `pk = "group"`, `sk = <group>`: the registry entry that makes the group listable.
 * Condition failures never leave this file as SDK exceptions.
 */
export class DynamoDbGroupStore implements GroupStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;

  constructor(client: DynamoDBClient, tables: TableNames) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.table = tables.metadata;
  }

  async getGroup(group: string): Promise<GroupState | undefined> {
    const result = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: groupPk(group), sk: STATE_SK },
        ConsistentRead: true,
      }),
    );
    return result.Item ? itemToState(result.Item) : undefined;
  }

  async listGroups(): Promise<GroupState[]> {
    const names: string[] = [];
    const pages = paginateQuery(
      { client: this.doc },
      {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': REGISTRY_PK },
        ProjectionExpression: 'sk',
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) names.push(String(item.sk));
    const items = await this.batchGet(
      names.map((name) => ({ pk: groupPk(name), sk: STATE_SK })),
      false,
    );
    return items.map(itemToState).sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
  }

  async writeGeneration(
    previous: GroupState | undefined,
    change: GenerationChange,
  ): Promise<GroupState | undefined> {
    const { next } = change;
    if (!previous) {
      // The state and the registry entry (which makes the group listable) in one transaction: once per group.
      try {
        await this.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: this.table,
                  Item: stateToItem(next),
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
              { Put: { TableName: this.table, Item: { pk: REGISTRY_PK, sk: next.group } } },
            ],
          }),
        );
        return next;
      } catch (error) {
        // Lost to another create (its condition), or collided with it (TransactionConflict): re-read.
        if (error instanceof TransactionCanceledException) return undefined;
        throw error;
      }
    }
    const names: Record<string, string> = {
      '#generation': 'generation',
      '#assignments': 'assignments',
      '#topics': 'topics',
    };
    const values: Item = {
      ':previous': previous.generation,
      ':generation': next.generation,
      ':assignments': assignmentsToItem(next.assignments),
      ':topics': next.topics,
      ':updatedAt': next.updatedAt,
    };
    const sets = [
      '#generation = :generation',
      '#assignments = :assignments',
      '#topics = :topics',
      'updatedAt = :updatedAt',
    ];
    const removes: string[] = [];
    const conditions = ['#generation = :previous'];
    if (change.upserted.length > 0 || change.removed.length > 0) names['#members'] = 'members';
    change.upserted.forEach((memberId, i) => {
      names[`#u${i}`] = memberId;
      values[`:u${i}`] = next.members[memberId];
      sets.push(`#members.#u${i} = :u${i}`);
    });
    change.removed.forEach((memberId, i) => {
      names[`#r${i}`] = memberId;
      removes.push(`#members.#r${i}`);
      const seen = change.expired[memberId];
      if (seen !== undefined) {
        values[`:r${i}`] = seen;
        names['#expiresAt'] = 'expiresAt';
        conditions.push(`#members.#r${i}.#expiresAt = :r${i}`);
      }
    });
    try {
      const result = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: groupPk(next.group), sk: STATE_SK },
          UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return result.Attributes ? itemToState(result.Attributes) : undefined;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  async heartbeat(
    group: string,
    memberId: string,
    now: number,
    aliveAfter: number,
  ): Promise<GroupState | undefined> {
    try {
      const result = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: groupPk(group), sk: STATE_SK },
          // The new expiry is computed by DynamoDB from the stored session timeout: one write, no read.
          UpdateExpression: 'SET #members.#m.#expiresAt = #members.#m.#timeout + :now',
          ConditionExpression: '#members.#m.#expiresAt >= :aliveAfter',
          ExpressionAttributeNames: {
            '#members': 'members',
            '#m': memberId,
            '#expiresAt': 'expiresAt',
            '#timeout': 'sessionTimeoutMs',
          },
          ExpressionAttributeValues: { ':now': now, ':aliveAfter': aliveAfter },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return result.Attributes ? itemToState(result.Attributes) : undefined;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  async getPartitions(group: string, keys: readonly PartitionKey[]): Promise<Map<string, PartitionState>> {
    const items = await this.batchGet(
      keys.map((key) => ({ pk: groupPk(group), sk: partitionSk(key) })),
      true,
    );
    const result = new Map<string, PartitionState>();
    for (const item of items) {
      const state = itemToPartition(item);
      result.set(partitionStateKey(state), state);
    }
    return result;
  }

  async listPartitions(group: string): Promise<PartitionState[]> {
    const states: PartitionState[] = [];
    const pages = paginateQuery(
      { client: this.doc },
      {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': groupPk(group), ':prefix': PARTITION_SK_PREFIX },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) states.push(itemToPartition(item));
    return states;
  }

  async claimPartition(
    group: string,
    key: PartitionKey,
    owner: string,
    generation: number,
  ): Promise<PartitionState | 'fenced'> {
    try {
      const result = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: groupPk(group), sk: partitionSk(key) },
          UpdateExpression:
            'SET #owner = :owner, #generation = :generation, topic = :topic, topicId = :topicId, #partition = :partition',
          ConditionExpression: CLAIM_CONDITION,
          ExpressionAttributeNames: CLAIM_NAMES,
          ExpressionAttributeValues: {
            ':owner': owner,
            ':generation': generation,
            ':topic': key.topic,
            ':topicId': key.topicId,
            ':partition': key.partition,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return itemToPartition(result.Attributes ?? {});
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'fenced';
      throw error;
    }
  }

  async commitOffset(
    group: string,
    key: PartitionKey,
    owner: string,
    generation: number,
    offset: number,
    now: number,
  ): Promise<CommitOutcome> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: groupPk(group), sk: partitionSk(key) },
          UpdateExpression:
            'SET #owner = :owner, #generation = :generation, topic = :topic, topicId = :topicId, ' +
            '#partition = :partition, committedOffset = :offset, committedAt = :now',
          ConditionExpression: `(${CLAIM_CONDITION}) AND (attribute_not_exists(committedOffset) OR committedOffset <= :offset)`,
          ExpressionAttributeNames: CLAIM_NAMES,
          ExpressionAttributeValues: {
            ':owner': owner,
            ':generation': generation,
            ':topic': key.topic,
            ':topicId': key.topicId,
            ':partition': key.partition,
            ':offset': offset,
            ':now': now,
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return 'committed';
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Which half of the condition failed: the item as it was tells (no second read).
      const old = error.Item ? itemToPartition(unmarshall(error.Item)) : undefined;
      return mayClaim(old, owner, generation) ? 'behind' : 'fenced';
    }
  }

  async resetOffsets(
    group: string,
    generation: number,
    offsets: readonly ResetOffset[],
    now: number,
  ): Promise<boolean> {
    for (let i = 0; i < offsets.length; i += RESET_CHUNK) {
      const chunk = offsets.slice(i, i + RESET_CHUNK);
      try {
        await this.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                ConditionCheck: {
                  TableName: this.table,
                  Key: { pk: groupPk(group), sk: STATE_SK },
                  ConditionExpression: '#generation = :generation',
                  ExpressionAttributeNames: { '#generation': 'generation' },
                  ExpressionAttributeValues: { ':generation': generation },
                },
              },
              ...chunk.map((reset) => ({
                Update: {
                  TableName: this.table,
                  Key: { pk: groupPk(group), sk: partitionSk(reset) },
                  UpdateExpression:
                    'SET #generation = :generation, topic = :topic, topicId = :topicId, #partition = :partition, ' +
                    'committedOffset = :offset, committedAt = :now REMOVE #owner',
                  ExpressionAttributeNames: {
                    '#generation': 'generation',
                    '#partition': 'partition',
                    '#owner': 'owner',
                  },
                  ExpressionAttributeValues: {
                    ':generation': generation,
                    ':topic': reset.topic,
                    ':topicId': reset.topicId,
                    ':partition': reset.partition,
                    ':offset': reset.offset,
                    ':now': now,
                  },
                },
              })),
            ],
          }),
        );
      } catch (error) {
        // The group changed (its generation check failed) or a concurrent write collided: nothing written.
        if (error instanceof TransactionCanceledException) return false;
        throw error;
      }
    }
    return true;
  }

  /** BatchGetItem in chunks of 100, re-asking for unprocessed keys (with a short back-off). */
  private async batchGet(keys: Item[], consistent: boolean): Promise<Item[]> {
    const items: Item[] = [];
    for (let i = 0; i < keys.length; i += 100) {
      let pending: Item[] = keys.slice(i, i + 100);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt)));
        const result = await this.doc.send(
          new BatchGetCommand({
            RequestItems: { [this.table]: { Keys: pending, ConsistentRead: consistent } },
          }),
        );
        items.push(...(result.Responses?.[this.table] ?? []));
        pending = (result.UnprocessedKeys?.[this.table]?.Keys as Item[] | undefined) ?? [];
      }
    }
    return items;
  }
}

/**
 * The lease rule (docs/ARCHITECTURE.md §6.3): a partition may be claimed for generation g by m when nobody
 * ever held it, when it was held in an earlier generation (by anyone), or when m holds it from g already.
 * Lease generations therefore only grow, and a member of a stale generation can never take a partition back.
 */
const CLAIM_CONDITION =
  'attribute_not_exists(#generation) OR #generation < :generation OR (#generation = :generation AND #owner = :owner)';
const CLAIM_NAMES = { '#owner': 'owner', '#generation': 'generation', '#partition': 'partition' };

function stateToItem(state: GroupState): Item {
  return {
    pk: groupPk(state.group),
    sk: STATE_SK,
    group: state.group,
    generation: state.generation,
    members: state.members,
    assignments: assignmentsToItem(state.assignments),
    topics: state.topics,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
  };
}

function assignmentsToItem(assignments: Record<string, TopicPartition[]>): StoredAssignments {
  const stored: StoredAssignments = {};
  for (const [memberId, partitions] of Object.entries(assignments)) {
    const byTopic: Record<string, number[]> = {};
    for (const { topic, partition } of partitions) {
      const list = byTopic[topic] ?? [];
      list.push(partition);
      byTopic[topic] = list;
    }
    stored[memberId] = byTopic;
  }
  return stored;
}

function itemToState(item: Item): GroupState {
  const assignments: Record<string, TopicPartition[]> = {};
  for (const [memberId, byTopic] of Object.entries((item.assignments ?? {}) as StoredAssignments)) {
    assignments[memberId] = Object.entries(byTopic)
      .flatMap(([topic, partitions]) => partitions.map((p) => ({ topic, partition: Number(p) })))
      .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  }
  const members: Record<string, MemberState> = {};
  for (const [memberId, m] of Object.entries((item.members ?? {}) as Record<string, Item>)) {
    members[memberId] = {
      topics: (m.topics as string[]).map(String),
      sessionTimeoutMs: Number(m.sessionTimeoutMs),
      autoOffsetReset: m.autoOffsetReset === 'earliest' ? 'earliest' : 'latest',
      expiresAt: Number(m.expiresAt),
      joinedAt: Number(m.joinedAt),
    };
  }
  const topics: Record<string, TopicSnapshot> = {};
  for (const [topic, t] of Object.entries((item.topics ?? {}) as Record<string, Item>)) {
    topics[topic] = { topicId: String(t.topicId), partitions: Number(t.partitions) };
  }
  return {
    group: String(item.group),
    generation: Number(item.generation),
    members,
    assignments,
    topics,
    createdAt: Number(item.createdAt),
    updatedAt: Number(item.updatedAt),
  };
}

function itemToPartition(item: Item): PartitionState {
  return {
    topic: String(item.topic),
    topicId: String(item.topicId),
    partition: Number(item.partition),
    generation: Number(item.generation ?? 0),
    ...(item.owner !== undefined ? { owner: String(item.owner) } : {}),
    ...(item.committedOffset !== undefined ? { committedOffset: Number(item.committedOffset) } : {}),
    ...(item.committedAt !== undefined ? { committedAt: Number(item.committedAt) } : {}),
  };
}
