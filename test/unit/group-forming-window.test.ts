import { describe, expect, it } from 'vitest';
import { GroupCoordinator } from '../../lib/groups/coordinator.js';
import { MemoryGroupStore } from '../../lib/groups/memory-group-store.js';
import { DEFAULT_LIMITS } from '../../lib/limits.js';
import { DEFAULT_LOG_OPTIONS, Log } from '../../lib/log/log.js';
import { MemoryMetadataStore } from '../../lib/metadata/memory-metadata-store.js';
import { MemorySegmentStore } from '../../lib/storage/memory-segment-store.js';

/**
 * Kafka's group.initial.rebalance.delay.ms: the join that takes a group from no live member to one opens a
 * forming window (`formingUntil` on the group state), in which member fetches hand out and claim nothing.
 */
async function setup(initialRebalanceDelayMs: number) {
  let time = 1_000_000;
  const clock = { now: () => time };
  const log = new Log({
    store: new MemorySegmentStore(),
    metadata: new MemoryMetadataStore(),
    clock,
    limits: DEFAULT_LIMITS,
    options: { ...DEFAULT_LOG_OPTIONS, lingerMs: 0, pollIntervalMs: 20 },
  });
  await log.topics.create({ name: 't', partitions: 2 });
  await log.produce('t', { records: [0, 1, 2, 3].map((n) => ({ partition: n % 2, value: n })) });
  const store = new MemoryGroupStore();
  const groups = new GroupCoordinator(store, log, clock, { initialRebalanceDelayMs });
  const join = (memberId: string) =>
    groups.join('g', { topics: ['t'], memberId, sessionTimeoutMs: 30_000, autoOffsetReset: 'earliest' });
  const fetch = (memberId: string, cursor?: string) =>
    groups.fetch('g', memberId, { cursor, maxRecords: 100, maxBytes: 1 << 20, waitMs: 0 });
  const advance = (ms: number) => {
    time += ms;
  };
  return { store, groups, join, fetch, advance, now: () => time };
}

const count = (result: { partitions: Array<{ records: unknown[] }> }) =>
  result.partitions.reduce((n, p) => n + p.records.length, 0);

describe('the forming window of a new group', () => {
  it('is set by the first join, hands out and claims nothing, and then ends', async () => {
    const { store, join, fetch, advance, now } = await setup(3_000);
    await join('a');
    expect((await store.getGroup('g'))?.formingUntil).toBe(now() + 3_000);

    const early = await fetch('a');
    expect(count(early)).toBe(0);
    // Nothing was claimed: no partition has an owner.
    expect((await store.listPartitions('g')).filter((p) => p.owner !== undefined)).toEqual([]);

    // A second join inside the window keeps the window's end.
    advance(1_000);
    await join('b');
    expect((await store.getGroup('g'))?.formingUntil).toBe(now() + 2_000);
    expect(count(await fetch('a', early.cursor))).toBe(0);

    advance(2_000);
    // The cursor answered in the window is valid after it, though the assignment changed meanwhile.
    const a = await fetch('a', early.cursor);
    const b = await fetch('b');
    expect(count(a) + count(b)).toBe(4);
    expect(count(a)).toBe(2);
  });

  it('is not opened again by a join into a group with live members, but is by one into an emptied group', async () => {
    const { store, groups, join, fetch, advance } = await setup(3_000);
    await join('a');
    advance(3_000);
    expect(count(await fetch('a'))).toBe(4);
    await join('b');
    expect(count(await fetch('b'))).toBe(2);
    await groups.leave('g', 'a');
    await groups.leave('g', 'b');
    await join('c');
    expect((await store.getGroup('g'))?.formingUntil).toBeGreaterThan(0);
    expect(count(await fetch('c'))).toBe(0);
  });

  it('does not exist with a delay of 0', async () => {
    const { store, join, fetch } = await setup(0);
    await join('a');
    expect((await store.getGroup('g'))?.formingUntil).toBeUndefined();
    expect(count(await fetch('a'))).toBe(4);
  });
});
