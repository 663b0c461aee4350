import { describe, expect, it } from 'vitest';
import { DynamoDbGroupStore } from '../../lib/groups/dynamodb-group-store.js';
import type { GroupState, GroupStore, MemberState, PartitionKey } from '../../lib/groups/group-store.js';
import { MemoryGroupStore } from '../../lib/groups/memory-group-store.js';
import { ensureTables } from '../../lib/metadata/dynamodb-schema.js';
import { makeDynamoClient, uniquePrefix } from '../support/env.js';

/** Every conditional write of the group protocol, against both adapters (docs/ARCHITECTURE.md §6). */
const adapters: Array<[string, () => Promise<GroupStore>]> = [
  ['memory', async () => new MemoryGroupStore()],
  [
    'DynamoDB (emulator)',
    async () => {
      const client = makeDynamoClient();
      return new DynamoDbGroupStore(client, await ensureTables(client, uniquePrefix('groups')));
    },
  ],
];

const T0 = 1_700_000_000_000;

function member(expiresAt: number, topics = ['orders']): MemberState {
  return { topics, sessionTimeoutMs: 10_000, autoOffsetReset: 'earliest', expiresAt, joinedAt: T0 };
}

function state(
  generation: number,
  members: Array<[string, MemberState]>,
  group = 'g',
  topic = 'orders',
): GroupState {
  const ids = members.map(([id]) => id).sort();
  return {
    group,
    generation,
    members: new Map(members),
    assignments: new Map(ids.map((id, i) => [id, [{ topic, partition: i, epoch: generation }]])),
    topics: new Map([[topic, { topicId: 'tid-1', partitions: ids.length }]]),
    createdAt: T0,
    updatedAt: T0 + generation,
  };
}

const p0: PartitionKey = { topic: 'orders', topicId: 'tid-1', partition: 0 };

/** A commit of p0 by `member`, which owns it since `generation` (its epoch). */
async function commitOne(store: GroupStore, member: string, generation: number, offset: number, now: number) {
  const [outcome] = await store.commitOffsets(
    'g',
    member,
    generation,
    [{ key: p0, offset, epoch: generation }],
    now,
  );
  return outcome;
}

