import { createHash } from 'node:crypto';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

/**
 * The fault suite's only source of randomness. One run seed; every component (an instance's S3 faults, its
 * DynamoDB faults, its crash points, a proxy, a workload client) draws from its own stream `forkRng(seed,
 * name)`, so the decisions of one component do not shift when another makes more or fewer draws: the same
 * seed replays the same schedule for the same sequence of requests at each port.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [lo, hi] (both included). */
  int(lo: number, hi: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
}

/** A stream of its own for `name` under `seed` (xoroshiro128+, seeded from SHA-256 of both). */
export function forkRng(seed: number, name: string): Rng {
  const digest = createHash('sha256').update(`${seed}\u0000${name}`).digest();
  const generator = xoroshiro128plus(digest.readInt32LE(0));
  return {
    next: () => uniformFloat64(generator),
    int: (lo, hi) => uniformInt(generator, lo, hi),
    chance: (p) => p > 0 && uniformFloat64(generator) < p,
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[uniformInt(generator, 0, items.length - 1)] as T;
    },
  };
}

/** The run's seed: SLUICE_FAULT_SEED if set (to replay a run), else a fresh one. */
export function runSeed(): number {
  const given = process.env.SLUICE_FAULT_SEED?.trim();
  if (given) {
    const seed = Number(given);
    if (!Number.isSafeInteger(seed)) throw new Error(`SLUICE_FAULT_SEED must be an integer, got ${given}`);
    return seed;
  }
  return Math.floor(Math.random() * 2 ** 31);
}
