import { describe, expect, it } from 'vitest';
import {
  type CheckOptions,
  checkAcknowledgedNotLost,
  checkCompactionPreserves,
  checkFailedNotApplied,
  checkGroupAtLeastOnce,
  checkGroupCommitsMonotonic,
  checkGroupNoZombieCommit,
  checkGroupSingleOwner,
  checkHistory,
  checkIdempotentOnce,
  checkIncarnationIsolated,
  checkInstancesAgree,
  checkKeyCompactionLatest,
  checkLiveness,
  checkNoDanglingIndex,
  checkNoLeakedObjects,
  checkOffsetsDense,
  checkOffsetsUnique,
  checkReadsConsistent,
  checkReadsSeeAcks,
  checkRequestAtomic,
  checkRetentionExact,
  formatViolations,
  INVARIANTS,
  type TopicCheckOptions,
} from './checker.js';
import {
  type FetchOp,
  type FinalState,
  History,
  type Op,
  type PartitionRead,
  type ProduceOp,
  type ReadRecord,
  type Violation,
} from './history.js';

// ---- Synthetic histories: ops with chosen times, a final state read on two instances ----------------------

const QUIESCED = 50_000;

function add<T extends Op>(h: History, fields: Omit<T, 'id'>): T {
  const op = { ...fields, id: h.ops.length + 1 } as T;
  h.ops.push(op);
  return op;
}

interface ProduceSpec {
  at: number;
  end?: number;
  outcome?: 'ok' | 'fail' | 'unknown';
  status?: number;
  topic?: string;
  partition?: number;
  /** Offset the ok answer gives the first record. */
  base?: number;
  n?: number;
  keys?: Array<string | null>;
  attempt?: number;
  idem?: string;
  client?: string;
  tombstone?: boolean;
}

function produce(h: History, requestId: string, s: ProduceSpec): ProduceOp {
  const n = s.n ?? 2;
  const partition = s.partition ?? 0;
  const outcome = s.outcome ?? 'ok';
  const records = Array.from({ length: n }, (_, i) => ({
    partition,
    key: s.keys ? (s.keys[i] ?? null) : `k-${requestId}-${i}`,
    value: `${requestId}#${i}`,
    ...(s.tombstone ? { tombstone: true } : {}),
  }));
  return add<ProduceOp>(h, {
    type: 'produce',
    client: s.client ?? 'c1',
    instance: 'a',
    invokedAt: s.at,
    completedAt: s.end ?? s.at + 1,
    outcome,
    status: s.status ?? (outcome === 'ok' ? 200 : outcome === 'fail' ? 400 : 503),
    topic: s.topic ?? 't',
    requestId,
    attempt: s.attempt ?? 1,
    ...(s.idem ? { idempotencyKey: s.idem } : {}),
    records,
    ...(outcome === 'ok'
      ? { offsets: records.map((_, i) => ({ partition, offset: (s.base ?? 0) + i })) }
      : {}),
  });
}

/** The records a produce wrote, as a read returns them, from offset `base`. */
function readOf(op: ProduceOp, base: number): ReadRecord[] {
  return op.records.map((r, i) => ({ partition: r.partition, offset: base + i, key: r.key, value: r.value }));
}

function fetchOp(
  h: History,
  s: {
    at: number;
    end?: number;
    offset: number;
    records: ReadRecord[];
    hw: number;
    lso?: number;
    next?: number;
    client?: string;
    topic?: string;
    status?: number;
  },
): FetchOp {
  const last = s.records[s.records.length - 1];
  return add<FetchOp>(h, {
    type: 'fetch',
    client: s.client ?? 'r1',
    instance: 'a',
    invokedAt: s.at,
    completedAt: s.end ?? s.at + 1,
    outcome: 'ok',
    status: s.status ?? 200,
    topic: s.topic ?? 't',
    partition: 0,
    offset: s.offset,
    records: s.records,
    nextOffset: s.next ?? (last ? last.offset + 1 : s.offset),
    highWatermark: s.hw,
    logStartOffset: s.lso ?? 0,
  });
}

function partitionRead(records: ReadRecord[], hw?: number, lso = 0): PartitionRead {
  const last = records[records.length - 1];
  return { logStartOffset: lso, highWatermark: hw ?? (last ? last.offset + 1 : lso), records };
}

/** The same reads on a warm instance `a` and a `cold` one, unless `cold` is given. */
function finalState(
  reads: Record<string, PartitionRead>,
  more: {
    cold?: Record<string, PartitionRead>;
    topics?: string[];
    committed?: Array<[string, string, number]>;
    storage?: { objects: string[]; referenced: string[] };
  } = {},
): FinalState {
  const warm = new Map(Object.entries(reads));
  const cold = more.cold ? new Map(Object.entries(more.cold)) : warm;
  const committed = new Map<string, Map<string, number>>();
  for (const [group, pk, offset] of more.committed ?? []) {
    const perGroup = committed.get(group) ?? new Map<string, number>();
    perGroup.set(pk, offset);
    committed.set(group, perGroup);
  }
  return {
    topics: new Map((more.topics ?? ['t']).map((name) => [name, { partitions: 1, cleanupPolicy: 'delete' }])),
    reads: new Map([
      ['a', warm],
      ['cold', cold],
    ]),
    committed,
    ...(more.storage ? { storage: more.storage } : {}),
  };
}

