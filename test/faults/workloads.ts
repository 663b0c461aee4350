import type { Client } from './client.js';
import type { MemberFetchOp, WrittenRecord } from './history.js';

/** Stops every workload of a run. */
export interface Stop {
  readonly stopped: boolean;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ProducerOptions {
  topic: string;
  partitions: number;
  /** Use an Idempotency-Key for every request, and retry unknown outcomes with it. */
  idempotent: boolean;
  /** Retries of an unknown outcome (with the same key if idempotent, as a new attempt otherwise). */
  maxAttempts?: number;
  /** Records per request: 1..maxRecords. */
  maxRecords?: number;
  /** The chance that a request spans several partitions (atomic multi-partition produce). */
  multiPartition?: number;
  /** Keys from a pool of this many (a compacted topic's workload); none when absent. */
  keys?: number;
  /** Only these partitions (a hot partition); all when absent. */
  onlyPartitions?: number[];
  /** Pause between requests. */
  pauseMs?: number;
}

/**
 * Produces until stopped. Each request's records carry values unique in the run (`<requestId>#<i>`); an
 * unknown outcome is retried (same Idempotency-Key when idempotent), a definite failure is not.
 */
export async function producer(client: Client, stop: Stop, options: ProducerOptions): Promise<void> {
  const rng = client.rng;
  let n = 0;
  while (!stop.stopped) {
    n += 1;
    const requestId = `${client.name}-${n}`;
    const count = rng.int(1, options.maxRecords ?? 4);
    const partitions = options.onlyPartitions ?? [...Array(options.partitions).keys()];
    const spread = rng.chance(options.multiPartition ?? 0);
    const first = rng.pick(partitions);
    const records: WrittenRecord[] = [];
    for (let i = 0; i < count; i++) {
      const partition = spread ? rng.pick(partitions) : first;
      const key = options.keys ? `k${rng.int(0, options.keys - 1)}` : null;
      records.push({ partition, key, value: `${requestId}#${i}` });
    }
    const idempotencyKey = options.idempotent ? `${requestId}-${client.cluster.seed}` : undefined;
    for (let attempt = 1; attempt <= (options.maxAttempts ?? 3); attempt++) {
      if (attempt > 1 && !options.idempotent && stop.stopped) break;
      const op = await client.produce(options.topic, records, {
        requestId,
        attempt,
        ...(idempotencyKey ? { idempotencyKey } : {}),
      });
      // 409 CONFLICT: the same key's first attempt is still running: retry shortly.
      const retry =
        op.outcome === 'unknown' || (op.outcome === 'fail' && op.status === 409 && idempotencyKey);
      if (!retry) break;
      await pause(rng.int(20, 200));
    }
    if (options.pauseMs) await pause(options.pauseMs);
  }
}

/** Reads every partition of a topic from the instances in turn, following each partition's nextOffset. */
export async function reader(
  client: Client,
  stop: Stop,
  options: { topic: string; partitions: number; pauseMs?: number },
): Promise<void> {
  const next = new Map<number, number>();
  while (!stop.stopped) {
    const partition = client.rng.int(0, options.partitions - 1);
    const offset = next.get(partition) ?? 0;
    const op = await client.fetch(options.topic, partition, offset, {
      maxRecords: client.rng.int(1, 300),
    });
    if (op.outcome === 'ok' && op.nextOffset !== undefined) next.set(partition, op.nextOffset);
    else if (op.status === 416 && op.logStartOffset !== undefined) {
      // Below the log start (retention), or above the end of a topic created again: start from its log start.
      next.set(partition, op.logStartOffset);
    }
    await pause(options.pauseMs ?? client.rng.int(5, 50));
  }
}

export interface MemberOptions {
  group: string;
  topic: string;
  memberId: string;
  sessionTimeoutMs?: number;
  /** The chance, per poll, of stalling past the session before committing (a paused consumer). */
  stallChance?: number;
}

/**
 * A consumer-group member that polls with commit-on-fetch, Kafka's auto-commit at the next poll; it
 * re-joins when it is unknown, heartbeats and fetches afresh after a rebalance, and commits explicitly what
 * it processed when a rebalance made its cursor stale.
 */
export async function member(client: Client, stop: Stop, options: MemberOptions): Promise<void> {
  const session = options.sessionTimeoutMs ?? 6_000;
  let generation: number | undefined;
  let cursor: string | undefined;
  let processed = new Map<string, number>();
  const committing = (): NonNullable<MemberFetchOp['committing']> =>
    [...processed].map(([tp, offset]) => {
      const slash = tp.lastIndexOf('/');
      return { topic: tp.slice(0, slash), partition: Number(tp.slice(slash + 1)), offset };
    });
  while (!stop.stopped) {
    if (generation === undefined) {
      const join = await client.join(options.group, options.memberId, [options.topic], {
        sessionTimeoutMs: session,
      });
      if (join.outcome !== 'ok') {
        await pause(200);
        continue;
      }
      generation = join.generation;
      cursor = undefined;
      processed = new Map();
    }
    if (options.stallChance && client.rng.chance(options.stallChance)) {
      // Paused past its session (a long GC, a slow handler): its partitions move; then it commits anyway.
      await pause(session + 1_500);
    }
    const { op, cursor: nextCursor } = await client.memberFetch(options.group, options.memberId, {
      ...(cursor ? { cursor, commit: true, committing: committing() } : {}),
      maxRecords: client.rng.int(1, 200),
      waitMs: 200,
    });
    if (op.outcome === 'ok') {
      cursor = nextCursor;
      for (const r of op.records ?? []) processed.set(`${r.topic}/${r.partition}`, r.offset + 1);
      continue;
    }
    if (op.status === 404) {
      generation = undefined;
      continue;
    }
    if (op.status === 409 && generation !== undefined) {
      // The cursor no longer applies: commit what was processed explicitly (kept partitions are accepted
      // from the older generation, moved ones are FENCED), then learn the new assignment.
      if (processed.size > 0) await client.commit(options.group, options.memberId, generation, committing());
      const beat = await client.heartbeat(options.group, options.memberId);
      if (beat.outcome === 'ok') generation = beat.generation;
      else if (beat.status === 404) generation = undefined;
      cursor = undefined;
      processed = new Map();
      continue;
    }
    await pause(100);
  }
}

/** Runs maintenance passes on instances at random: compaction (minAgeMs 0), retention, GC. */
export async function maintainer(
  client: Client,
  stop: Stop,
  options: { jobs: Array<'compact' | 'retention' | 'gc'>; pauseMs: [number, number]; duplicates?: number },
): Promise<void> {
  while (!stop.stopped) {
    await pause(client.rng.int(options.pauseMs[0], options.pauseMs[1]));
    if (stop.stopped) break;
    const job = client.rng.pick(options.jobs);
    const body = job === 'compact' ? { minAgeMs: 0 } : undefined;
    // A duplicate scheduled invocation: the same job on two instances at once.
    const copies = client.rng.chance(options.duplicates ?? 0) ? 2 : 1;
    await Promise.all(
      Array.from({ length: copies }, () =>
        client.admin('maintenance', job, body !== undefined ? { body } : {}),
      ),
    );
  }
}

/** Kills a random instance (`kill -9`) now and then; the cluster starts it again (a new cold process). */
export async function killer(
  client: Client,
  stop: Stop,
  options: { pauseMs: [number, number]; names: string[] },
): Promise<void> {
  while (!stop.stopped) {
    await pause(client.rng.int(options.pauseMs[0], options.pauseMs[1]));
    if (stop.stopped) break;
    client.cluster.kill(client.rng.pick(options.names));
  }
}
