import { CRASH_POINTS } from '../../lib/crash-points.js';
import type { InstanceOptions } from './cluster/cluster.js';
import type { SdkFaultProfile } from './cluster/sdk-faults.js';
import type { FaultProfile as ProxyFaults } from './cluster/tcp-proxy.js';
import type { Scenario, ScenarioContext } from './run.js';
import { killer, maintainer, member, producer, reader } from './workloads.js';

/**
 * The fault suite's scenarios (docs/ARCHITECTURE.md §12): each runs agent- and Lambda-mode instances on
 * shared emulators under one kind of fault, then the checker judges the history. Durations are short
 * (the whole catalog must run in ≤ 10 minutes on 2 cores); the seed varies what each run exercises.
 */

const S = 1_000;

/** Two agents and one Lambda-shaped instance, with the same options. */
function trio(options: Omit<InstanceOptions, 'mode'> = {}): Record<string, InstanceOptions> {
  return {
    a1: { mode: 'agent', ...options },
    a2: { mode: 'agent', ...options },
    l1: { mode: 'lambda', ...options },
  };
}

const TOPIC = { name: 'events', partitions: 4 };
const GROUP = { group: 'billing', topic: 'events', members: ['m1', 'm2', 'm3'] };

/** Producers (idempotent and not), readers, and a three-member group on `events`. */
function traffic(
  ctx: ScenarioContext,
  options: { members?: boolean; writers?: number } = {},
): Array<Promise<void>> {
  const work: Array<Promise<void>> = [];
  const writers = options.writers ?? 3;
  for (let i = 0; i < writers; i++) {
    work.push(
      producer(ctx.client(`p${i}`), ctx.stop, {
        topic: TOPIC.name,
        partitions: TOPIC.partitions,
        idempotent: i % 3 !== 2,
        multiPartition: 0.3,
        pauseMs: 20,
      }),
    );
  }
  work.push(reader(ctx.client('r1'), ctx.stop, { topic: TOPIC.name, partitions: TOPIC.partitions }));
  if (options.members !== false) {
    for (const memberId of GROUP.members) {
      work.push(member(ctx.client(memberId), ctx.stop, { group: GROUP.group, topic: TOPIC.name, memberId }));
    }
  }
  return work;
}

const COMMIT_COMMANDS = ['PutItemCommand', 'TransactWriteItemsCommand'];
const MIXED_SDK: SdkFaultProfile = {
  definite: 0.03,
  ambiguous: 0.03,
  throttle: 0.03,
  serverError: 0.02,
  latency: 0.1,
  latencyMs: [5, 150],
};