function options(
  topics: Record<string, TopicCheckOptions> = {},
  more: Partial<CheckOptions> = {},
): CheckOptions {
  return {
    faultsStoppedAt: QUIESCED - 1_000,
    quiescedAt: QUIESCED,
    topics: new Map(Object.entries(topics)),
    ...more,
  };
}

function names(violations: Violation[]): string[] {
  return [...new Set(violations.map((v) => v.invariant))];
}

function join(
  h: History,
  s: { at: number; member: string; generation: number; partitions: number[]; type?: 'join' | 'heartbeat' },
): Op {
  return add(h, {
    type: s.type ?? 'join',
    client: s.member,
    instance: 'a',
    invokedAt: s.at,
    completedAt: s.at + 1,
    outcome: 'ok',
    status: 200,
    group: 'g',
    memberId: s.member,
    topics: ['t'],
    generation: s.generation,
    assignments: s.partitions.map((partition) => ({ topic: 't', partition })),
  } as Omit<Op, 'id'>);
}

function commit(h: History, s: { at: number; member: string; generation: number; offset: number }): Op {
  return add(h, {
    type: 'commit',
    client: s.member,
    instance: 'a',
    invokedAt: s.at,
    completedAt: s.at + 1,
    outcome: 'ok',
    status: 204,
    group: 'g',
    memberId: s.member,
    generation: s.generation,
    offsets: [{ topic: 't', partition: 0, offset: s.offset }],
  } as Omit<Op, 'id'>);
}

function offsetsRead(h: History, at: number, offset: number): Op {
  return add(h, {
    type: 'offsets',
    client: 'admin',
    instance: 'a',
    invokedAt: at,
    completedAt: at + 1,
    outcome: 'ok',
    status: 200,
    group: 'g',
    committed: [{ topic: 't', partition: 0, offset }],
  } as Omit<Op, 'id'>);
}

function memberFetch(h: History, at: number, records: ReadRecord[]): Op {
  return add(h, {
    type: 'memberFetch',
    client: 'm1',
    instance: 'a',
    invokedAt: at,
    completedAt: at + 1,
    outcome: 'ok',
    status: 200,
    group: 'g',
    memberId: 'm1',
    commit: false,
    generation: 1,
    records: records.map((r) => ({ ...r, topic: 't' })),
  } as Omit<Op, 'id'>);
}

function admin(h: History, action: 'createTopic' | 'deleteTopic', at: number, end = at + 1): Op {
  return add(h, {
    type: 'admin',
    client: 'admin',
    instance: 'a',
    invokedAt: at,
    completedAt: end,
    outcome: 'ok',
    status: action === 'createTopic' ? 201 : 204,
    action,
    target: 't',
  } as Omit<Op, 'id'>);
}

// ---- The invariants ----------------------------------------------------------------------------------------

describe('acknowledged-not-lost', () => {
  it('holds when every acknowledged record is at its offset on every instance', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0 });
    expect(
      checkAcknowledgedNotLost(h, finalState({ 't/0': partitionRead(readOf(p, 0)) }), options()),
    ).toEqual([]);
  });

  it('breaks when an acknowledged record is missing from the cold instance', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0 });
    const final = finalState({ 't/0': partitionRead(readOf(p, 0)) }, { cold: { 't/0': partitionRead([]) } });
    const found = checkAcknowledgedNotLost(h, final, options());
    expect(names(found)).toEqual(['acknowledged-not-lost']);
    expect(found[0]?.message).toContain('cold');
  });

  it('breaks when the acknowledged offset holds another record', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0, n: 1 });
    const q = produce(h, 'r2', { at: 200, outcome: 'unknown', n: 1 });
    const final = finalState({ 't/0': partitionRead(readOf(q, 0)) });
    expect(names(checkAcknowledgedNotLost(h, final, options()))).toEqual(['acknowledged-not-lost']);
    expect(p.offsets).toHaveLength(1);
  });

  it('allows what retention, key compaction and a later deletion removed', () => {
    const h = new History();
    produce(h, 'old', { at: 100, base: 0, topic: 'ret' });
    produce(h, 'a1', { at: 100, base: 0, topic: 'cmp', keys: ['x', 'y'] });
    const a2 = produce(h, 'a2', { at: 200, base: 2, topic: 'cmp', keys: ['x', 'y'] });
    produce(h, 'gone', { at: 100, base: 0, topic: 'deleted' });
    Object.assign(admin(h, 'deleteTopic', 300), { target: 'deleted' });
    const final = finalState(
      { 'ret/0': partitionRead([], 2, 2), 'cmp/0': partitionRead(readOf(a2, 2), 4) },
      { topics: ['ret', 'cmp'] },
    );
    const opts = options({ ret: { retention: { retentionMs: 1 } }, cmp: { compacted: true } });
    expect(checkAcknowledgedNotLost(h, final, opts)).toEqual([]);
  });

  it("holds when a produce concurrent with its topic's deletion is acknowledged (either order is allowed)", () => {
    const h = new History();
    produce(h, 'late', { at: 100, end: 400, base: 0 });
    admin(h, 'deleteTopic', 200, 300);
    admin(h, 'createTopic', 350);
    expect(checkAcknowledgedNotLost(h, finalState({ 't/0': partitionRead([]) }), options())).toEqual([]);
  });
});

