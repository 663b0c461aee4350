import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { makeDynamoClient, makeS3Client, testEndpoints } from '../support/env.js';
import { type CheckOptions, checkHistory, formatViolations, type TopicCheckOptions } from './checker.js';
import { Client } from './client.js';
import { type Backends, Cluster, type InstanceOptions } from './cluster/cluster.js';
import { type FinalState, History, type PartitionRead, type Violation } from './history.js';
import { forkRng, runSeed } from './rng.js';
import { member, type Stop } from './workloads.js';

/** The seed of this run of the suite: printed once; SLUICE_FAULT_SEED=<seed> replays it. */
export const SEED = runSeed();

export interface TopicSpec {
  name: string;
  partitions: number;
  config?: Record<string, unknown>;
}

export interface ScenarioContext {
  cluster: Cluster;
  history: History;
  /** A client of its own (its own stream of the seed) for each workload. */
  client(name: string): Client;
  stop: Stop;
}

export interface Scenario {
  name: string;
  /** How long the workloads run under faults. */
  durationMs: number;
  instances: Record<string, InstanceOptions>;
  topics: TopicSpec[];
  /** The workloads, started once the topics exist and faults are on. */
  workloads(ctx: ScenarioContext): Array<Promise<void>>;
  /** Consumer groups to drive to lag 0 after faults stop (liveness), with their members. */
  groups?: Array<{ group: string; topic: string; members: string[] }>;
  /** Passes to run once faults stopped, before the final reads (e.g. a last key compaction). */
  settle?: Array<'compact' | 'retention'>;
  /** Wait out GC's grace and check that no unreferenced object is left. */
  checkStorage?: boolean;
  /** What the checker allows per topic: key compaction ran on these; retention (the topic's retentionMs) on these. */
  check?: { compacted?: string[]; retention?: string[] };
  /** Run after the checks, with the run (scenario-specific assertions). */
  after?(run: ScenarioRun): void | Promise<void>;
}

export interface ScenarioRun {
  seed: number;
  history: History;
  final: FinalState;
  violations: Violation[];
  cluster: Cluster;
}

/** The emulators the suite's global setup started, with clients of the test process (destroy them). */
export function faultBackends(): Backends {
  const env = testEndpoints();
  return {
    dynamodbEndpoint: env.dynamodbEndpoint,
    s3Endpoint: env.s3Endpoint,
    region: env.region,
    s3: makeS3Client(env),
    dynamodb: makeDynamoClient(env),
  };
}

/** Test-sized bounds every instance gets (production's are minutes and hours). */
export const FAULT_DEFAULTS = {
  env: { SLUICE_GROUP_INITIAL_REBALANCE_DELAY_MS: '0', SLUICE_POLL_INTERVAL_MS: '50' },
  // GC's grace ≥ 2 × the commit deadline + the longest a started commit attempt can take to land: here
  // the longest injected hold (a TCP proxy blackhole releases what it held after ≤ 6 s), plus 2 s.
  maintenance: { gcGraceMs: 10_000, minAgeMs: 0 },
  log: { maxCommitDelayMs: 1_000, commitAttemptMarginMs: 8_000 },
};

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs a scenario: instances, topics, workloads under faults for `durationMs`; then every fault stops (dead
 * instances start again), every operation must complete (liveness), groups reach lag 0, maintenance settles,
 * and every instance — warm ones and a cold one started last — reads every partition whole. The checker
 * judges the history with that final state; a violation fails the test with the seed and the history around it.
 */