describe.each(adapters)('GroupStore contract: %s', (_name, make) => {
  it('creates a group once; a second create loses', async () => {
    const store = await make();
    const first = state(1, [['a', member(T0 + 10_000)]]);
    expect(
      await store.writeGeneration(undefined, {
        next: first,
        upserted: ['a'],
        removed: [],
        expired: new Map(),
      }),
    ).toEqual(first);
    expect(await store.getGroup('g')).toEqual(first);
    const again = await store.writeGeneration(undefined, {
      next: state(1, [['b', member(T0)]]),
      upserted: ['b'],
      removed: [],
      expired: new Map(),
    });
    expect(again).toBeUndefined();
    expect((await store.listGroups()).map((s) => s.group)).toEqual(['g']);
  });

  it('stores member ids and topics named like object properties as data', async () => {
    const store = await make();
    const names = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];
    for (const name of names) {
      const first = state(1, [[name, member(T0 + 10_000, [name])]], `g-${name}`, name);
      expect(
        await store.writeGeneration(undefined, {
          next: first,
          upserted: [name],
          removed: [],
          expired: new Map(),
        }),
      ).toEqual(first);
      expect(await store.getGroup(`g-${name}`)).toEqual(first);
      const extended = await store.heartbeat(`g-${name}`, name, T0 + 1_000, T0 + 1_000);
      expect(extended?.members.get(name)?.expiresAt).toBe(T0 + 11_000);
      expect(extended?.assignments.get(name)).toEqual([{ topic: name, partition: 0, epoch: 1 }]);
      const second = state(2, [['m', member(T0 + 10_000, [name])]], `g-${name}`, name);
      const written = await store.writeGeneration(first, {
        next: second,
        upserted: ['m'],
        removed: [name],
        expired: new Map(),
      });
      expect([...(written?.members.keys() ?? [])]).toEqual(['m']);
      expect(written?.assignments).toEqual(second.assignments);
    }
  });

  it('writes a generation only over the generation it was computed from', async () => {
    const store = await make();
    const g1 = state(1, [['a', member(T0 + 10_000)]]);
    await store.writeGeneration(undefined, { next: g1, upserted: ['a'], removed: [], expired: new Map() });
    const g2 = state(2, [
      ['a', member(T0 + 10_000)],
      ['b', member(T0 + 10_000)],
    ]);
    const written = await store.writeGeneration(g1, {
      next: g2,
      upserted: ['b'],
      removed: [],
      expired: new Map(),
    });
    expect(written?.generation).toBe(2);
    expect([...(written?.members.keys() ?? [])].sort()).toEqual(['a', 'b']);
    expect(written?.assignments).toEqual(g2.assignments);
    // A second writer that also read generation 1 loses.
    const lost = await store.writeGeneration(g1, {
      next: state(2, [
        ['a', member(T0 + 10_000)],
        ['c', member(T0)],
      ]),
      upserted: ['c'],
      removed: [],
      expired: new Map(),
    });
    expect(lost).toBeUndefined();
    expect([...((await store.getGroup('g'))?.members.keys() ?? [])].sort()).toEqual(['a', 'b']);
  });

  it('does not remove a member presumed expired whose heartbeat landed in between', async () => {
    const store = await make();
    const g1 = state(1, [
      ['a', member(T0 + 10_000)],
      ['b', member(T0 + 10_000)],
    ]);
    await store.writeGeneration(undefined, {
      next: g1,
      upserted: ['a', 'b'],
      removed: [],
      expired: new Map(),
    });
    // b heartbeats after the expiring call read g1.
    expect(await store.heartbeat('g', 'b', T0 + 9_000, T0 + 9_000)).toBeDefined();
    const g2 = state(2, [['a', member(T0 + 10_000)]]);
    const lost = await store.writeGeneration(g1, {
      next: g2,
      upserted: [],
      removed: ['b'],
      expired: new Map([['b', T0 + 10_000]]),
    });
    expect(lost).toBeUndefined();
    expect((await store.getGroup('g'))?.members.get('b')?.expiresAt).toBe(T0 + 19_000);
  });

  it('keeps the session a concurrent heartbeat extended when another member changes', async () => {
    const store = await make();
    const g1 = state(1, [['a', member(T0 + 10_000)]]);
    await store.writeGeneration(undefined, { next: g1, upserted: ['a'], removed: [], expired: new Map() });
    await store.heartbeat('g', 'a', T0 + 5_000, T0 + 5_000);
    // The join was computed from g1 (a's old expiry) but writes only the member it adds.
    const written = await store.writeGeneration(g1, {
      next: state(2, [
        ['a', member(T0 + 10_000)],
        ['b', member(T0 + 20_000)],
      ]),
      upserted: ['b'],
      removed: [],
      expired: new Map(),
    });
    expect(written?.members.get('a')?.expiresAt).toBe(T0 + 15_000);
  });

  it('extends a session from the stored timeout only while it is alive', async () => {
    const store = await make();
    await store.writeGeneration(undefined, {
      next: state(1, [['a', member(T0 + 10_000)]]),
      upserted: ['a'],
      removed: [],
      expired: new Map(),
    });
    const extended = await store.heartbeat('g', 'a', T0 + 4_000, T0 + 4_000);
    expect(extended?.members.get('a')?.expiresAt).toBe(T0 + 14_000);
    expect(await store.heartbeat('g', 'a', T0 + 20_000, T0 + 20_000)).toBeUndefined(); // ran out at 14 000
    expect(await store.heartbeat('g', 'nobody', T0, T0)).toBeUndefined();
    expect(await store.heartbeat('no-group', 'a', T0, T0)).toBeUndefined();
  });

  it('grants a lease to one member per generation, and never back to an older generation', async () => {
    const store = await make();
    const claimed = await store.claimPartition('g', p0, 'a', 1);
    expect(claimed).toMatchObject({ owner: 'a', generation: 1 });
    expect(await store.claimPartition('g', p0, 'b', 1)).toBe('fenced'); // same generation, other member
    expect(await store.claimPartition('g', p0, 'a', 1)).toMatchObject({ owner: 'a' }); // idempotent
    expect(await store.claimPartition('g', p0, 'b', 2)).toMatchObject({ owner: 'b', generation: 2 });
    expect(await store.claimPartition('g', p0, 'a', 1)).toBe('fenced'); // the zombie cannot take it back
    expect((await store.getPartitions('g', [p0])).get('tid-1/0')).toMatchObject({
      owner: 'b',
      generation: 2,
    });
  });

  it('commits through the lease: fenced for a stale owner, never backwards, claimed when free', async () => {
    const store = await make();
    expect(await commitOne(store, 'a', 1, 10, T0)).toBe('committed'); // free: the commit claims
    expect(await commitOne(store, 'a', 1, 7, T0)).toBe('behind');
    expect((await store.getPartitions('g', [p0])).get('tid-1/0')?.committedOffset).toBe(10);
    expect(await store.claimPartition('g', p0, 'b', 2)).toMatchObject({ committedOffset: 10 });
    expect(await commitOne(store, 'a', 1, 12, T0)).toBe('fenced');
    expect(await commitOne(store, 'b', 2, 12, T0)).toBe('committed');
    expect(await commitOne(store, 'b', 2, 12, T0)).toBe('committed'); // the same again
    const listed = await store.listPartitions('g');
    expect(listed).toEqual([
      {
        topic: 'orders',
        topicId: 'tid-1',
        partition: 0,
        owner: 'b',
        generation: 2,
        committedOffset: 12,
        committedAt: T0,
      },
    ]);
  });

  it("fences a previous owner's commits at the new owner's claim, which starts from the last accepted one", async () => {
    const store = await make();
    await store.claimPartition('g', p0, 'a', 1);
    expect(await commitOne(store, 'a', 1, 5, T0)).toBe('committed'); // lands before b's claim
    // b's claim fences a's commits of the partition and takes a's last commit: nothing accepted is lost.
    expect(await store.claimPartition('g', p0, 'b', 2)).toMatchObject({ owner: 'b', committedOffset: 5 });
    expect(await commitOne(store, 'a', 1, 7, T0)).toBe('fenced'); // the zombie, after the claim
    expect((await store.getPartitions('g', [p0])).get('tid-1/0')?.committedOffset).toBe(5);
    expect(await commitOne(store, 'b', 2, 6, T0 + 1)).toBe('committed');
    expect((await store.listPartitions('g'))[0]).toMatchObject({
      owner: 'b',
      committedOffset: 6,
      committedAt: T0 + 1,
    });
  });

  it('commits several partitions in one call, answering each on its own', async () => {
    const store = await make();
    const keys = [0, 1, 2, 3].map((partition) => ({ ...p0, partition }));
    for (const key of keys) await store.claimPartition('g', key, 'a', 1);
    await store.claimPartition('g', { ...p0, partition: 2 }, 'b', 2); // moved to b
    await store.commitOffsets('g', 'a', 1, [{ key: { ...p0, partition: 3 }, offset: 9, epoch: 1 }], T0);
    const outcomes = await store.commitOffsets(
      'g',
      'a',
      1,
      keys.map((key) => ({ key, offset: 4, epoch: 1 })),
      T0,
    );
    expect(outcomes).toEqual(['committed', 'committed', 'fenced', 'behind']);
    const listed = new Map((await store.listPartitions('g')).map((s) => [s.partition, s.committedOffset]));
    expect([...listed].sort(([a], [b]) => a - b)).toEqual([
      [0, 4],
      [1, 4],
      [2, undefined],
      [3, 9],
    ]);
  });

  it('commits 60 partitions in one call (several member items) and lists every one', async () => {
    const store = await make();
    const keys = Array.from({ length: 60 }, (_, partition) => ({ ...p0, partition }));
    for (const key of keys) await store.claimPartition('g', key, 'a', 1);
    const outcomes = await store.commitOffsets(
      'g',
      'a',
      1,
      keys.map((key) => ({ key, offset: key.partition + 1, epoch: 1 })),
      T0,
    );
    expect(outcomes.every((o) => o === 'committed')).toBe(true);
    const listed = (await store.listPartitions('g')).sort((x, y) => x.partition - y.partition);
    expect(listed.map((s) => s.committedOffset)).toEqual(keys.map((k) => k.partition + 1));
    const got = await store.getPartitions('g', keys);
    expect(got.get('tid-1/59')?.committedOffset).toBe(60);
  });

  it("a partition that moves away and back starts from the other owner's commits, not its own older ones", async () => {
    const store = await make();
    await store.claimPartition('g', p0, 'a', 1);
    await commitOne(store, 'a', 1, 5, T0);
    await store.claimPartition('g', p0, 'b', 2);
    await commitOne(store, 'b', 2, 8, T0);
    // Back to a in generation 3 (epoch 3): its claim fences b and starts from b's 8, not a's own 5.
    expect(await store.claimPartition('g', p0, 'a', 3)).toMatchObject({ owner: 'a', committedOffset: 8 });
    expect(await commitOne(store, 'b', 2, 9, T0)).toBe('fenced');
    expect(await commitOne(store, 'a', 3, 6, T0)).toBe('behind');
    expect(await commitOne(store, 'a', 3, 9, T0)).toBe('committed');
    expect((await store.getPartitions('g', [p0])).get('tid-1/0')?.committedOffset).toBe(9);
    // Moved to b and back to a without b ever claiming it: a's commit (epoch 5) claims it again and lands.
    expect(await commitOne(store, 'a', 5, 11, T0)).toBe('committed');
    expect((await store.getPartitions('g', [p0])).get('tid-1/0')).toMatchObject({
      owner: 'a',
      generation: 5,
      committedOffset: 11,
    });
  });

  it('resets offsets only while the group is at the generation the reset saw', async () => {
    const store = await make();
    const g1 = state(1, []);
    await store.writeGeneration(undefined, { next: g1, upserted: [], removed: [], expired: new Map() });
    await commitOne(store, 'a', 1, 10, T0);
    const offsets = Array.from({ length: 120 }, (_, partition) => ({ ...p0, partition, offset: 3 }));
    expect(await store.resetOffsets('g', 1, offsets, T0 + 1)).toBe(true);
    const states = await store.getPartitions('g', offsets);
    expect(states.size).toBe(120);
    expect(states.get('tid-1/0')).toEqual({ ...p0, generation: 1, committedOffset: 3, committedAt: T0 + 1 });
    // The member's own commit (10) was cleared: a commit of its claim from before the reset is fenced ...
    expect(await commitOne(store, 'a', 1, 11, T0 + 2)).toBe('fenced');
    expect((await store.getPartitions('g', [p0])).get('tid-1/0')?.committedOffset).toBe(3);
    // ... and once it claims again it starts from the reset offset, not from its own older commit.
    expect(await store.claimPartition('g', p0, 'a', 2)).toMatchObject({ owner: 'a', committedOffset: 3 });
    // A member of a later generation claims the reset partition and starts from the reset offset.
    expect(await store.claimPartition('g', p0, 'b', 3)).toMatchObject({ owner: 'b', committedOffset: 3 });
    expect(await store.resetOffsets('g', 0, offsets, T0)).toBe(false); // the group moved on
  });
});