export const CATALOG: Scenario[] = [
  {
    name: 'clean-baseline',
    durationMs: 15 * S,
    instances: trio(),
    topics: [TOPIC],
    groups: [GROUP],
    checkStorage: true,
    workloads: (ctx) => [
      ...traffic(ctx),
      maintainer(ctx.client('maint'), ctx.stop, {
        jobs: ['compact', 'retention', 'gc'],
        pauseMs: [1_500, 3_000],
      }),
    ],
  },
  {
    name: 'crash-after-s3-put',
    durationMs: 20 * S,
    instances: trio({ faults: { crash: { 'produce.afterSegmentPut': 0.04 } } }),
    topics: [TOPIC],
    groups: [GROUP],
    checkStorage: true,
    workloads: (ctx) => traffic(ctx, { members: false }),
  },
  {
    name: 'lost-commit-response',
    durationMs: 20 * S,
    instances: trio({
      faults: { dynamodb: { ambiguous: 0.2, serverError: 0.05, commands: COMMIT_COMMANDS } },
      // And at the TCP level: any DynamoDB answer may be dropped after the request was applied.
      proxy: { dynamodb: { dropChance: 0.04, resetChance: 0.01, delayChance: 0.1, delayMs: [5, 200] } },
    }),
    topics: [TOPIC],
    groups: [GROUP],
    workloads: (ctx) => traffic(ctx),
  },
  {
    name: 'lost-http-response-with-retries',
    durationMs: 20 * S,
    instances: trio({ front: { dropChance: 0.15, resetChance: 0.01 } }),
    topics: [TOPIC],
    groups: [GROUP],
    workloads: (ctx) => traffic(ctx),
  },
  {
    name: 'hot-partition-throttled',
    durationMs: 20 * S,
    instances: trio({ faults: { dynamodb: { throttle: 0.1, latency: 0.2, latencyMs: [5, 80] } } }),
    topics: [TOPIC],
    workloads: (ctx) =>
      Array.from({ length: 8 }, (_, i) =>
        producer(ctx.client(`hot${i}`), ctx.stop, {
          topic: TOPIC.name,
          partitions: TOPIC.partitions,
          idempotent: i % 2 === 0,
          onlyPartitions: [0],
        }),
      ),
  },
  {
    name: 'consumer-paused-past-session',
    durationMs: 25 * S,
    instances: trio(),
    topics: [TOPIC],
    groups: [GROUP],
    workloads: (ctx) => [
      ...traffic(ctx, { members: false }),
      ...GROUP.members.map((memberId) =>
        member(ctx.client(memberId), ctx.stop, {
          group: GROUP.group,
          topic: TOPIC.name,
          memberId,
          sessionTimeoutMs: 2_000,
          stallChance: 0.08,
        }),
      ),
    ],
  },
  {
    name: 'clock-skew-on-leases',
    durationMs: 20 * S,
    instances: {
      a1: { mode: 'agent', clockSkewMs: 5_000 },
      a2: { mode: 'agent', clockSkewMs: -5_000 },
      l1: { mode: 'lambda', clockSkewMs: 0 },
    },
    topics: [TOPIC],
    groups: [GROUP],
    workloads: (ctx) => [
      ...traffic(ctx),
      maintainer(ctx.client('maint'), ctx.stop, { jobs: ['compact', 'retention'], pauseMs: [2_000, 4_000] }),
    ],
  },
  {
    name: 'compactor-crashes-at-each-step',
    durationMs: 20 * S,
    instances: trio({
      faults: {
        crash: {
          'index.afterObjectWritten': 0.25,
          'index.afterEntries': 0.25,
          'compact.afterObjectWritten': 0.25,
          'compact.afterSwap': 0.25,
          'keyCompact.afterObjectWritten': 0.25,
          'keyCompact.afterSwap': 0.25,
          'retention.afterLogStart': 0.2,
          'retention.betweenDeletes': 0.2,
          'gc.afterMark': 0.2,
          'gc.betweenDeletes': 0.2,
          'gc.afterDelete': 0.2,
        },
      },
    }),
    topics: [TOPIC, { name: 'accounts', partitions: 2, config: { cleanupPolicy: 'compact' } }],
    checkStorage: true,
    settle: ['compact'],
    check: { compacted: ['accounts'] },
    workloads: (ctx) => [
      ...traffic(ctx, { members: false, writers: 2 }),
      producer(ctx.client('keyed'), ctx.stop, {
        topic: 'accounts',
        partitions: 2,
        idempotent: true,
        keys: 12,
        pauseMs: 30,
      }),
      maintainer(ctx.client('maint'), ctx.stop, {
        jobs: ['compact', 'compact', 'gc'],
        pauseMs: [300, 1_000],
      }),
    ],
  },
  {
    name: 'maintenance-races-traffic',
    durationMs: 25 * S,
    instances: trio({ faults: { dynamodb: { latency: 0.2, latencyMs: [5, 60] } } }),
    topics: [
      TOPIC,
      { name: 'accounts', partitions: 2, config: { cleanupPolicy: 'compact' } },
      { name: 'clicks', partitions: 2, config: { retentionMs: 6_000 } },
    ],
    groups: [GROUP],
    checkStorage: true,
    settle: ['compact', 'retention'],
    check: { compacted: ['accounts'], retention: ['clicks'] },
    workloads: (ctx) => [
      ...traffic(ctx),
      producer(ctx.client('keyed'), ctx.stop, {
        topic: 'accounts',
        partitions: 2,
        idempotent: true,
        keys: 10,
      }),
      producer(ctx.client('clicks'), ctx.stop, {
        topic: 'clicks',
        partitions: 2,
        idempotent: false,
        pauseMs: 30,
      }),
      reader(ctx.client('r-clicks'), ctx.stop, { topic: 'clicks', partitions: 2 }),
      reader(ctx.client('r-accounts'), ctx.stop, { topic: 'accounts', partitions: 2 }),
      maintainer(ctx.client('maint'), ctx.stop, {
        jobs: ['compact', 'retention', 'gc'],
        pauseMs: [200, 800],
      }),
    ],
  },
  {
    name: 'duplicate-scheduled-jobs',
    durationMs: 20 * S,
    instances: trio(),
    topics: [TOPIC, { name: 'accounts', partitions: 2, config: { cleanupPolicy: 'compact' } }],
    checkStorage: true,
    settle: ['compact'],
    check: { compacted: ['accounts'] },
    workloads: (ctx) => [
      ...traffic(ctx, { members: false }),
      producer(ctx.client('keyed'), ctx.stop, {
        topic: 'accounts',
        partitions: 2,
        idempotent: true,
        keys: 8,
      }),
      maintainer(ctx.client('maint'), ctx.stop, {
        jobs: ['compact', 'retention', 'gc'],
        pauseMs: [300, 900],
        duplicates: 1,
      }),
    ],
  },
  {
    name: 'kill-9-mid-burst',
    durationMs: 25 * S,
    instances: trio(),
    topics: [TOPIC],
    groups: [GROUP],
    checkStorage: true,
    workloads: (ctx) => [
      ...traffic(ctx, { writers: 4 }),
      killer(ctx.client('killer'), ctx.stop, { pauseMs: [2_000, 5_000], names: ['a1', 'a2', 'l1'] }),
    ],
  },
  {
    name: 'stalled-commit-past-gc-grace',
    durationMs: 35 * S,
    instances: {
      a1: { mode: 'agent', proxy: {} },
      a2: { mode: 'agent' },
      l1: { mode: 'lambda' },
    },
    topics: [TOPIC],
    checkStorage: true,
    workloads: (ctx) => [
      ...traffic(ctx, { members: false }),
      partitionFromDynamoDb(ctx, 'a1'),
      maintainer(ctx.client('maint'), ctx.stop, { jobs: ['gc'], pauseMs: [200, 500] }),
    ],
  },
  {
    name: 'topic-deleted-and-recreated',
    durationMs: 25 * S,
    instances: trio(),
    topics: [TOPIC],
    workloads: (ctx) => [...traffic(ctx, { members: false }), recreator(ctx, TOPIC.name, TOPIC.partitions)],
  },
  {
    name: 'rotating-random-mix',
    durationMs: 30 * S,
    instances: trio({ faults: { s3: MIXED_SDK, dynamodb: MIXED_SDK }, proxy: {} }),
    topics: [TOPIC, { name: 'accounts', partitions: 2, config: { cleanupPolicy: 'compact' } }],
    groups: [GROUP],
    checkStorage: true,
    settle: ['compact'],
    check: { compacted: ['accounts'] },
    workloads: (ctx) => [
      ...traffic(ctx),
      producer(ctx.client('keyed'), ctx.stop, {
        topic: 'accounts',
        partitions: 2,
        idempotent: true,
        keys: 10,
      }),
      maintainer(ctx.client('maint'), ctx.stop, {
        jobs: ['compact', 'retention', 'gc'],
        pauseMs: [500, 1_500],
      }),
      rotate(ctx),
    ],
  },
];

