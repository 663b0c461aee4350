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
  GetCommand,
  paginateQuery,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { mapBounded } from '../concurrency.js';
import { ThrottledError } from '../errors.js';
import type { TableNames } from '../metadata/dynamodb-schema.js';
import type {
  AssignedPartition,
  CommitOutcome,
  GenerationChange,
  GroupState,
  GroupStore,
  MemberCommit,
  MemberState,
  PartitionKey,
  PartitionState,
  ResetOffset,
  TopicSnapshot,
} from './group-store.js';
import { partitionStateKey } from './group-store.js';
import { claimValid, mayClaim } from './memory-group-store.js';

/** The registry of group names (for listing): `pk = "group"`, `sk = <group>`. */
const REGISTRY_PK = 'group';
const STATE_SK = 'state';
const PARTITION_SK_PREFIX = 'p/';
/**
 * A member's own commits of a block of 25 partitions of a topic: `c/<memberId>/<topicId>/<partition div 25>`
 * (member ids have no '/').
 */
const MEMBER_SK_PREFIX = 'c/';
/**
 * Partitions per member item, so per commit write: an item of 25 partitions stays under 1 KB (1 write unit
 * whatever the member's history), and its commit condition (≈ 110 characters and 10 operators a partition)
 * under DynamoDB's 4 KB and 300 operators per expression. A topic of up to 25 partitions: one item.
 */
const MEMBER_ITEM_PARTITIONS = 25;
/** Rounds of a claim (lease changed under it) or of a commit (its item changed under it) before a 429. */
const CLAIM_ATTEMPTS = 8;

function groupPk(group: string): string {
  return `group/${group}`;
}

function partitionSk(key: { topicId: string; partition: number }): string {
  return `${PARTITION_SK_PREFIX}${partitionStateKey(key)}`;
}

function memberSk(memberId: string, topicId: string, partition: number): string {
  return `${MEMBER_SK_PREFIX}${memberId}/${topicId}/${Math.floor(partition / MEMBER_ITEM_PARTITIONS)}`;
}

function parseMemberSk(sk: string): { memberId: string; topicId: string } | undefined {
  const slash = sk.indexOf('/', MEMBER_SK_PREFIX.length);
  const last = sk.lastIndexOf('/');
  if (!sk.startsWith(MEMBER_SK_PREFIX) || slash < 0 || last <= slash) return undefined;
  return { memberId: sk.slice(MEMBER_SK_PREFIX.length, slash), topicId: sk.slice(slash + 1, last) };
}

/**
 * One partition's record in a member's own item: `o<p>` its last commit, `a<p>` when, `c<p>` the
 * generation of its claim, `f<p>` the generation of the claim that fenced it (short names keep the item of
 * a few partitions far below 1 KB, so a commit is 1 write unit).
 */
function ownRecord(
  item: Item | undefined,
  partition: number,
): { offset?: number; at?: number; claimed?: number; fenced?: number } {
  const read = (prefix: string) => {
    const value = item?.[`${prefix}${partition}`];
    return value === undefined ? undefined : Number(value);
  };
  const [offset, at, claimed, fenced] = [read('o'), read('a'), read('c'), read('f')];
  return {
    ...(offset === undefined ? {} : { offset }),
    ...(at === undefined ? {} : { at }),
    ...(claimed === undefined ? {} : { claimed }),
    ...(fenced === undefined ? {} : { fenced }),
  };
}

/** The lease with its committed offset raised to its owner's own last commit (among `items`, by sk). */
function withOwnCommit(lease: PartitionState, items: ReadonlyMap<string, Item>): PartitionState {
  if (lease.owner === undefined) return lease;
  const own = ownRecord(items.get(memberSk(lease.owner, lease.topicId, lease.partition)), lease.partition);
  if (
    own.offset === undefined ||
    (lease.committedOffset !== undefined && own.offset <= lease.committedOffset)
  ) {
    return lease;
  }
  return { ...lease, committedOffset: own.offset, ...(own.at === undefined ? {} : { committedAt: own.at }) };
}

/** The largest transaction DynamoDB accepts is 100 items; a reset chunk is 99 updates and one check. */
const RESET_CHUNK = 99;

type Item = Record<string, unknown>;
type RawItem = Record<string, AttributeValue>;