export async function runScenario(scenario: Scenario): Promise<ScenarioRun> {
  const seed = SEED;
  const history = new History();
  const backends = faultBackends();
  const cluster = await Cluster.create({
    seed: seed + hash(scenario.name),
    history,
    backends,
    name: scenario.name,
    defaults: FAULT_DEFAULTS,
  });
  const clients = new Map<string, Client>();
  const client = (name: string) => {
    let c = clients.get(name);
    if (!c) {
      c = new Client(name, cluster, history, forkRng(seed, `${scenario.name}/${name}`));
      clients.set(name, c);
    }
    return c;
  };
  try {
    // A working cluster first: instances without faults, the topics; then the scenario's faults.
    const names = Object.keys(scenario.instances).sort();
    await cluster.startTogether(
      names.map((name) => {
        const options = scenario.instances[name] as InstanceOptions;
        return [
          name,
          {
            ...options,
            faults: {},
            ...(options.proxy ? { proxy: {} } : {}),
            ...(options.front ? { front: {} } : {}),
          },
        ];
      }),
    );
    const admin = client('setup');
    for (const topic of scenario.topics) {
      const op = await admin.admin('createTopic', topic.name, {
        body: {
          name: topic.name,
          partitions: topic.partitions,
          ...(topic.config ? { config: topic.config } : {}),
        },
      });
      if (op.outcome !== 'ok') throw new Error(`creating ${topic.name}: ${op.status} ${op.error}`);
    }
    for (const name of names) {
      const options = scenario.instances[name] as InstanceOptions;
      cluster.setFaults(name, options.faults ?? {}, {
        ...options.proxy,
        ...(options.front ? { front: options.front } : {}),
      });
    }

    const stop = { stopped: false };
    const ctx: ScenarioContext = { cluster, history, client, stop };
    const running = scenario.workloads(ctx).map((p) => p.catch((error: unknown) => error));
    await pause(scenario.durationMs);
    stop.stopped = true;
    const failures = (await Promise.all(running)).filter((r) => r !== undefined);
    if (failures.length > 0) throw failures[0];

    // Faults stop; every instance serves again.
    const faultsStoppedAt = Date.now();
    await cluster.heal();
    const quiescedAt = Date.now();
    await liveness(cluster, client('liveness'), scenario);

    for (const job of scenario.settle ?? []) {
      const op = await admin.admin('maintenance', job, job === 'compact' ? { body: { minAgeMs: 0 } } : {});
      if (op.outcome !== 'ok') throw new Error(`settling ${job}: ${op.status} ${op.error}`);
    }
    let storage: FinalState['storage'];
    if (scenario.checkStorage) {
      // A candidate is marked by one pass and deleted by the first pass at least the grace later.
      const grace = FAULT_DEFAULTS.maintenance.gcGraceMs;
      for (let pass = 0; pass < 2; pass++) {
        const op = await admin.admin('maintenance', 'gc');
        if (op.outcome !== 'ok') throw new Error(`gc: ${op.status} ${op.error}`);
        if (pass === 0) await pause(grace + 500);
      }
      storage = await cluster.storage();
    }

    // A cold instance, started last, reads alongside the warm ones.
    const firstOptions = scenario.instances[names[0] as string] as InstanceOptions;
    await cluster.start('cold', { mode: firstOptions.mode === 'agent' ? 'lambda' : 'agent' });
    const final = await readFinalState(cluster, client('final'), scenario);
    if (storage) final.storage = storage;
    process.stderr.write(`[faults] ${scenario.name} (seed ${seed}): ${summarize(history)}\n`);
    // SLUICE_FAULT_DUMP=<dir>: the whole history as JSON, to study a run.
    const dump = process.env.SLUICE_FAULT_DUMP;
    if (dump) {
      await mkdir(dump, { recursive: true });
      await writeFile(
        join(dump, `${scenario.name}-${seed}.json`),
        JSON.stringify({ seed, ops: history.ops, faults: history.faults }, null, 1),
      );
    }
    const violations = checkHistory(history, final, checkOptions(scenario, faultsStoppedAt, quiescedAt));
    const run = { seed, history, final, violations, cluster };
    if (violations.length > 0) {
      const report = formatViolations(violations, history);
      throw new Error(
        `scenario ${scenario.name} broke ${violations.length} invariant(s) — replay with SLUICE_FAULT_SEED=${seed}\n${report}`,
      );
    }
    await scenario.after?.(run);
    return run;
  } finally {
    await cluster.close();
    backends.s3.destroy();
    backends.dynamodb.destroy();
  }
}

function checkOptions(scenario: Scenario, faultsStoppedAt: number, quiescedAt: number): CheckOptions {
  const topics = new Map<string, TopicCheckOptions>();
  for (const topic of scenario.topics) {
    const options: TopicCheckOptions = {};
    if (scenario.check?.compacted?.includes(topic.name)) options.compacted = true;
    const retentionMs = topic.config?.retentionMs;
    if (scenario.check?.retention?.includes(topic.name) && typeof retentionMs === 'number') {
      options.retention = { retentionMs };
    }
    topics.set(topic.name, options);
  }
  const skews = Object.values(scenario.instances).map((i) => Math.abs(i.clockSkewMs ?? 0));
  return {
    topics,
    faultsStoppedAt,
    quiescedAt,
    clockSkewMs: Math.max(0, ...skews),
    // The group protocol's own answers while members rebalance after faults stopped: definite, expected.
    expectedFailures: ['REBALANCE_IN_PROGRESS', 'FENCED', 'UNKNOWN_MEMBER'],
  };
}

/** After faults stopped: an acknowledged write on every instance, and every group at lag 0. */
async function liveness(cluster: Cluster, client: Client, scenario: Scenario): Promise<void> {
  for (const instance of cluster.alive()) {
    for (const topic of scenario.topics) {
      const requestId = `liveness-${instance.name}-${topic.name}`;
      const op = await client.produce(topic.name, [{ partition: 0, key: null, value: `${requestId}#0` }], {
        requestId,
        attempt: 1,
        idempotencyKey: `${requestId}-${cluster.seed}`,
        instance,
      });
      expect(
        op.outcome,
        `liveness: produce on ${instance.name} after faults stopped: ${op.status} ${op.error}`,
      ).toBe('ok');
    }
  }
  for (const g of scenario.groups ?? []) {
    const stop = { stopped: false };
    const members = g.members.map((memberId) =>
      member(
        new Client(`live-${memberId}`, cluster, client.history, forkRng(cluster.seed, `live/${memberId}`)),
        stop,
        {
          group: g.group,
          topic: g.topic,
          memberId,
        },
      ),
    );
    const deadline = Date.now() + 45_000;
    let caughtUp = false;
    while (Date.now() < deadline && !caughtUp) {
      await pause(1_000);
      caughtUp = await lagIsZero(client, g.group);
    }
    stop.stopped = true;
    await Promise.all(members);
    expect(caughtUp, `liveness: group ${g.group} reached lag 0 after faults stopped`).toBe(true);
  }
}