describe('acknowledged-not-lost across a deletion that stays', () => {
  it('breaks when a produce sent after the deletion of its topic answered is acknowledged', () => {
    const h = new History();
    admin(h, 'deleteTopic', 200, 300);
    produce(h, 'after', { at: 310, end: 400, base: 0 });
    produce(h, 'before', { at: 100, end: 150, base: 0 });
    const found = checkAcknowledgedNotLost(h, finalState({}, { topics: [] }), options());
    expect(found.map((v) => v.ops)).toEqual([[2]]);
    expect(found[0]?.message).toContain('deleted incarnation');
  });

  it('holds when the topic was created again before the produce answered', () => {
    const h = new History();
    admin(h, 'deleteTopic', 200, 300);
    admin(h, 'createTopic', 320, 330);
    const p = produce(h, 'after', { at: 310, end: 400, base: 0 });
    expect(
      checkAcknowledgedNotLost(h, finalState({ 't/0': partitionRead(readOf(p, 0)) }), options()),
    ).toEqual([]);
  });
});

describe('offsets-unique', () => {
  it('holds when each offset has one record and each record one offset', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0 });
    fetchOp(h, { at: 200, offset: 0, records: readOf(p, 0), hw: 2 });
    expect(checkOffsetsUnique(h, finalState({ 't/0': partitionRead(readOf(p, 0)) }), options())).toEqual([]);
  });

  it('breaks when a fetch saw another record at an offset than the final read holds', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0, n: 1 });
    const q = produce(h, 'r2', { at: 100, outcome: 'unknown', n: 1 });
    fetchOp(h, { at: 200, offset: 0, records: readOf(q, 0), hw: 1 });
    expect(
      names(checkOffsetsUnique(h, finalState({ 't/0': partitionRead(readOf(p, 0)) }), options())),
    ).toEqual(['offsets-unique']);
  });

  it('breaks when a single-attempt request appears at two offsets', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, outcome: 'unknown', n: 1 });
    const final = finalState({ 't/0': partitionRead([...readOf(p, 0), ...readOf(p, 1)]) });
    expect(names(checkOffsetsUnique(h, final, options()))).toEqual(['offsets-unique']);
  });

  it('allows a retried request without Idempotency-Key once per attempt that may have applied, not more', () => {
    const h = new History();
    const first = produce(h, 'r1', { at: 100, outcome: 'unknown', n: 1 });
    produce(h, 'r1', { at: 200, attempt: 2, base: 1, n: 1 });
    const twice = finalState({ 't/0': partitionRead([...readOf(first, 0), ...readOf(first, 1)]) });
    expect(checkOffsetsUnique(h, twice, options())).toEqual([]);
    const thrice = finalState({ 't/0': partitionRead([0, 1, 2].flatMap((o) => readOf(first, o))) });
    expect(names(checkOffsetsUnique(h, thrice, options()))).toEqual(['offsets-unique']);
  });
});

describe('offsets-dense', () => {
  it('holds for a dense partition whose high watermark covers every ack', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0, n: 3 });
    expect(checkOffsetsDense(h, finalState({ 't/0': partitionRead(readOf(p, 0)) }), options())).toEqual([]);
  });

  it('breaks on a gap below the high watermark', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, outcome: 'unknown', n: 3 });
    const records = readOf(p, 0).filter((r) => r.offset !== 1);
    expect(names(checkOffsetsDense(h, finalState({ 't/0': partitionRead(records, 3) }), options()))).toEqual([
      'offsets-dense',
    ]);
  });

  it('allows gaps on a key-compacted topic', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, outcome: 'unknown', n: 3 });
    const records = readOf(p, 0).filter((r) => r.offset !== 1);
    const final = finalState({ 't/0': partitionRead(records, 3) });
    expect(checkOffsetsDense(h, final, options({ t: { compacted: true } }))).toEqual([]);
  });

  it('breaks when the high watermark is at or below an acknowledged offset', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0, n: 3 });
    const final = finalState({ 't/0': partitionRead(readOf(p, 0).slice(0, 2)) });
    expect(names(checkOffsetsDense(h, final, options()))).toEqual(['offsets-dense']);
  });
});