/**
 * Cuts one instance off from DynamoDB for longer than GC's grace while GC runs on the others: either wholly
 * (its proxy answers nothing) or for its commits only (they stall and time out, while its topic reads still
 * work). Its produces must not be acknowledged once their objects may have been collected.
 */
async function partitionFromDynamoDb(ctx: ScenarioContext, name: string): Promise<void> {
  const rng = ctx.client(`cut-${name}`).rng;
  while (!ctx.stop.stopped) {
    await sleep(rng.int(2_000, 4_000));
    if (ctx.stop.stopped) break;
    const whole = rng.chance(0.5);
    ctx.history.fault(name, whole ? 'dynamodb unreachable' : 'dynamodb commits stall');
    if (whole) ctx.cluster.setFaults(name, {}, { dynamodb: { blackhole: true } });
    else ctx.cluster.setFaults(name, { dynamodb: { stall: 1, commands: COMMIT_COMMANDS } });
    // Longer than GC's grace: a commit retried past it would reference an object GC may have deleted.
    await sleep(rng.int(14_000, 16_000));
    // What was in flight is lost (the SDK timed those requests out), not delivered late.
    ctx.cluster.cut(name, 'dynamodb');
    ctx.cluster.setFaults(name, {}, { dynamodb: {} });
    ctx.history.fault(name, 'dynamodb reachable');
  }
}

