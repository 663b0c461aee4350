import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AssignmentInput,
  assignSticky,
  type MemberSubscription,
  movedPartitions,
  type TopicPartition,
} from '../../lib/groups/assignor.js';

type Assignment = Record<string, TopicPartition[]>;

const tp = (topic: string, partition: number): TopicPartition => ({ topic, partition });
const range = (topic: string, from: number, to: number): TopicPartition[] =>
  Array.from({ length: to - from }, (_, i) => tp(topic, from + i));
const loads = (a: Assignment): number[] => Object.values(a).map((l) => l.length);
const spread = (a: Assignment): number => Math.max(...loads(a)) - Math.min(...loads(a));
const uniform = (ids: readonly string[], topics: readonly string[]): MemberSubscription[] =>
  ids.map((memberId) => ({ memberId, topics }));

/** Property 1: every partition of every subscribed, existing topic has exactly one owner, a subscriber. */
function expectCoverage(input: AssignmentInput, out: Assignment): void {
  const live = new Map<string, Set<string>>();
  for (const m of input.members) {
    const set = live.get(m.memberId) ?? new Set<string>();
    for (const t of m.topics) set.add(t);
    live.set(m.memberId, set);
  }
  expect(Object.keys(out).sort()).toEqual([...live.keys()].sort());
  const owner = new Map<string, string>();
  for (const [memberId, list] of Object.entries(out)) {
    const sorted = [...list].sort((a, b) =>
      a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition,
    );
    expect(list).toEqual(sorted);
    for (const { topic, partition } of list) {
      expect(live.get(memberId)?.has(topic)).toBe(true);
      expect(Object.hasOwn(input.partitions, topic)).toBe(true);
      expect(
        Number.isInteger(partition) && partition >= 0 && partition < (input.partitions[topic] ?? 0),
      ).toBe(true);
      const key = JSON.stringify([topic, partition]);
      expect(owner.has(key)).toBe(false);
      owner.set(key, memberId);
    }
  }
  for (const [topic, count] of Object.entries(input.partitions)) {
    const wanted = [...live.values()].some((s) => s.has(topic));
    for (let p = 0; p < count; p++) expect(owner.has(JSON.stringify([topic, p]))).toBe(wanted);
  }
}

/** Property 2: for a partition owned by X and any subscriber Y of its topic, |X| <= |Y| + 1. */
function expectBalanced(input: AssignmentInput, out: Assignment): void {
  for (const list of Object.values(out)) {
    for (const { topic } of list) {
      for (const y of input.members) {
        if (y.topics.includes(topic))
          expect(list.length).toBeLessThanOrEqual((out[y.memberId]?.length ?? 0) + 1);
      }
    }
  }
}