describe('request-atomic', () => {
  it('holds when a request is wholly present or wholly absent', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, outcome: 'unknown', n: 3 });
    produce(h, 'r2', { at: 100, outcome: 'unknown', n: 3 });
    expect(checkRequestAtomic(h, finalState({ 't/0': partitionRead(readOf(p, 0)) }), options())).toEqual([]);
  });

  it('breaks when only part of a request is visible', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, outcome: 'unknown', n: 3 });
    const final = finalState({ 't/0': partitionRead(readOf(p, 0).slice(0, 2)) });
    expect(names(checkRequestAtomic(h, final, options()))).toEqual(['request-atomic']);
  });

  it('breaks when a request is not one contiguous run in request order', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, outcome: 'unknown', n: 2 });
    const q = produce(h, 'r2', { at: 100, outcome: 'unknown', n: 1 });
    const [a, b] = readOf(p, 0);
    const records = [a, { ...readOf(q, 1)[0] }, { ...b, offset: 2 }] as ReadRecord[];
    expect(names(checkRequestAtomic(h, finalState({ 't/0': partitionRead(records) }), options()))).toEqual([
      'request-atomic',
    ]);
  });

  it('breaks when a request spanning two partitions is visible on one only', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, outcome: 'unknown', n: 2 });
    const second = { partition: 1, key: 'k-r1-2', value: 'r1#2' };
    p.records.push(second);
    const final = finalState({ 't/0': partitionRead(readOf(p, 0).slice(0, 2)), 't/1': partitionRead([]) });
    expect(names(checkRequestAtomic(h, final, options()))).toEqual(['request-atomic']);
    const whole = finalState({
      't/0': partitionRead(readOf(p, 0).slice(0, 2)),
      't/1': partitionRead([{ ...second, offset: 0 }]),
    });
    expect(checkRequestAtomic(h, whole, options())).toEqual([]);
  });

  it('allows the records retention removed from the front of a run', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, outcome: 'unknown', n: 3 });
    const final = finalState({ 't/0': partitionRead(readOf(p, 0).slice(2), 3, 2) });
    expect(checkRequestAtomic(h, final, options({ t: { retention: { retentionMs: 1 } } }))).toEqual([]);
  });
});

describe('failed-not-applied', () => {
  it('holds when a request whose every attempt failed is nowhere', () => {
    const h = new History();
    produce(h, 'r1', { at: 100, outcome: 'fail' });
    produce(h, 'r1', { at: 200, outcome: 'fail', attempt: 2 });
    expect(checkFailedNotApplied(h, finalState({ 't/0': partitionRead([]) }), options())).toEqual([]);
  });

  it('breaks when a failed request shows in a read', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, outcome: 'fail', status: 413 });
    expect(
      names(checkFailedNotApplied(h, finalState({ 't/0': partitionRead(readOf(p, 0)) }), options())),
    ).toEqual(['failed-not-applied']);
  });
});

describe('idempotent-once', () => {
  it('holds when retries with one Idempotency-Key append once and replay the same offsets', () => {
    const h = new History();
    produce(h, 'r1', { at: 100, outcome: 'unknown', idem: 'K' });
    produce(h, 'r1', { at: 200, attempt: 2, idem: 'K', base: 0 });
    const p = produce(h, 'r1', { at: 300, attempt: 3, idem: 'K', base: 0 });
    expect(checkIdempotentOnce(h, finalState({ 't/0': partitionRead(readOf(p, 0)) }), options())).toEqual([]);
  });

  it('breaks when the same Idempotency-Key appended twice', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, outcome: 'unknown', idem: 'K' });
    produce(h, 'r1', { at: 200, attempt: 2, idem: 'K', base: 2 });
    const final = finalState({ 't/0': partitionRead([...readOf(p, 0), ...readOf(p, 2)]) });
    expect(names(checkIdempotentOnce(h, final, options()))).toEqual(['idempotent-once']);
  });

  it('breaks when two ok attempts report different offsets', () => {
    const h = new History();
    produce(h, 'r1', { at: 100, idem: 'K', base: 0 });
    produce(h, 'r1', { at: 200, attempt: 2, idem: 'K', base: 2 });
    expect(names(checkIdempotentOnce(h, finalState({ 't/0': partitionRead([]) }), options()))).toEqual([
      'idempotent-once',
    ]);
  });
});

describe('instances-agree', () => {
  it('holds when the warm and the cold instance read the same partition', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0 });
    expect(checkInstancesAgree(h, finalState({ 't/0': partitionRead(readOf(p, 0)) }), options())).toEqual([]);
  });

  it('breaks when the cold instance still serves a record the warm one compacted away', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0, keys: ['x', 'x'] });
    const final = finalState(
      { 't/0': partitionRead(readOf(p, 0).slice(1), 2) },
      { cold: { 't/0': partitionRead(readOf(p, 0), 2) } },
    );
    expect(names(checkInstancesAgree(h, final, options({ t: { compacted: true } })))).toEqual([
      'instances-agree',
    ]);
  });

  it('breaks when the high watermarks differ', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0 });
    const final = finalState(
      { 't/0': partitionRead(readOf(p, 0)) },
      { cold: { 't/0': partitionRead(readOf(p, 0), 3) } },
    );
    expect(names(checkInstancesAgree(h, final, options()))).toEqual(['instances-agree']);
  });
});

describe('reads-consistent', () => {
  it('holds for a fetch answering contiguous records below its high watermark', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0, n: 3 });
    fetchOp(h, { at: 200, offset: 1, records: readOf(p, 0).slice(1), hw: 3 });
    fetchOp(h, { at: 300, offset: 3, records: [], hw: 3 });
    expect(checkReadsConsistent(h, finalState({ 't/0': partitionRead(readOf(p, 0)) }), options())).toEqual(
      [],
    );
  });

  it('breaks when a fetch answers a record at or above its own high watermark', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0, n: 3 });
    fetchOp(h, { at: 200, offset: 0, records: readOf(p, 0), hw: 2 });
    expect(
      names(checkReadsConsistent(h, finalState({ 't/0': partitionRead(readOf(p, 0)) }), options())),
    ).toEqual(['reads-consistent']);
  });

  it('breaks when a fetch skips offsets or its nextOffset is off', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0, n: 3 });
    fetchOp(h, { at: 200, offset: 0, records: readOf(p, 0).slice(1), hw: 3 });
    fetchOp(h, { at: 300, offset: 0, records: readOf(p, 0), hw: 3, next: 5 });
    const found = checkReadsConsistent(h, finalState({ 't/0': partitionRead(readOf(p, 0)) }), options());
    expect(found.map((v) => v.invariant)).toEqual(['reads-consistent', 'reads-consistent']);
  });

  it('breaks when a fetch served a record the final log holds differently', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0, n: 1 });
    const q = produce(h, 'r2', { at: 100, outcome: 'unknown', n: 1 });
    fetchOp(h, { at: 200, offset: 0, records: readOf(q, 0), hw: 1 });
    expect(
      names(checkReadsConsistent(h, finalState({ 't/0': partitionRead(readOf(p, 0)) }), options())),
    ).toEqual(['reads-consistent']);
  });
});