/**
 * Deletes the topic and creates it again now and then (on instances at random), and after each re-creation
 * sends again, with the same Idempotency-Key and body, a request the previous incarnation acknowledged: the
 * retry must append to the new incarnation, never replay the old answer.
 */
async function recreator(ctx: ScenarioContext, topic: string, partitions: number): Promise<void> {
  const client = ctx.client('recreator');
  let n = 0;
  while (!ctx.stop.stopped) {
    await sleep(client.rng.int(3_000, 6_000));
    if (ctx.stop.stopped) break;
    // A request of this incarnation, acknowledged before the delete.
    n += 1;
    const requestId = `again-${n}`;
    const records = [{ partition: client.rng.int(0, partitions - 1), key: null, value: `${requestId}#0` }];
    const idempotencyKey = `${requestId}-${ctx.cluster.seed}`;
    const first = await client.produce(topic, records, { requestId, attempt: 1, idempotencyKey });
    const deleted = await client.admin('deleteTopic', topic);
    if (deleted.outcome !== 'ok') continue;
    await sleep(client.rng.int(0, 1_500));
    let created = await client.admin('createTopic', topic, { body: { name: topic, partitions } });
    while (created.outcome !== 'ok' && !ctx.stop.stopped) {
      await sleep(200);
      created = await client.admin('createTopic', topic, { body: { name: topic, partitions } });
    }
    if (first.outcome === 'ok') {
      for (let attempt = 2; attempt <= 4; attempt++) {
        const again = await client.produce(topic, records, { requestId, attempt, idempotencyKey });
        if (again.outcome === 'ok' || again.outcome === 'fail') break;
      }
    }
  }
}

/** Every few seconds each instance gets a new fault profile, drawn from the run's stream. */
async function rotate(ctx: ScenarioContext): Promise<void> {
  const rng = ctx.client('rotate').rng;
  while (!ctx.stop.stopped) {
    await sleep(rng.int(3_000, 6_000));
    if (ctx.stop.stopped) break;
    for (const name of ['a1', 'a2', 'l1']) {
      const sdk = (): SdkFaultProfile => ({
        definite: rng.pick([0, 0.02, 0.08]),
        ambiguous: rng.pick([0, 0.02, 0.08]),
        throttle: rng.pick([0, 0.05]),
        serverError: rng.pick([0, 0.03]),
        latency: rng.pick([0, 0.2]),
        latencyMs: [5, rng.int(20, 300)],
      });
      // The proxies' delays stay far inside commitAttemptMarginMs (run.ts).
      const tcp = (): ProxyFaults => ({
        delayChance: rng.pick([0, 0.1]),
        delayMs: [5, rng.int(20, 300)],
        dropChance: rng.pick([0, 0.03]),
        resetChance: rng.pick([0, 0.01]),
      });
      const crash = rng.chance(0.3) ? { [rng.pick(CRASH_POINTS)]: 0.05 } : {};
      ctx.history.fault(name, 'new fault profile');
      ctx.cluster.setFaults(name, { s3: sdk(), dynamodb: sdk(), crash }, { s3: tcp(), dynamodb: tcp() });
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