/**
 * GroupStore on the metadata table (item layout in docs/ARCHITECTURE.md §9.1):
 * - `pk = "group/<group>"`, `sk = "state"`: generation, members (map), assignments (map), epochs (map),
 *   topics (map);
 * - `pk = "group/<group>"`, `sk = "p/<topicId>/<partition>"`: the lease: owner, generation, committedOffset
 *   (every earlier owner's last commit, folded in by each claim);
 * - `pk = "group/<group>"`, `sk = "c/<memberId>/<topicId>/<p div 25>"`: the member's own commits, per partition p
 *   `o<p>` (offset), `a<p>` (when), `c<p>` (its claim's generation), `f<p>` (the fencing claim's generation);
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
    const leases = (
      await this.batchGet(
        keys.map((key) => ({ pk: groupPk(group), sk: partitionSk(key) })),
        true,
      )
    ).map(itemToPartition);
    const owners = new Map<string, Item>();
    for (const lease of leases) {
      if (lease.owner !== undefined)
        owners.set(memberSk(lease.owner, lease.topicId, lease.partition), {
          pk: groupPk(group),
          sk: memberSk(lease.owner, lease.topicId, lease.partition),
        });
    }
    const items = new Map(
      (await this.batchGet([...owners.values()], true)).map((item) => [String(item.sk), item]),
    );
    const result = new Map<string, PartitionState>();
    for (const lease of leases) result.set(partitionStateKey(lease), withOwnCommit(lease, items));
    return result;
  }

  async listPartitions(group: string): Promise<PartitionState[]> {
    const [leases, members] = await Promise.all([
      this.queryPrefix(group, PARTITION_SK_PREFIX),
      this.queryPrefix(group, MEMBER_SK_PREFIX),
    ]);
    const items = new Map(members.map((item) => [String(item.sk), item]));
    return leases.map((item) => withOwnCommit(itemToPartition(item), items));
  }

  /**
   * The claim (docs/ARCHITECTURE.md §9.4): read the lease; if another member holds it, fence that member's
   * commits of the partition and take its last one; then compare-and-set the lease (unchanged since the
   * read) to this owner and generation with the larger committed offset; then mark the claim in the
   * owner's own item, which is what lets its commits through. Ownership changes are rare (a partition's
   * first fetch in a generation), so the extra read and writes are paid per move, not per commit.
   */
  async claimPartition(
    group: string,
    key: PartitionKey,
    owner: string,
    generation: number,
  ): Promise<PartitionState | 'fenced'> {
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const read = await this.doc.send(
        new GetCommand({
          TableName: this.table,
          Key: { pk: groupPk(group), sk: partitionSk(key) },
          ConsistentRead: true,
        }),
      );
      const old = read.Item ? itemToPartition(read.Item) : undefined;
      if (!mayClaim(old, owner, generation)) return 'fenced';
      const previous = old?.owner;
      let committedOffset = old?.committedOffset;
      let committedAt = old?.committedAt;
      if (previous !== undefined && previous !== owner) {
        // After this fence the previous owner's commits of the partition fail; every one before it is here.
        const theirs = await this.fence(group, previous, key, generation);
        if (
          theirs.offset !== undefined &&
          (committedOffset === undefined || theirs.offset > committedOffset)
        ) {
          committedOffset = theirs.offset;
          committedAt = theirs.at;
        }
      }
      const unchanged =
        read.Item !== undefined &&
        old?.owner === owner &&
        old.generation === generation &&
        committedOffset === old.committedOffset;
      if (
        !unchanged &&
        !(await this.compareAndSetLease(
          group,
          key,
          read.Item,
          owner,
          generation,
          committedOffset,
          committedAt,
        ))
      ) {
        continue; // someone else changed the lease since the read: read again
      }
      const mine = await this.markClaim(
        group,
        owner,
        key,
        generation,
        previous === owner ? undefined : { offset: committedOffset, at: committedAt },
      );
      if (mine === 'fenced') return 'fenced';
      const state: PartitionState = {
        ...key,
        owner,
        generation,
        ...(committedOffset === undefined ? {} : { committedOffset }),
        ...(committedAt === undefined ? {} : { committedAt }),
      };
      return withOwnCommit(state, new Map([[memberSk(owner, key.topicId, key.partition), mine]]));
    }
    throw new ThrottledError(
      `partition ${key.topic}/${key.partition} of group '${group}' is contended; retry`,
    );
  }

  /**
   * One conditional UpdateItem per member item touched (`c/<member>/<topicId>/<block>`, 25 partitions a
   * block; one for a topic of ≤ 25 partitions): per partition,
   * the member's claim is valid (claimed since its epoch, not fenced since) and the offset does not go
   * backwards. On a condition failure the item as it was (ALL_OLD) tells which partitions failed and why;
   * those are answered (or claimed, then retried) and the write is retried with the others.
   */
  async commitOffsets(
    group: string,
    owner: string,
    generation: number,
    commits: readonly MemberCommit[],
    now: number,
  ): Promise<CommitOutcome[]> {
    const outcomes: CommitOutcome[] = commits.map(() => 'committed');
    // One write per member item touched: per topic, per block of MEMBER_ITEM_PARTITIONS partitions.
    const byItem = new Map<string, number[]>();
    commits.forEach((commit, i) => {
      const sk = memberSk(owner, commit.key.topicId, commit.key.partition);
      const list = byItem.get(sk) ?? [];
      list.push(i);
      byItem.set(sk, list);
    });
    await mapBounded([...byItem], async ([sk, indexes]) => {
      let pending = indexes;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= CLAIM_ATTEMPTS) {
          throw new ThrottledError(`commits of group '${group}' are contended; retry`);
        }
        const old = await this.writeCommits(
          group,
          sk,
          pending.map((i) => commits[i] as MemberCommit),
          now,
        );
        if (old === 'written') return;
        const next: number[] = [];
        for (const i of pending) {
          const commit = commits[i] as MemberCommit;
          const mine = ownRecord(old, commit.key.partition);
          if (!claimValid(mine, commit.epoch)) {
            // Not claimed since its epoch, or fenced since: the commit claims, as a fetch would.
            if ((await this.claimPartition(group, commit.key, owner, generation)) === 'fenced') {
              outcomes[i] = 'fenced';
              continue;
            }
          } else if (mine.offset !== undefined && mine.offset > commit.offset) {
            outcomes[i] = 'behind';
            continue;
          }
          next.push(i);
        }
        pending = next;
      }
    });
    return outcomes;
  }

  /** The commit write: 'written', or the member's item as it was when the condition failed (or undefined). */
  private async writeCommits(
    group: string,
    sk: string,
    commits: readonly MemberCommit[],
    now: number,
  ): Promise<'written' | Item | undefined> {
    const names = new Map<string, string>();
    const values = new Map<string, number>([[':now', now]]);
    const sets: string[] = [];
    const conditions: string[] = [];
    commits.forEach(({ key, offset, epoch }, i) => {
      names.set(`#o${i}`, `o${key.partition}`);
      names.set(`#a${i}`, `a${key.partition}`);
      names.set(`#c${i}`, `c${key.partition}`);
      names.set(`#f${i}`, `f${key.partition}`);
      values.set(`:o${i}`, offset);
      values.set(`:e${i}`, epoch);
      sets.push(`#o${i} = :o${i}`, `#a${i} = :now`);
      // A comparison with a missing attribute is false: no claim at all fails `#c >= :e`.
      conditions.push(
        `(#c${i} >= :e${i} AND (attribute_not_exists(#f${i}) OR #f${i} < #c${i}) AND ` +
          `(attribute_not_exists(#o${i}) OR #o${i} <= :o${i}))`,
      );
    });
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: groupPk(group), sk },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: Object.fromEntries(names),
          ExpressionAttributeValues: Object.fromEntries(values),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return 'written';
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return error.Item ? unmarshall(error.Item) : undefined;
    }
  }

  /** Fences `member`'s commits of a partition from `generation` on (only forwards); returns its last commit. */
  private async fence(
    group: string,
    member: string,
    key: PartitionKey,
    generation: number,
  ): Promise<{ offset?: number; at?: number }> {
    let item: Item | undefined;
    try {
      const result = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: groupPk(group), sk: memberSk(member, key.topicId, key.partition) },
          UpdateExpression: 'SET #f = :g',
          ConditionExpression: 'attribute_not_exists(#f) OR #f < :g',
          ExpressionAttributeNames: { '#f': `f${key.partition}` },
          ExpressionAttributeValues: { ':g': generation },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      item = result.Attributes;
    } catch (error) {
      // Fenced already from this or a later generation: its commits stopped then; the item tells the last.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      item = error.Item ? unmarshall(error.Item) : undefined;
    }
    const record = ownRecord(item, key.partition);
    return {
      ...(record.offset === undefined ? {} : { offset: record.offset }),
      ...(record.at === undefined ? {} : { at: record.at }),
    };
  }

  /** The lease to `owner` in `generation`, if it is still exactly as read (`seen`); false otherwise. */
  private async compareAndSetLease(
    group: string,
    key: PartitionKey,
    seen: Item | undefined,
    owner: string,
    generation: number,
    committedOffset: number | undefined,
    committedAt: number | undefined,
  ): Promise<boolean> {
    const names = new Map<string, string>(Object.entries(CLAIM_NAMES));
    const values = new Map<string, unknown>([
      [':owner', owner],
      [':generation', generation],
      [':topic', key.topic],
      [':topicId', key.topicId],
      [':partition', key.partition],
    ]);
    const sets = [
      '#owner = :owner',
      '#generation = :generation',
      'topic = :topic',
      'topicId = :topicId',
      '#partition = :partition',
    ];
    if (committedOffset !== undefined) {
      sets.push('committedOffset = :offset');
      values.set(':offset', committedOffset);
    }
    if (committedAt !== undefined) {
      sets.push('committedAt = :at');
      values.set(':at', committedAt);
    }
    const conditions: string[] = [];
    if (!seen) conditions.push('attribute_not_exists(pk)');
    else {
      const same = (path: string, value: unknown, placeholder: string) => {
        if (value === undefined) conditions.push(`attribute_not_exists(${path})`);
        else {
          values.set(placeholder, value);
          conditions.push(`${path} = ${placeholder}`);
        }
      };
      same('#owner', seen.owner, ':seenOwner');
      same('#generation', seen.generation, ':seenGeneration');
      same('committedOffset', seen.committedOffset, ':seenOffset');
    }
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: groupPk(group), sk: partitionSk(key) },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: Object.fromEntries(names),
          ExpressionAttributeValues: Object.fromEntries(values),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * Marks `owner`'s claim of the partition in its own item (unless a later claim fenced it, or its own later
   * claim is there already). `start`: the lease's committed offset, which replaces the member's own (a claim
   * from another owner or after a reset); undefined keeps the member's own commits (it held the lease).
   */
  private async markClaim(
    group: string,
    owner: string,
    key: PartitionKey,
    generation: number,
    start: { offset: number | undefined; at: number | undefined } | undefined,
  ): Promise<Item | 'fenced'> {
    const names = new Map([
      ['#c', `c${key.partition}`],
      ['#f', `f${key.partition}`],
    ]);
    const values = new Map<string, number>([[':g', generation]]);
    const sets = ['#c = :g'];
    const removes: string[] = [];
    if (start) {
      names.set('#o', `o${key.partition}`);
      names.set('#a', `a${key.partition}`);
      if (start.offset === undefined) removes.push('#o');
      else {
        sets.push('#o = :o');
        values.set(':o', start.offset);
      }
      if (start.at === undefined) removes.push('#a');
      else {
        sets.push('#a = :a');
        values.set(':a', start.at);
      }
    }
    try {
      const result = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: groupPk(group), sk: memberSk(owner, key.topicId, key.partition) },
          UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
          ConditionExpression:
            '(attribute_not_exists(#f) OR #f < :g) AND (attribute_not_exists(#c) OR #c <= :g)',
          ExpressionAttributeNames: Object.fromEntries(names),
          ExpressionAttributeValues: Object.fromEntries(values),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return result.Attributes ?? {};
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'fenced';
      throw error;
    }
  }

  /** Every item of the group whose sort key starts with `prefix` (strongly consistent). */
  private async queryPrefix(group: string, prefix: string): Promise<Item[]> {
    const items: Item[] = [];
    const pages = paginateQuery(
      { client: this.doc },
      {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': groupPk(group), ':prefix': prefix },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) items.push(...(page.Items ?? []));
    return items;
  }

  /**
   * After a reset: the members' own commits of the reset partitions are removed (they would otherwise count
   * again once their member holds the lease), except where a member claimed the partition after the
   * reset's generation (its values are then newer than the reset).
   */
  private async clearMemberCommits(
    group: string,
    generation: number,
    offsets: readonly ResetOffset[],
  ): Promise<void> {
    const reset = new Map<string, Set<number>>();
    for (const o of offsets) {
      const set = reset.get(o.topicId) ?? new Set<number>();
      set.add(o.partition);
      reset.set(o.topicId, set);
    }
    const items = await this.queryPrefix(group, MEMBER_SK_PREFIX);
    await mapBounded(items, async (item) => {
      const parsed = parseMemberSk(String(item.sk));
      const partitions = parsed && reset.get(parsed.topicId);
      if (!partitions) return;
      const held = [...partitions].filter((p) => item[`c${p}`] !== undefined || item[`o${p}`] !== undefined);
      await mapBounded(held, async (partition) => {
        try {
          await this.doc.send(
            new UpdateCommand({
              TableName: this.table,
              Key: { pk: item.pk, sk: item.sk },
              UpdateExpression: 'REMOVE #o, #a, #c',
              ConditionExpression: 'attribute_not_exists(#c) OR #c <= :g',
              ExpressionAttributeNames: {
                '#o': `o${partition}`,
                '#a': `a${partition}`,
                '#c': `c${partition}`,
              },
              ExpressionAttributeValues: { ':g': generation },
            }),
          );
        } catch (error) {
          // Claimed after the reset: that member's commits are newer than the reset, keep them.
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
        }
      });
    });
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
    await this.clearMemberCommits(group, generation, offsets);
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