describe('reads-see-acks', () => {
  it('holds when fetches after an ack see a high watermark above it, and concurrent ones may not', () => {
    const h = new History();
    produce(h, 'r1', { at: 100, end: 200, base: 0 });
    fetchOp(h, { at: 150, offset: 0, records: [], hw: 0 });
    fetchOp(h, { at: 300, offset: 2, records: [], hw: 2, client: 'r2' });
    expect(checkReadsSeeAcks(h, finalState({}), options())).toEqual([]);
  });

  it('breaks when a fetch invoked after the ack answers a high watermark at or below its offsets', () => {
    const h = new History();
    produce(h, 'r1', { at: 100, end: 200, base: 0 });
    fetchOp(h, { at: 300, offset: 0, records: [], hw: 1 });
    expect(names(checkReadsSeeAcks(h, finalState({}), options()))).toEqual(['reads-see-acks']);
  });

  it('does not compare a fetch of a re-created topic with acks of the deleted one', () => {
    const h = new History();
    produce(h, 'r1', { at: 100, end: 200, base: 0 });
    admin(h, 'deleteTopic', 300, 400);
    admin(h, 'createTopic', 500);
    fetchOp(h, { at: 600, offset: 0, records: [], hw: 0 });
    expect(checkReadsSeeAcks(h, finalState({}), options())).toEqual([]);
  });

  it("breaks when one client's high watermark goes backwards", () => {
    const h = new History();
    fetchOp(h, { at: 100, offset: 0, records: [], hw: 0, next: 0 });
    fetchOp(h, { at: 200, offset: 0, records: [], hw: 0 }).highWatermark = 5;
    fetchOp(h, { at: 300, offset: 0, records: [], hw: 3 });
    expect(names(checkReadsSeeAcks(h, finalState({}), options()))).toEqual(['reads-see-acks']);
  });
});

describe('group-single-owner', () => {
  it('holds when each generation gives a partition to one member', () => {
    const h = new History();
    join(h, { at: 100, member: 'm1', generation: 1, partitions: [0, 1] });
    join(h, { at: 200, member: 'm1', generation: 2, partitions: [0] });
    join(h, { at: 210, member: 'm2', generation: 2, partitions: [1], type: 'heartbeat' });
    expect(checkGroupSingleOwner(h, finalState({}), options())).toEqual([]);
  });

  it('breaks when two members own a partition in one generation', () => {
    const h = new History();
    join(h, { at: 100, member: 'm1', generation: 2, partitions: [0, 1] });
    join(h, { at: 200, member: 'm2', generation: 2, partitions: [1] });
    expect(names(checkGroupSingleOwner(h, finalState({}), options()))).toEqual(['group-single-owner']);
  });
});

describe('group-no-zombie-commit', () => {
  it('holds for commits of an owner, also from an older generation it has owned since', () => {
    const h = new History();
    join(h, { at: 100, member: 'm1', generation: 1, partitions: [0] });
    join(h, { at: 200, member: 'm1', generation: 2, partitions: [0], type: 'heartbeat' });
    commit(h, { at: 300, member: 'm1', generation: 1, offset: 5 });
    expect(checkGroupNoZombieCommit(h, finalState({}), options())).toEqual([]);
  });

  it('breaks when a commit is accepted from a member whose partition moved in a newer generation', () => {
    const h = new History();
    join(h, { at: 100, member: 'm1', generation: 1, partitions: [0] });
    join(h, { at: 200, member: 'm2', generation: 2, partitions: [0] });
    commit(h, { at: 300, member: 'm1', generation: 1, offset: 5 });
    expect(names(checkGroupNoZombieCommit(h, finalState({}), options()))).toEqual(['group-no-zombie-commit']);
  });

  it('breaks when an auto-commit (memberFetch commit=true) is accepted from a zombie', () => {
    const h = new History();
    join(h, { at: 100, member: 'm1', generation: 1, partitions: [0] });
    join(h, { at: 200, member: 'm2', generation: 2, partitions: [0] });
    const mf = memberFetch(h, 300, []) as Op & {
      commit: boolean;
      committing: unknown;
      cursorGeneration: number;
    };
    mf.commit = true;
    mf.committing = [{ topic: 't', partition: 0, offset: 3 }];
    mf.cursorGeneration = 1;
    expect(names(checkGroupNoZombieCommit(h, finalState({}), options()))).toEqual(['group-no-zombie-commit']);
  });
});