async function lagIsZero(client: Client, group: string): Promise<boolean> {
  const answer = await client.call(await client.instance(), 'GET', `/v1/groups/${encodeURIComponent(group)}`);
  if (answer.outcome !== 'ok') return false;
  const offsets = (answer.json?.offsets ?? []) as Array<{ lag: number | null; highWatermark: number }>;
  return offsets.length > 0 && offsets.every((o) => o.highWatermark === 0 || o.lag === 0);
}

/** Every partition of every topic, read whole by every live instance; the groups' committed offsets. */
async function readFinalState(cluster: Cluster, client: Client, scenario: Scenario): Promise<FinalState> {
  const final: FinalState = { topics: new Map(), reads: new Map(), committed: new Map() };
  for (const topic of scenario.topics) {
    const answer = await client.call(
      await client.instance(),
      'GET',
      `/v1/topics/${encodeURIComponent(topic.name)}`,
    );
    if (answer.outcome !== 'ok') continue;
    final.topics.set(topic.name, {
      partitions: answer.json.partitions,
      cleanupPolicy: answer.json.config?.cleanupPolicy ?? 'delete',
      ...(typeof answer.json.config?.retentionMs === 'number'
        ? { retentionMs: answer.json.config.retentionMs }
        : {}),
    });
  }
  for (const instance of cluster.alive()) {
    const reads = new Map<string, PartitionRead>();
    for (const [name, topic] of final.topics) {
      for (let p = 0; p < topic.partitions; p++) {
        reads.set(`${name}/${p}`, await readPartition(client, cluster, instance.name, name, p));
      }
    }
    final.reads.set(instance.name, reads);
  }
  for (const g of scenario.groups ?? []) {
    const op = await client.offsets(g.group);
    final.committed.set(
      g.group,
      new Map((op.committed ?? []).map((o) => [`${o.topic}/${o.partition}`, o.offset] as const)),
    );
  }
  return final;
}

async function readPartition(
  client: Client,
  cluster: Cluster,
  instanceName: string,
  topic: string,
  partition: number,
): Promise<PartitionRead> {
  const instance = cluster.instances.get(instanceName);
  if (!instance) throw new Error(`no instance ${instanceName}`);
  const bounds = await client.call(instance, 'GET', `/v1/topics/${encodeURIComponent(topic)}/partitions`);
  if (bounds.outcome !== 'ok') {
    return {
      logStartOffset: 0,
      highWatermark: 0,
      records: [],
      error: `partitions: ${bounds.status} ${bounds.error}`,
    };
  }
  const info = (
    bounds.json.partitions as Array<{ partition: number; logStartOffset: number; highWatermark: number }>
  ).find((x) => x.partition === partition);
  const read: PartitionRead = {
    logStartOffset: info?.logStartOffset ?? 0,
    highWatermark: info?.highWatermark ?? 0,
    records: [],
  };
  let offset = read.logStartOffset;
  while (offset < read.highWatermark) {
    const op = await client.fetch(topic, partition, offset, { maxRecords: 10_000, instance });
    if (op.outcome !== 'ok' || op.nextOffset === undefined) {
      read.error = `fetch at ${offset}: ${op.status} ${op.error}`;
      break;
    }
    read.records.push(...(op.records ?? []));
    if (op.nextOffset <= offset) break;
    offset = op.nextOffset;
  }
  return read;
}

/** Operations by type and outcome, and faults by kind: what a run exercised. */
export function summarize(history: History): string {
  const ops = new Map<string, number>();
  for (const op of history.ops) {
    const key = `${op.type} ${op.outcome ?? 'pending'}${op.outcome === 'ok' ? '' : ` ${op.status ?? op.error ?? ''}`}`;
    ops.set(key, (ops.get(key) ?? 0) + 1);
  }
  const faults = new Map<string, number>();
  for (const f of history.faults) {
    const kind = f.what
      .replace(/\d+ ?ms/, 'n ms')
      .replace(/^(s3|dynamodb) \S+: /, '$1: ')
      .replace(/conn \d+ (up \d+ |down \d+ )?/, '');
    faults.set(kind, (faults.get(kind) ?? 0) + 1);
  }
  const list = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
  return `${history.ops.length} ops (${list(ops)}); ${history.faults.length} faults (${list(faults) || 'none'})`;
}

function hash(text: string): number {
  let h = 0;
  for (const c of text) h = (h * 31 + (c.codePointAt(0) ?? 0)) | 0;
  return Math.abs(h);
}
