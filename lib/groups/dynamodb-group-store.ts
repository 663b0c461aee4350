import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  paginateQuery,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { TableNames } from '../metadata/dynamodb-schema.js';
import type {
  AssignedPartition,
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

type Item = Record<string, unknown>;
type RawItem = Record<string, AttributeValue>;

/**
 * GroupStore on the metadata table (item layout in docs/ARCHITECTURE.md §6.2):
 * - `pk = "group/<group>"`, `sk = "state"`: generation, members (map), assignments (map), epochs (map),
 *   topics (map);
 * - `pk = "group/<group>"`, `sk = "p/<topicId>/<partition>"`: owner, generation, committedOffset;
 * - `pk = "group"`, `sk = <group>`: the registry entry that makes the group listable.
 * Condition failures never leave this file as SDK exceptions.
 *
 * The state item's maps are keyed by names callers choose (member ids, topics), so it is written and read
 * with the low-level client and this file's own conversion (`toAttribute`, `fromAttribute`): the document
 * client's marshalling assigns map keys onto plain objects, where `__proto__` sets the prototype instead
 * of a key (the member vanished, `assignments` was no list). Here every DynamoDB map is read into a `Map`.
 */
export class DynamoDbGroupStore implements GroupStore {
  private readonly client: DynamoDBClient;
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;

  constructor(client: DynamoDBClient, tables: TableNames) {
    this.client = client;
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.table = tables.metadata;
  }

  async getGroup(group: string): Promise<GroupState | undefined> {
    const result = await this.client.send(
      new GetItemCommand({
        TableName: this.table,
        Key: stateKey(group),
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
    const items = await this.batchGetRaw(names.map(stateKey));
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
        await this.client.send(
          new TransactWriteItemsCommand({
            TransactItems: [
              {
                Put: {
                  TableName: this.table,
                  Item: stateToItem(next),
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
              { Put: { TableName: this.table, Item: { pk: { S: REGISTRY_PK }, sk: { S: next.group } } } },
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
    // Names and values are built on Maps and handed over as own properties only (Object.fromEntries).
    const names = new Map<string, string>([
      ['#generation', 'generation'],
      ['#assignments', 'assignments'],
      ['#epochs', 'epochs'],
      ['#topics', 'topics'],
    ]);
    const values = new Map<string, AttributeValue>([
      [':previous', toAttribute(previous.generation)],
      [':generation', toAttribute(next.generation)],
      [':assignments', assignmentsToAttribute(next.assignments, 'partition')],
      [':epochs', assignmentsToAttribute(next.assignments, 'epoch')],
      [':topics', toAttribute(next.topics)],
      [':updatedAt', toAttribute(next.updatedAt)],
    ]);
    const sets = [
      '#generation = :generation',
      '#assignments = :assignments',
      '#epochs = :epochs',
      '#topics = :topics',
      'updatedAt = :updatedAt',
    ];
    const removes: string[] = [];
    if (next.formingUntil === undefined) removes.push('formingUntil');
    else {
      values.set(':formingUntil', toAttribute(next.formingUntil));
      sets.push('formingUntil = :formingUntil');
    }
    const conditions = ['#generation = :previous'];
    if (change.upserted.length > 0 || change.removed.length > 0) names.set('#members', 'members');
    change.upserted.forEach((memberId, i) => {
      const member = next.members.get(memberId);
      if (!member) return;
      names.set(`#u${i}`, memberId);
      values.set(`:u${i}`, toAttribute(member));
      sets.push(`#members.#u${i} = :u${i}`);
    });
    change.removed.forEach((memberId, i) => {
      names.set(`#r${i}`, memberId);
      removes.push(`#members.#r${i}`);
      const seen = change.expired.get(memberId);
      if (seen !== undefined) {
        values.set(`:r${i}`, toAttribute(seen));
        names.set('#expiresAt', 'expiresAt');
        conditions.push(`#members.#r${i}.#expiresAt = :r${i}`);
      }
    });
    try {
      const result = await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: stateKey(next.group),
          UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: Object.fromEntries(names),
          ExpressionAttributeValues: Object.fromEntries(values),
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
      const result = await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: stateKey(group),
          // The new expiry is computed by DynamoDB from the stored session timeout: one write, no read.
          UpdateExpression: 'SET #members.#m.#expiresAt = #members.#m.#timeout + :now',
          ConditionExpression: '#members.#m.#expiresAt >= :aliveAfter',
          ExpressionAttributeNames: {
            '#members': 'members',
            '#m': memberId,
            '#expiresAt': 'expiresAt',
            '#timeout': 'sessionTimeoutMs',
          },
          ExpressionAttributeValues: { ':now': toAttribute(now), ':aliveAfter': toAttribute(aliveAfter) },
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

  /** The state items of `keys` through the low-level client (eventually consistent), as batchGet. */
  private async batchGetRaw(keys: RawItem[]): Promise<RawItem[]> {
    const items: RawItem[] = [];
    for (let i = 0; i < keys.length; i += 100) {
      let pending: RawItem[] = keys.slice(i, i + 100);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt)));
        const result = await this.client.send(
          new BatchGetItemCommand({ RequestItems: { [this.table]: { Keys: pending } } }),
        );
        items.push(...(result.Responses?.[this.table] ?? []));
        pending = result.UnprocessedKeys?.[this.table]?.Keys ?? [];
      }
    }
    return items;
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

function stateKey(group: string): RawItem {
  return { pk: { S: groupPk(group) }, sk: { S: STATE_SK } };
}

function stateToItem(state: GroupState): RawItem {
  return {
    ...stateKey(state.group),
    group: toAttribute(state.group),
    generation: toAttribute(state.generation),
    members: toAttribute(state.members),
    assignments: assignmentsToAttribute(state.assignments, 'partition'),
    epochs: assignmentsToAttribute(state.assignments, 'epoch'),
    topics: toAttribute(state.topics),
    createdAt: toAttribute(state.createdAt),
    updatedAt: toAttribute(state.updatedAt),
    ...(state.formingUntil === undefined ? {} : { formingUntil: toAttribute(state.formingUntil) }),
  };
}

/**
 * Stored assignment, compact (the item is read on every group call): `assignments` is memberId → topic →
 * [partition], and `epochs` the same shape with each partition's assignment epoch at the same index.
 */
function assignmentsToAttribute(
  assignments: ReadonlyMap<string, readonly AssignedPartition[]>,
  field: 'partition' | 'epoch',
): AttributeValue {
  const stored = new Map<string, Map<string, number[]>>();
  for (const [memberId, partitions] of assignments) {
    const byTopic = new Map<string, number[]>();
    for (const assigned of partitions) {
      const list = byTopic.get(assigned.topic) ?? [];
      list.push(assigned[field]);
      byTopic.set(assigned.topic, list);
    }
    stored.set(memberId, byTopic);
  }
  return toAttribute(stored);
}

function itemToState(raw: RawItem): GroupState {
  const item = fromAttribute({ M: raw }) as Map<string, unknown>;
  const generation = Number(item.get('generation'));
  const epochs = asMap(item.get('epochs'));
  const assignments = new Map<string, AssignedPartition[]>();
  for (const [memberId, byTopic] of asMap(item.get('assignments'))) {
    const owned: AssignedPartition[] = [];
    for (const [topic, partitions] of asMap(byTopic)) {
      // Items written before epochs were stored have none: the current generation is the safe epoch.
      const topicEpochs = asList(asMap(epochs.get(memberId)).get(topic));
      asList(partitions).forEach((p, i) => {
        owned.push({ topic, partition: Number(p), epoch: Number(topicEpochs[i] ?? generation) });
      });
    }
    owned.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
    assignments.set(memberId, owned);
  }
  const members = new Map<string, MemberState>();
  for (const [memberId, value] of asMap(item.get('members'))) {
    const m = asMap(value);
    members.set(memberId, {
      topics: asList(m.get('topics')).map(String),
      sessionTimeoutMs: Number(m.get('sessionTimeoutMs')),
      autoOffsetReset: m.get('autoOffsetReset') === 'earliest' ? 'earliest' : 'latest',
      expiresAt: Number(m.get('expiresAt')),
      joinedAt: Number(m.get('joinedAt')),
    });
  }
  const topics = new Map<string, TopicSnapshot>();
  for (const [topic, value] of asMap(item.get('topics'))) {
    const t = asMap(value);
    topics.set(topic, { topicId: String(t.get('topicId')), partitions: Number(t.get('partitions')) });
  }
  return {
    group: String(item.get('group')),
    generation,
    members,
    assignments,
    topics,
    createdAt: Number(item.get('createdAt')),
    updatedAt: Number(item.get('updatedAt')),
    // Items written before the forming window existed have none: no window.
    ...(item.has('formingUntil') ? { formingUntil: Number(item.get('formingUntil')) } : {}),
  };
}

/**
 * A value of the state item as an AttributeValue. Maps and plain objects become DynamoDB maps built with
 * Object.fromEntries, which defines own properties: a key `__proto__` is a key like any other.
 */
function toAttribute(value: unknown): AttributeValue {
  if (typeof value === 'string') return { S: value };
  if (typeof value === 'number') return { N: String(value) };
  if (typeof value === 'boolean') return { BOOL: value };
  if (Array.isArray(value)) return { L: value.map(toAttribute) };
  const entries = value instanceof Map ? [...value] : Object.entries(value as object);
  return {
    M: Object.fromEntries(
      entries.filter(([, v]) => v !== undefined).map(([k, v]) => [String(k), toAttribute(v)]),
    ),
  };
}

/** An AttributeValue as a value: every DynamoDB map becomes a `Map` (own keys only). */
function fromAttribute(value: AttributeValue): unknown {
  if (value.S !== undefined) return value.S;
  if (value.N !== undefined) return Number(value.N);
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.L !== undefined) return value.L.map(fromAttribute);
  if (value.M !== undefined) {
    return new Map(Object.entries(value.M).map(([k, v]) => [k, fromAttribute(v)]));
  }
  return undefined;
}

function asMap(value: unknown): Map<string, unknown> {
  return value instanceof Map ? (value as Map<string, unknown>) : new Map();
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
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