/** Fisher–Yates driven by a fast-check random seed list, so shrinking stays reproducible. */
function shuffle<T>(items: readonly T[], seeds: readonly number[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = (seeds[i % Math.max(1, seeds.length)] ?? 0) % (i + 1);
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

const TOPICS = ['alpha', 'beta', 'gamma', 'delta'];
const IDS = ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7'];

const partitionsArb = fc.record({
  alpha: fc.integer({ min: 0, max: 12 }),
  beta: fc.integer({ min: 0, max: 12 }),
  gamma: fc.integer({ min: 0, max: 12 }),
  delta: fc.integer({ min: 0, max: 12 }),
});
const membersArb = fc
  .uniqueArray(fc.constantFrom(...IDS), { minLength: 1, maxLength: IDS.length })
  .chain((ids) =>
    fc.tuple(
      ...ids.map((memberId) =>
        fc.record({
          memberId: fc.constant(memberId),
          // 'gone' is subscribed to but missing from `partitions`: it must be ignored.
          topics: fc.subarray([...TOPICS, 'gone']),
        }),
      ),
    ),
  );
/** Arbitrary (possibly corrupt) previous state: dead members, gone topics/partitions, double ownership. */
const previousArb = fc.dictionary(
  fc.constantFrom(...IDS, 'dead0', 'dead1'),
  fc.array(
    fc.record({ topic: fc.constantFrom(...TOPICS, 'gone'), partition: fc.integer({ min: -1, max: 15 }) }),
    {
      maxLength: 20,
    },
  ),
);
const inputArb: fc.Arbitrary<AssignmentInput> = fc.record({
  members: membersArb,
  partitions: partitionsArb,
  previous: previousArb,
});
/** Same subscriptions for everyone; previous is a real earlier generation (other members, other counts). */
const uniformHistoryArb = fc
  .record({
    topics: fc.subarray(TOPICS, { minLength: 1 }),
    before: fc.uniqueArray(fc.constantFrom(...IDS), { minLength: 1, maxLength: IDS.length }),
    after: fc.uniqueArray(fc.constantFrom(...IDS), { minLength: 1, maxLength: IDS.length }),
    countsBefore: partitionsArb,
    countsAfter: partitionsArb,
  })
  .map(({ topics, before, after, countsBefore, countsAfter }) => {
    const previous = assignSticky({
      members: uniform(before, topics),
      partitions: countsBefore,
      previous: {},
    });
    const input: AssignmentInput = { members: uniform(after, topics), partitions: countsAfter, previous };
    return { topics, input };
  });

describe('assignSticky: examples', () => {
  it('spreads 12 partitions of one topic over two members 6/6', () => {
    const out = assignSticky({ members: uniform(['a', 'b'], ['t']), partitions: { t: 12 }, previous: {} });
    expect(loads(out)).toEqual([6, 6]);
  });

  it('adding a third member to two that own 12 partitions moves exactly 4', () => {
    const two = assignSticky({ members: uniform(['a', 'b'], ['t']), partitions: { t: 12 }, previous: {} });
    const three = assignSticky({
      members: uniform(['a', 'b', 'c'], ['t']),
      partitions: { t: 12 },
      previous: two,
    });
    expect(loads(three)).toEqual([4, 4, 4]);
    const moved = movedPartitions(two, three);
    expect(moved).toHaveLength(4);
    expect(moved).toEqual([...(three.c ?? [])]);
    // a and b keep 4 of their own 6 each
    expect(two.a?.filter((p) => three.a?.some((q) => q.partition === p.partition))).toHaveLength(4);
    expect(two.b?.filter((p) => three.b?.some((q) => q.partition === p.partition))).toHaveLength(4);
  });

  it('2 → 3 → 2 members moves 4 then only the 4 partitions of the member that left', () => {
    const members = (ids: string[]) => uniform(ids, ['t']);
    const two = assignSticky({ members: members(['a', 'b']), partitions: { t: 12 }, previous: {} });
    const three = assignSticky({ members: members(['a', 'b', 'c']), partitions: { t: 12 }, previous: two });
    const back = assignSticky({ members: members(['a', 'b']), partitions: { t: 12 }, previous: three });
    expect(movedPartitions(two, three)).toHaveLength(4);
    expect(movedPartitions(three, back)).toEqual(three.c);
    expect(loads(back)).toEqual([6, 6]);
    // a and b kept everything they had in generation 2 and took 2 of c's each
    for (const id of ['a', 'b']) for (const p of three[id] ?? []) expect(back[id]).toContainEqual(p);
  });

  it('removing a member moves only its partitions', () => {
    const before = assignSticky({
      members: uniform(['a', 'b', 'c', 'd'], ['x', 'y']),
      partitions: { x: 7, y: 6 },
      previous: {},
    });
    const after = assignSticky({
      members: uniform(['a', 'b', 'd'], ['x', 'y']),
      partitions: { x: 7, y: 6 },
      previous: before,
    });
    expect(movedPartitions(before, after)).toEqual(before.c);
    expect(spread(after)).toBeLessThanOrEqual(1);
  });

  it('a partition-count increase moves no existing partition; new ones go to the least loaded', () => {
    const before = assignSticky({ members: uniform(['a', 'b'], ['t']), partitions: { t: 5 }, previous: {} });
    expect(loads(before)).toEqual([3, 2]);
    const six = assignSticky({ members: uniform(['a', 'b'], ['t']), partitions: { t: 6 }, previous: before });
    expect(movedPartitions(before, six)).toEqual([]);
    expect(six.b).toContainEqual(tp('t', 5)); // b had 2, a had 3
    const nine = assignSticky({ members: uniform(['a', 'b'], ['t']), partitions: { t: 9 }, previous: six });
    expect(movedPartitions(six, nine)).toEqual([]);
    expect(loads(nine)).toEqual([5, 4]);
  });

  it('with mixed subscriptions balances overall load rather than per topic', () => {
    const out = assignSticky({
      members: [
        { memberId: 'a', topics: ['t1', 't2'] },
        { memberId: 'b', topics: ['t1'] },
      ],
      partitions: { t1: 2, t2: 2 },
      previous: {},
    });
    expect(out).toEqual({ a: range('t2', 0, 2), b: range('t1', 0, 2) });
  });

  it('with mixed subscriptions, growing one topic may move a partition of another to keep balance', () => {
    const members = [
      { memberId: 'a', topics: ['t1', 't2'] },
      { memberId: 'b', topics: ['t2'] },
    ];
    const previous = { a: [tp('t1', 0), tp('t2', 0)], b: [tp('t2', 1)] };
    const out = assignSticky({ members, partitions: { t1: 3, t2: 2 }, previous });
    // t1-1 and t1-2 can only go to a (4 vs 1), so exactly one partition, t2-0, moves to b.
    expect(out).toEqual({ a: range('t1', 0, 3), b: range('t2', 0, 2) });
    expect(movedPartitions(previous, out)).toEqual([tp('t2', 0)]);
  });

  it('with mixed subscriptions, balancing hands over a newly assigned partition before an owned one', () => {
    const members = [
      { memberId: 'm0', topics: ['b'] },
      { memberId: 'm1', topics: ['c'] },
      { memberId: 'm4', topics: ['b', 'c'] },
    ];
    const previous = { m1: [tp('c', 6)], m4: [tp('b', 0), tp('b', 1)] };
    const out = assignSticky({ members, partitions: { b: 2, c: 7 }, previous });
    // m4 must give b-0 and b-1 to m0 (its only possible partitions); m1 keeps c-6 when c is rebalanced
    expect(movedPartitions(previous, out)).toEqual([tp('b', 0), tp('b', 1)]);
    expect(out.m1).toContainEqual(tp('c', 6));
    expect(loads(out)).toEqual([2, 4, 3]);
  });

  it('assigns partitions of unsubscribed or unknown topics to nobody; idle members get an empty list', () => {
    const out = assignSticky({
      members: [
        { memberId: 'a', topics: ['t'] },
        { memberId: 'b', topics: ['unknown'] },
        { memberId: 'c', topics: [] },
      ],
      partitions: { t: 2, nobody: 3 },
      previous: { a: [tp('nobody', 0)] },
    });
    expect(out).toEqual({ a: range('t', 0, 2), b: [], c: [] });
  });

  it('handles gone partitions, unsubscribed topics, dead members and double ownership', () => {
    const input: AssignmentInput = {
      members: uniform(['a', 'b'], ['t']),
      partitions: { t: 4, old: 2 },
      previous: {
        a: [tp('t', 0), tp('t', 9), tp('old', 0), tp('t', 0)], // gone partition, unsubscribed topic, duplicate
        b: [tp('t', 0), tp('t', 1)], // t-0 also claimed by a: corrupt state
        dead: [tp('t', 2), tp('t', 3)],
      },
    };
    const out = assignSticky(input);
    expectCoverage(input, out);
    // the smallest memberId keeps the contested t-0; b keeps t-1; the dead member's partitions are spread
    expect(out).toEqual({ a: [tp('t', 0), tp('t', 2)], b: [tp('t', 1), tp('t', 3)] });
  });

  it('treats memberIds and topics such as __proto__ and constructor as plain keys', () => {
    const input: AssignmentInput = {
      members: [
        { memberId: '__proto__', topics: ['constructor'] },
        { memberId: 'toString', topics: ['constructor', 'hasOwnProperty'] },
      ],
      partitions: JSON.parse('{"constructor": 3, "__proto__": 2}'),
      previous: JSON.parse('{"__proto__": [{"topic": "constructor", "partition": 2}]}'),
    };
    const out = assignSticky(input);
    expect(Object.keys(out)).toEqual(['__proto__', 'toString']);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expectCoverage(input, out);
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toContainEqual(tp('constructor', 2));
  });

  it('merges a member listed twice into one subscription', () => {
    const out = assignSticky({
      members: [
        { memberId: 'a', topics: ['x'] },
        { memberId: 'a', topics: ['y'] },
      ],
      partitions: { x: 1, y: 1 },
      previous: {},
    });
    expect(out).toEqual({ a: [tp('x', 0), tp('y', 0)] });
  });

  it('rejects an invalid partition count', () => {
    const members = uniform(['a'], ['t']);
    expect(() => assignSticky({ members, partitions: { t: -1 }, previous: {} })).toThrow(RangeError);
    expect(() => assignSticky({ members, partitions: { t: 1.5 }, previous: {} })).toThrow(RangeError);
  });

  it('does not depend on the order of members, topics or previous lists', () => {
    const a = assignSticky({
      members: [
        { memberId: 'b', topics: ['y', 'x'] },
        { memberId: 'a', topics: ['x', 'y'] },
      ],
      partitions: { y: 3, x: 4 },
      previous: { b: [tp('y', 1), tp('x', 3)], a: [tp('x', 0)] },
    });
    const b = assignSticky({
      members: [
        { memberId: 'a', topics: ['y', 'x'] },
        { memberId: 'b', topics: ['x', 'y'] },
      ],
      partitions: { x: 4, y: 3 },
      previous: { a: [tp('x', 0)], b: [tp('x', 3), tp('y', 1)] },
    });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  });

  it('assigns 1000 partitions over 100 members, balanced and covering', () => {
    const ids = Array.from({ length: 100 }, (_, i) => `member-${String(i).padStart(3, '0')}`);
    const topics = Array.from({ length: 10 }, (_, i) => `topic-${i}`);
    const partitions = Object.fromEntries(topics.map((t) => [t, 100]));
    const first = assignSticky({ members: uniform(ids.slice(0, 60), topics), partitions, previous: {} });
    const input: AssignmentInput = { members: uniform(ids, topics), partitions, previous: first };
    const out = assignSticky(input);
    expectCoverage(input, out);
    expect(spread(out)).toBe(0);
    // 60 members with 16 or 17 each keep 10: 1000 - 600 = 400 partitions move to the 40 newcomers
    expect(movedPartitions(first, out)).toHaveLength(400);
  });
});

describe('movedPartitions', () => {
  it('counts partitions whose owner changed or that lost their owner, not new partitions', () => {
    const before = { a: [tp('t', 0), tp('t', 1)], b: [tp('t', 2)] };
    const after = { a: [tp('t', 0), tp('t', 3)], b: [tp('t', 1)] };
    expect(movedPartitions(before, after)).toEqual([tp('t', 1), tp('t', 2)]);
    expect(movedPartitions(before, before)).toEqual([]);
  });
});

describe('assignSticky: properties', () => {
  it('1. covers every subscribed partition exactly once, only with subscribers', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        expectCoverage(input, assignSticky(input));
      }),
    );
  });

  it('2. is balanced: no partition could go to a subscriber with two fewer partitions', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        expectBalanced(input, assignSticky(input));
      }),
    );
  });

  it('2. with identical subscriptions, loads differ by at most one', () => {
    fc.assert(
      fc.property(uniformHistoryArb, ({ input }) => {
        expect(spread(assignSticky(input))).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('3. an assignment that is already balanced and valid is kept unchanged (fixpoint)', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const out = assignSticky(input);
        expect(assignSticky({ ...input, previous: out })).toEqual(out);
      }),
    );
  });

  it('3. with identical subscriptions, moves the fewest partitions balance allows', () => {
    fc.assert(
      fc.property(uniformHistoryArb, ({ topics, input }) => {
        const out = assignSticky(input);
        const live = new Set(input.members.map((m) => m.memberId));
        // kept[i]: partitions member i could keep (it is live and the partition still exists)
        const kept = Object.entries(input.previous)
          .filter(([id]) => live.has(id))
          .map(([, list]) => list.filter((p) => p.partition < (input.partitions[p.topic] ?? 0)).length);
        const total = topics.reduce((n, t) => n + (input.partitions[t] ?? 0), 0);
        const q = Math.floor(total / live.size);
        const r = total % live.size;
        const minimum =
          kept.reduce((n, k) => n + Math.max(0, k - q), 0) - Math.min(r, kept.filter((k) => k > q).length);
        const movedFromLive = movedPartitions(input.previous, out).filter(
          (p) =>
            p.partition < (input.partitions[p.topic] ?? 0) &&
            Object.entries(input.previous).some(
              ([id, l]) => live.has(id) && l.some((x) => x.topic === p.topic && x.partition === p.partition),
            ),
        );
        expect(movedFromLive).toHaveLength(minimum);
      }),
    );
  });

  it('3. with identical subscriptions, removing members moves only their partitions', () => {
    fc.assert(
      fc.property(
        fc.subarray(TOPICS, { minLength: 1 }),
        fc.uniqueArray(fc.constantFrom(...IDS), { minLength: 2 }),
        partitionsArb,
        fc.integer({ min: 1, max: 7 }),
        (topics, ids, partitions, leaving) => {
          const gone = new Set(ids.slice(0, Math.min(leaving, ids.length - 1)));
          const before = assignSticky({ members: uniform(ids, topics), partitions, previous: {} });
          const stay = ids.filter((id) => !gone.has(id));
          const after = assignSticky({ members: uniform(stay, topics), partitions, previous: before });
          const theirs = [...gone].flatMap((id) => before[id] ?? []);
          for (const p of movedPartitions(before, after)) expect(theirs).toContainEqual(p);
          expect(movedPartitions(before, after)).toHaveLength(theirs.length);
        },
      ),
    );
  });

  it('3. with identical subscriptions, a partition-count increase moves no existing partition', () => {
    fc.assert(
      fc.property(
        fc.subarray(TOPICS, { minLength: 1 }),
        fc.uniqueArray(fc.constantFrom(...IDS), { minLength: 1 }),
        partitionsArb,
        partitionsArb,
        (topics, ids, base, extra) => {
          const grown = Object.fromEntries(
            TOPICS.map((t) => [
              t,
              (base[t as keyof typeof base] ?? 0) + (extra[t as keyof typeof extra] ?? 0),
            ]),
          );
          const before = assignSticky({ members: uniform(ids, topics), partitions: base, previous: {} });
          const after = assignSticky({ members: uniform(ids, topics), partitions: grown, previous: before });
          expect(movedPartitions(before, after)).toEqual([]);
          expect(spread(after)).toBeLessThanOrEqual(1);
        },
      ),
    );
  });

  it('4. is deterministic: independent of the order of members, topics, partitions and previous lists', () => {
    fc.assert(
      fc.property(inputArb, fc.array(fc.nat(), { minLength: 1, maxLength: 16 }), (input, seeds) => {
        const shuffled: AssignmentInput = {
          members: shuffle(input.members, seeds).map((m) => ({ ...m, topics: shuffle(m.topics, seeds) })),
          partitions: Object.fromEntries(shuffle(Object.entries(input.partitions), seeds)),
          previous: Object.fromEntries(
            shuffle(Object.entries(input.previous), seeds).map(([id, l]) => [id, shuffle(l, seeds)]),
          ),
        };
        const expected = JSON.stringify(assignSticky(input));
        expect(JSON.stringify(assignSticky(shuffled))).toBe(expected);
        expect(JSON.stringify(assignSticky(structuredClone(input)))).toBe(expected);
      }),
    );
  });
});