describe('group-commits-monotonic', () => {
  it('holds when committed offsets only grow, and reads overlapping a commit may see either', () => {
    const h = new History();
    offsetsRead(h, 100, 5);
    commit(h, { at: 150, member: 'm1', generation: 1, offset: 7 });
    offsetsRead(h, 151, 5); // concurrent with the commit
    offsetsRead(h, 300, 7);
    expect(
      checkGroupCommitsMonotonic(h, finalState({}, { committed: [['g', 't/0', 9]] }), options()),
    ).toEqual([]);
  });

  it('breaks when a later read shows a smaller committed offset', () => {
    const h = new History();
    offsetsRead(h, 100, 7);
    offsetsRead(h, 200, 5);
    expect(names(checkGroupCommitsMonotonic(h, finalState({}), options()))).toEqual([
      'group-commits-monotonic',
    ]);
  });

  it('breaks when the final committed offset is below an accepted commit', () => {
    const h = new History();
    commit(h, { at: 150, member: 'm1', generation: 1, offset: 7 });
    const final = finalState({}, { committed: [['g', 't/0', 4]] });
    expect(names(checkGroupCommitsMonotonic(h, final, options()))).toEqual(['group-commits-monotonic']);
  });
});

describe('group-at-least-once', () => {
  it('holds when every record below the committed offset was delivered', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0, n: 3 });
    memberFetch(h, 200, readOf(p, 0).slice(0, 2));
    const final = finalState({ 't/0': partitionRead(readOf(p, 0)) }, { committed: [['g', 't/0', 2]] });
    expect(checkGroupAtLeastOnce(h, final, options())).toEqual([]);
  });

  it('breaks when a record below the committed offset was never delivered', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0, n: 3 });
    memberFetch(h, 200, readOf(p, 0).slice(0, 1));
    const final = finalState({ 't/0': partitionRead(readOf(p, 0)) }, { committed: [['g', 't/0', 3]] });
    expect(names(checkGroupAtLeastOnce(h, final, options()))).toEqual(['group-at-least-once']);
  });

  it('uses the start offsets the scenario gives', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0, n: 3 });
    memberFetch(h, 200, readOf(p, 0).slice(2));
    const final = finalState({ 't/0': partitionRead(readOf(p, 0)) }, { committed: [['g', 't/0', 3]] });
    expect(checkGroupAtLeastOnce(h, final, options())).toEqual([]);
    const start = new Map([['g', new Map([['t/0', 0]])]]);
    expect(names(checkGroupAtLeastOnce(h, final, options({}, { groupStart: start })))).toEqual([
      'group-at-least-once',
    ]);
  });
});

describe('compaction-preserves', () => {
  it('holds when everything served during the run is still there', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, outcome: 'unknown', n: 3 });
    fetchOp(h, { at: 200, offset: 0, records: readOf(p, 0), hw: 3 });
    expect(
      checkCompactionPreserves(h, finalState({ 't/0': partitionRead(readOf(p, 0)) }), options()),
    ).toEqual([]);
  });

  it('breaks when a served record is gone (no retention)', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, outcome: 'unknown', n: 3 });
    fetchOp(h, { at: 200, offset: 0, records: readOf(p, 0), hw: 3 });
    const final = finalState({ 't/0': partitionRead(readOf(p, 0).slice(1), 3, 1) });
    expect(names(checkCompactionPreserves(h, final, options()))).toEqual(['compaction-preserves']);
  });

  it('allows what retention removed', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, outcome: 'unknown', n: 3 });
    fetchOp(h, { at: 200, offset: 0, records: readOf(p, 0), hw: 3 });
    const final = finalState({ 't/0': partitionRead(readOf(p, 0).slice(1), 3, 1) });
    expect(checkCompactionPreserves(h, final, options({ t: { retention: { retentionMs: 1 } } }))).toEqual([]);
  });
});

describe('key-compaction-latest', () => {
  const compacted = options({ t: { compacted: true } });

  it('holds when the latest record of each key is kept and only superseded ones are gone', () => {
    const h = new History();
    const a = produce(h, 'r1', { at: 100, base: 0, keys: ['x', 'y'] });
    const b = produce(h, 'r2', { at: 200, base: 2, keys: ['x', 'z'] });
    const records = [readOf(a, 0)[1], ...readOf(b, 2)] as ReadRecord[];
    expect(checkKeyCompactionLatest(h, finalState({ 't/0': partitionRead(records, 4) }), compacted)).toEqual(
      [],
    );
  });

  it('breaks when the latest record of a key is gone', () => {
    const h = new History();
    const a = produce(h, 'r1', { at: 100, base: 0, keys: ['x', 'y'] });
    produce(h, 'r2', { at: 200, base: 2, keys: ['x', 'z'] });
    const final = finalState({ 't/0': partitionRead(readOf(a, 0), 4) });
    expect(names(checkKeyCompactionLatest(h, final, compacted))).toEqual(['key-compaction-latest']);
  });

  it('breaks when a record with no later one of its key is gone', () => {
    const h = new History();
    const a = produce(h, 'r1', { at: 100, base: 0, keys: ['x', 'y'] });
    const final = finalState({ 't/0': partitionRead(readOf(a, 0).slice(1), 2) });
    expect(names(checkKeyCompactionLatest(h, final, compacted))).toEqual(['key-compaction-latest']);
  });

  it('lets a tombstone disappear after deleteRetentionMs', () => {
    const h = new History();
    produce(h, 'r1', { at: 100, base: 0, keys: ['x'], n: 1, tombstone: true });
    const final = finalState({ 't/0': partitionRead([], 1) });
    const opts = options({
      t: { compacted: true, tombstones: { deleteRetentionMs: 1_000, lastCompactionAt: 5_000 } },
    });
    expect(checkKeyCompactionLatest(h, final, opts)).toEqual([]);
    const early = options({
      t: { compacted: true, tombstones: { deleteRetentionMs: 1_000, lastCompactionAt: 500 } },
    });
    expect(names(checkKeyCompactionLatest(h, final, early))).toEqual(['key-compaction-latest']);
  });
});

