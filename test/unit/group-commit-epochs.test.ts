import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../lib/errors.js';
import { GroupCoordinator } from '../../lib/groups/coordinator.js';
import { MemoryGroupStore } from '../../lib/groups/memory-group-store.js';
import { DEFAULT_LIMITS } from '../../lib/limits.js';
import { DEFAULT_LOG_OPTIONS, Log } from '../../lib/log/log.js';
import { MemoryMetadataStore } from '../../lib/metadata/memory-metadata-store.js';
import { MemorySegmentStore } from '../../lib/storage/memory-segment-store.js';

/**
 * SPEC "Consumer groups": a commit from an older generation is accepted for the partitions the member has
 * owned without interruption since that generation (its assignment epoch); a partition that moved is FENCED.
 */
async function setup(partitions = 4) {
  const clock = { now: () => Date.now() };
  const log = new Log({
    store: new MemorySegmentStore(),
    metadata: new MemoryMetadataStore(),
    clock,
    limits: DEFAULT_LIMITS,
    options: { ...DEFAULT_LOG_OPTIONS, lingerMs: 0, pollIntervalMs: 20 },
  });
  await log.topics.create({ name: 't', partitions });
  for (let p = 0; p < partitions; p++) {
    await log.produce('t', { records: [0, 1, 2].map((n) => ({ partition: p, value: n })) });
  }
  const groups = new GroupCoordinator(new MemoryGroupStore(), log, clock, { initialRebalanceDelayMs: 0 });
  const join = (memberId: string) =>
    groups.join('g', { topics: ['t'], memberId, sessionTimeoutMs: 30_000, autoOffsetReset: 'earliest' });
  const commit = (memberId: string, generation: number, partitions: number[], offset = 2) =>
    groups.commit('g', {
      memberId,
      generation,
      offsets: partitions.map((partition) => ({ topic: 't', partition, offset })),
    });
  return { log, groups, join, commit };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (error instanceof SluiceError) return error.code;
    throw error;
  }
}

const partitionsOf = (assignments: Array<{ partition: number }>) => assignments.map((a) => a.partition);

describe('commits fenced by assignment epochs', () => {
  it('accepts a commit from an older generation for the partitions the member kept', async () => {
    const { join, commit, groups } = await setup();
    const a1 = await join('a');
    expect(partitionsOf(a1.assignments)).toEqual([0, 1, 2, 3]);
    const b2 = await join('b');
    expect(b2.generation).toBe(a1.generation + 1);
    const kept = partitionsOf((await groups.heartbeat('g', 'a')).assignments);
    const moved = partitionsOf(b2.assignments);
    expect(kept).toHaveLength(2);
    // a's records of generation 1, processed during the rebalance: the kept partitions commit.
    expect(await codeOf(commit('a', a1.generation, kept))).toBe('ok');
    const offsets = (await groups.describe('g')).offsets;
    for (const p of kept) expect(offsets[p]?.committedOffset).toBe(2);
    // The moved ones are b's now: a's commit of them from generation 1 is fenced, and changes nothing.
    expect(await codeOf(commit('a', a1.generation, moved))).toBe('FENCED');
    for (const p of moved) expect((await groups.describe('g')).offsets[p]?.committedOffset).toBeNull();
    // A request naming both: 409 FENCED for the moved one, and the kept one is committed (per partition).
    const both = [kept[0] as number, moved[0] as number];
    expect(await codeOf(commit('a', a1.generation, both, 3))).toBe('FENCED');
    expect((await groups.describe('g')).offsets[kept[0] as number]?.committedOffset).toBe(3);
    expect((await groups.describe('g')).offsets[moved[0] as number]?.committedOffset).toBeNull();
    expect(await codeOf(commit('b', b2.generation, moved))).toBe('ok');
  });

  it('fences a commit from a generation before the member acquired the partition', async () => {
    const { join, commit, groups } = await setup();
    await join('a');
    const b2 = await join('b');
    const before = partitionsOf((await groups.heartbeat('g', 'a')).assignments);
    await groups.leave('g', 'a'); // generation 3: b owns everything, a's partitions since 3
    expect(partitionsOf((await groups.heartbeat('g', 'b')).assignments)).toEqual([0, 1, 2, 3]);
    expect(await codeOf(commit('b', b2.generation, partitionsOf(b2.assignments)))).toBe('ok');
    expect(await codeOf(commit('b', b2.generation, before))).toBe('FENCED');
    expect(await codeOf(commit('b', b2.generation + 1, before))).toBe('ok');
  });

  it('gives a partition that moved away and back a new epoch', async () => {
    const { join, commit, groups } = await setup(2);
    const a1 = await join('a');
    const b2 = await join('b'); // a keeps one partition, b takes the other
    const taken = partitionsOf(b2.assignments);
    await groups.leave('g', 'b'); // generation 3: it comes back to a
    expect(partitionsOf((await groups.heartbeat('g', 'a')).assignments)).toEqual([0, 1]);
    expect(await codeOf(commit('a', a1.generation, taken))).toBe('FENCED');
    expect(await codeOf(commit('a', b2.generation + 1, taken))).toBe('ok');
  });

  it('fences a commit from a generation the group has not reached, and one by a non-member', async () => {
    const { join, commit } = await setup();
    const a1 = await join('a');
    expect(await codeOf(commit('a', a1.generation + 1, [0]))).toBe('FENCED');
    expect(await codeOf(commit('nobody', a1.generation, [0]))).toBe('UNKNOWN_MEMBER');
  });

  it('starts new epochs when the topic is re-created, even for partitions the member keeps', async () => {
    const { join, commit, log, groups } = await setup(2);
    const a1 = await join('a');
    await log.topics.delete('t');
    await log.topics.create({ name: 't', partitions: 2 });
    await log.produce('t', { records: [0, 1, 2].map((n) => ({ partition: 0, value: n })) });
    // The next call sees the new incarnation and starts a generation; a keeps both partitions.
    const a2 = await groups.heartbeat('g', 'a');
    expect(a2.generation).toBe(a1.generation + 1);
    expect(partitionsOf(a2.assignments)).toEqual([0, 1]);
    // Offsets read in the old incarnation never land in the new one.
    expect(await codeOf(commit('a', a1.generation, [0]))).toBe('FENCED');
    expect(await codeOf(commit('a', a2.generation, [0]))).toBe('ok');
  });
});