describe('retention-exact', () => {
  it('holds when the log start passed only records older than the limit', () => {
    const h = new History();
    produce(h, 'r1', { at: 100, base: 0 });
    const p = produce(h, 'r2', { at: 9_000, base: 2 });
    const below = fetchOp(h, { at: 9_500, offset: 0, records: [], hw: 4, lso: 2 });
    Object.assign(below, { outcome: 'fail', status: 416, error: 'OFFSET_OUT_OF_RANGE' });
    const final = finalState({ 't/0': partitionRead(readOf(p, 2), 4, 2) });
    const opts = options({ t: { retention: { retentionMs: 5_000, lastPassAt: 10_000 } } });
    expect(checkRetentionExact(h, final, opts)).toEqual([]);
  });

  it('breaks when the log start passed a record younger than the limit', () => {
    const h = new History();
    produce(h, 'r1', { at: 100, base: 0 });
    const p = produce(h, 'r2', { at: 9_000, base: 2 });
    const final = finalState({ 't/0': partitionRead(readOf(p, 2).slice(1), 4, 3) });
    const opts = options({ t: { retention: { retentionMs: 5_000, lastPassAt: 10_000 } } });
    expect(names(checkRetentionExact(h, final, opts))).toEqual(['retention-exact']);
  });

  it('breaks when a fetch below the log start is answered 200', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0, n: 4 });
    fetchOp(h, { at: 9_500, offset: 0, records: readOf(p, 0).slice(2), hw: 4, lso: 2 });
    const final = finalState({ 't/0': partitionRead(readOf(p, 0).slice(2), 4, 2) });
    const opts = options({ t: { retention: { retentionMs: 5_000, lastPassAt: 10_000 } } });
    expect(names(checkRetentionExact(h, final, opts))).toEqual(['retention-exact']);
  });

  it('breaks when the log start of a topic without retention moved', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0, n: 4 });
    const final = finalState({ 't/0': partitionRead(readOf(p, 0).slice(2), 4, 2) });
    expect(names(checkRetentionExact(h, final, options()))).toEqual(['retention-exact']);
  });
});

describe('no-dangling-index', () => {
  it('holds when every final read succeeds and every referenced object exists', () => {
    const final = finalState(
      { 't/0': partitionRead([]) },
      { storage: { objects: ['s1'], referenced: ['s1'] } },
    );
    expect(checkNoDanglingIndex(new History(), final, options())).toEqual([]);
  });

  it('breaks when a final read fails', () => {
    const final = finalState({ 't/0': { ...partitionRead([]), error: '500 INTERNAL' } });
    expect(names(checkNoDanglingIndex(new History(), final, options()))).toEqual(['no-dangling-index']);
  });

  it('breaks when the index references a missing object', () => {
    const final = finalState({}, { storage: { objects: [], referenced: ['s1'] } });
    expect(names(checkNoDanglingIndex(new History(), final, options()))).toEqual(['no-dangling-index']);
  });
});

describe('no-leaked-objects', () => {
  it('holds when every object left is referenced', () => {
    const final = finalState({}, { storage: { objects: ['s1'], referenced: ['s1', 's2'] } });
    expect(checkNoLeakedObjects(new History(), final, options())).toEqual([]);
  });

  it('breaks when an unreferenced object survived GC', () => {
    const final = finalState({}, { storage: { objects: ['s1', 'orphan'], referenced: ['s1'] } });
    expect(names(checkNoLeakedObjects(new History(), final, options()))).toEqual(['no-leaked-objects']);
  });
});

describe('liveness', () => {
  it('holds when every op after quiescence completed ok or failed as expected; before it anything goes', () => {
    const h = new History();
    produce(h, 'r0', { at: 100, outcome: 'unknown' });
    produce(h, 'r1', { at: QUIESCED + 1, base: 0 });
    produce(h, 'r2', { at: QUIESCED + 2, outcome: 'fail', status: 404 });
    expect(checkLiveness(h, finalState({}), options({}, { expectedFailures: [404] }))).toEqual([]);
  });

  it('breaks when an op after quiescence is unknown, pending or an unexpected failure', () => {
    const h = new History();
    produce(h, 'r1', { at: QUIESCED + 1, outcome: 'unknown' });
    produce(h, 'r2', { at: QUIESCED + 2, outcome: 'fail', status: 409 });
    const pending = produce(h, 'r3', { at: QUIESCED + 3 });
    delete pending.outcome;
    delete pending.completedAt;
    const found = checkLiveness(h, finalState({}), options({}, { expectedFailures: [404] }));
    expect(found.map((v) => v.invariant)).toEqual(['liveness', 'liveness', 'liveness']);
  });

  it('breaks on lag when the scenario expects it to reach 0', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0 });
    const final = finalState({ 't/0': partitionRead(readOf(p, 0)) }, { committed: [['g', 't/0', 1]] });
    expect(names(checkLiveness(h, final, options({}, { expectZeroLag: true })))).toEqual(['liveness']);
  });
});

describe('incarnation-isolated', () => {
  it('holds when the re-created topic shows only what was produced after the deletion answered', () => {
    const h = new History();
    produce(h, 'old', { at: 100, base: 0 });
    admin(h, 'deleteTopic', 200, 300);
    admin(h, 'createTopic', 400);
    const fresh = produce(h, 'new', { at: 500, base: 0 });
    const final = finalState({ 't/0': partitionRead(readOf(fresh, 0)) });
    expect(checkHistory(h, final, options())).toEqual([]);
  });

  it('breaks when a record of the deleted incarnation shows through', () => {
    const h = new History();
    const old = produce(h, 'old', { at: 100, base: 0 });
    admin(h, 'deleteTopic', 200, 300);
    admin(h, 'createTopic', 400);
    const final = finalState({ 't/0': partitionRead(readOf(old, 0)) });
    expect(names(checkIncarnationIsolated(h, final, options()))).toEqual(['incarnation-isolated']);
  });
});

// ---- The whole ----------------------------------------------------------------------------------------------

describe('checkHistory', () => {
  it('finds nothing in a clean run touching every kind of op', () => {
    const h = new History();
    join(h, { at: 50, member: 'm1', generation: 1, partitions: [0] });
    const p = produce(h, 'r1', { at: 100, outcome: 'unknown', idem: 'K' });
    produce(h, 'r1', { at: 150, attempt: 2, idem: 'K', base: 0 });
    const q = produce(h, 'r2', { at: 200, base: 2 });
    fetchOp(h, { at: 300, offset: 0, records: [...readOf(p, 0), ...readOf(q, 2)], hw: 4 });
    memberFetch(h, 310, [...readOf(p, 0), ...readOf(q, 2)]);
    commit(h, { at: 320, member: 'm1', generation: 1, offset: 4 });
    offsetsRead(h, 400, 4);
    const final = finalState(
      { 't/0': partitionRead([...readOf(p, 0), ...readOf(q, 2)]) },
      { committed: [['g', 't/0', 4]], storage: { objects: ['s1'], referenced: ['s1'] } },
    );
    expect(checkHistory(h, final, options({}, { expectZeroLag: true }))).toEqual([]);
  });

  it('runs only the invariants asked for, and refuses an unknown name', () => {
    const h = new History();
    const p = produce(h, 'r1', { at: 100, base: 0 });
    const final = finalState({ 't/0': partitionRead(readOf(p, 0).slice(0, 1), 2) });
    expect(names(checkHistory(h, final, options()))).toEqual([
      'acknowledged-not-lost',
      'offsets-dense',
      'request-atomic',
    ]);
    expect(checkHistory(h, final, options({}, { invariants: ['liveness'] }))).toEqual([]);
    expect(() => checkHistory(h, final, options({}, { invariants: ['nope'] }))).toThrow(/unknown invariant/);
  });

  it('names exactly the documented invariants', () => {
    expect([...INVARIANTS.keys()]).toEqual([
      'acknowledged-not-lost',
      'offsets-unique',
      'offsets-dense',
      'request-atomic',
      'failed-not-applied',
      'idempotent-once',
      'instances-agree',
      'reads-consistent',
      'reads-see-acks',
      'group-single-owner',
      'group-no-zombie-commit',
      'group-commits-monotonic',
      'group-at-least-once',
      'compaction-preserves',
      'key-compaction-latest',
      'retention-exact',
      'no-dangling-index',
      'no-leaked-objects',
      'liveness',
      'incarnation-isolated',
    ]);
  });

  it('prints each violation with the history around it', () => {
    const h = new History();
    const now = Date.now();
    const p = produce(h, 'r1', { at: now, base: 0 });
    const found = checkAcknowledgedNotLost(h, finalState({ 't/0': partitionRead([]) }), options());
    const text = formatViolations(found, h);
    expect(text).toContain('acknowledged-not-lost ×2');
    expect(text).toContain(`#${p.id} c1@a produce t r1`);
    expect(formatViolations([], h)).toBe('no violations');
  });

  // About 2 s on an idle machine; the bound leaves room for a loaded CI runner.
  it('checks 100k records on two instances in seconds', { timeout: 60_000 }, () => {
    const h = new History();
    const records: ReadRecord[] = [];
    for (let i = 0; i < 10_000; i++) {
      const p = produce(h, `r${i}`, { at: 100 + i, base: i * 10, n: 10 });
      records.push(...readOf(p, i * 10));
      if (i % 10 === 0)
        fetchOp(h, { at: 101.5 + i, offset: i * 10, records: readOf(p, i * 10), hw: i * 10 + 10 });
    }
    const started = performance.now();
    const final = finalState({ 't/0': partitionRead(records) });
    const opts = options();
    expect(checkHistory(h, final, opts)).toEqual([]);
    expect(performance.now() - started).toBeLessThan(30_000);
  });
});
