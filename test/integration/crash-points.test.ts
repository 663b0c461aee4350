import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { CRASH_POINTS, type CrashPoint, type CrashPoints } from '../../lib/crash-points.js';
import { SEGMENT_PREFIX } from '../../lib/storage/segment-store.js';
import { CommitFaults } from '../support/dynamodb-faults.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The named crash points (lib/crash-points.ts, docs/ARCHITECTURE.md §4.6): each is reached by the path it
 * names, and a failure at a point leaves what §4.6 says. A recording implementation stands in for the fault
 * suite's, which kills the process there; a throw stops the path at the point without killing the test.
 */
const HOUR = 60 * 60 * 1000;
const GRACE = 10 * 60 * 1000;
const clock = new ManualClock(Date.now());
const reached: CrashPoint[] = [];
let failAt: CrashPoint | undefined;
/** When set, the failure happens only where the point's detail contains it (one topic's partition). */
let failWhere: string | undefined;
const crashPoints: CrashPoints = {
  reach(point, detail) {
    reached.push(point);
    if (point === failAt && (failWhere === undefined || detail?.includes(failWhere))) {
      failAt = undefined;
      throw new Error(`injected crash at ${point}`);
    }
  },
};
const faults = new CommitFaults();
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({
    clock,
    ownBucket: true,
    log: { topicCacheTtlMs: 0, lingerMs: 0, maxCommitDelayMs: 4 * 60_000 },
    maintenance: { gcGraceMs: GRACE, minAgeMs: 60_000 },
    crashPoints,
    dynamodbMiddleware: (client) => faults.attach(client),
  });
});
afterAll(async () => {
  await server?.close();
});
beforeEach(() => {
  reached.length = 0;
  failAt = undefined;
  failWhere = undefined;
});

let n = 0;
async function newTopic(partitions: number, config?: Record<string, unknown>): Promise<string> {
  const name = `cp${Date.now().toString(36)}.${n++}`;
  const r = await server.api('POST', '/v1/topics', {
    body: { name, partitions, ...(config ? { config } : {}) },
  });
  expect(r.status).toBe(201);
  return name;
}

function produce(topic: string, records: unknown[], headers?: Record<string, string>) {
  return server.api('POST', `/v1/topics/${topic}/records`, {
    body: { records },
    ...(headers ? { headers } : {}),
  });
}

async function read(topic: string, offset: number | 'earliest' = 'earliest') {
  return server.api('GET', `/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxRecords=10000`);
}

async function values(topic: string): Promise<unknown[]> {
  const r = await read(topic);
  expect(r.status).toBe(200);
  return r.json.records.map((record: any) => record.value);
}

async function run(job: string, body?: unknown): Promise<any> {
  const r = await server.api('POST', `/v1/admin/maintenance/${job}`, body === undefined ? {} : { body });
  return r;
}

async function objectCount(): Promise<number> {
  let count = 0;
  for await (const _ of server.store.list(SEGMENT_PREFIX)) count += 1;
  return count;
}

describe('crash points are reached by the paths they name', () => {
  it('a produce: after the segment put, before each commit attempt, after the commit', async () => {
    const topic = await newTopic(1);
    expect((await produce(topic, [{ value: 1 }])).status).toBe(200);
    expect(reached).toEqual(['produce.afterSegmentPut', 'commit.beforeAttempt', 'produce.afterCommit']);
  });

  it('an idempotent produce: after the key is claimed, before the put', async () => {
    const topic = await newTopic(1);
    expect((await produce(topic, [{ value: 1 }], { 'idempotency-key': 'k1' })).status).toBe(200);
    expect(reached.slice(0, 2)).toEqual(['idempotency.afterClaim', 'produce.afterSegmentPut']);
  });

  it('a commit whose answer is lost: after the ambiguous failure, then the same attempt again', async () => {
    const topic = await newTopic(1);
    faults.ambiguous = true;
    // Only the first commit loses its answer.
    faults.onCommit = () => {
      faults.ambiguous = false;
    };
    try {
      const r = await produce(topic, [{ value: 'once' }]);
      expect(r.status).toBe(200);
      expect(r.json.offsets[0].offset).toBe(0);
    } finally {
      faults.ambiguous = false;
      faults.onCommit = undefined;
    }
    expect(reached).toEqual([
      'produce.afterSegmentPut',
      'commit.beforeAttempt',
      'commit.afterAmbiguousFailure',
      'commit.beforeAttempt',
      'produce.afterCommit',
    ]);
    expect(await values(topic)).toEqual(['once']);
  });

  it('compaction and key compaction: after the object is written, after the swap', async () => {
    const plain = await newTopic(1);
    const keyed = await newTopic(1, { cleanupPolicy: 'compact', minCompactionLagMs: 0 });
    // Two indexing passes, so that each partition has indexed batches in two objects to merge.
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < 3; i++) {
        await produce(plain, [{ value: pass * 3 + i }]);
        await produce(keyed, [{ key: 'k', value: pass * 3 + i }]);
      }
      reached.length = 0;
      expect((await run('compact', { minAgeMs: 0 })).status).toBe(200);
    }
    for (const point of [
      'index.afterObjectWritten',
      'index.afterEntries',
      'compact.afterObjectWritten',
      'compact.afterSwap',
      'keyCompact.afterObjectWritten',
      'keyCompact.afterSwap',
    ] as const) {
      expect(reached).toContain(point);
    }
    expect(await values(plain)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(await values(keyed)).toEqual([5]);
  });

  it('retention, deleted-topic cleanup, topic delete and GC', async () => {
    const retained = await newTopic(1, { retentionMs: HOUR });
    const old = clock.now() - 2 * HOUR;
    // Each batch indexed on its own (retention removes indexed batches one by one).
    for (let i = 0; i < 3; i++) {
      await produce(retained, [{ value: i, timestamp: old }]);
      expect((await run('compact', { minAgeMs: 0 })).status).toBe(200);
    }
    const dead = await newTopic(1);
    for (let i = 0; i < 3; i++) {
      await produce(dead, [{ value: i }]);
      expect((await run('compact', { minAgeMs: 0 })).status).toBe(200);
    }
    expect((await server.api('DELETE', `/v1/topics/${dead}`)).status).toBe(204);
    expect(reached).toContain('topic.afterDelete');
    clock.advance(2 * HOUR);
    await produce(retained, [{ value: 'young' }]);
    reached.length = 0;
    expect((await run('retention')).status).toBe(200);
    for (const point of [
      'retention.afterLogStart',
      'retention.betweenDeletes',
      'deletedTopic.betweenDeletes',
      'deletedTopic.beforeForget',
    ] as const) {
      expect(reached).toContain(point);
    }
    reached.length = 0;
    expect((await run('gc')).status).toBe(200);
    expect(reached).toEqual(['gc.afterMark']);
    clock.advance(GRACE);
    reached.length = 0;
    expect((await run('gc')).status).toBe(200);
    expect(reached).toEqual(['gc.afterMark', 'gc.betweenDeletes', 'gc.afterDelete']);
  });

  it('every named point is covered by one of these paths', () => {
    expect([...CRASH_POINTS].sort()).toEqual(
      [
        'produce.afterSegmentPut',
        'produce.afterCommit',
        'idempotency.afterClaim',
        'commit.beforeAttempt',
        'commit.afterAmbiguousFailure',
        'index.afterObjectWritten',
        'index.afterEntries',
        'compact.afterObjectWritten',
        'compact.afterSwap',
        'keyCompact.afterObjectWritten',
        'keyCompact.afterSwap',
        'retention.afterLogStart',
        'retention.betweenDeletes',
        'deletedTopic.betweenDeletes',
        'deletedTopic.beforeForget',
        'gc.afterMark',
        'gc.betweenDeletes',
        'gc.afterDelete',
        'topic.afterDelete',
      ].sort(),
    );
  });
});

describe('a crash at a point leaves what ARCHITECTURE §4.6 says', () => {
  it('after the segment put: nothing visible, only an orphan object', async () => {
    const topic = await newTopic(1);
    await produce(topic, [{ value: 'kept' }]);
    const objects = await objectCount();
    failAt = 'produce.afterSegmentPut';
    expect((await produce(topic, [{ value: 'lost' }])).status).toBe(500);
    expect(await values(topic)).toEqual(['kept']);
    expect(await objectCount()).toBe(objects + 1);
  });

  it('before a commit attempt: nothing visible', async () => {
    const topic = await newTopic(1);
    failAt = 'commit.beforeAttempt';
    expect((await produce(topic, [{ value: 'lost' }])).status).toBe(500);
    expect(await values(topic)).toEqual([]);
  });

  it('after the commit, before the answer: committed, and an idempotent retry returns the first offsets', async () => {
    const topic = await newTopic(1);
    failAt = 'produce.afterCommit';
    expect((await produce(topic, [{ value: 'once' }], { 'idempotency-key': 'a' })).status).toBe(500);
    expect(await values(topic)).toEqual(['once']);
    const retry = await produce(topic, [{ value: 'once' }], { 'idempotency-key': 'a' });
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await values(topic)).toEqual(['once']);
  });

  it('after the idempotency claim: nothing appended; the key is held until its lease ends, then taken over', async () => {
    const topic = await newTopic(1);
    failAt = 'idempotency.afterClaim';
    expect((await produce(topic, [{ value: 'x' }], { 'idempotency-key': 'b' })).status).toBe(500);
    expect(await values(topic)).toEqual([]);
    expect((await produce(topic, [{ value: 'x' }], { 'idempotency-key': 'b' })).status).toBe(409);
    clock.advance(61_000);
    expect((await produce(topic, [{ value: 'x' }], { 'idempotency-key': 'b' })).status).toBe(200);
    expect(await values(topic)).toEqual(['x']);
  });

  it('indexing and compaction after the object write, the entries or the swap: the same records; the next pass finishes', async () => {
    for (const point of [
      'index.afterObjectWritten',
      'index.afterEntries',
      'compact.afterObjectWritten',
      'compact.afterSwap',
    ] as const) {
      const topic = await newTopic(1);
      // Indexed in two passes (two objects), so that compaction has two to merge.
      for (let i = 0; i < 2; i++) await produce(topic, [{ value: i }]);
      expect((await run('compact', { minAgeMs: 0 })).status).toBe(200);
      await produce(topic, [{ value: 2 }]);
      clock.advance(2 * 60_000);
      failAt = point;
      expect((await run('compact')).status).toBe(500);
      expect(await values(topic)).toEqual([0, 1, 2]);
      clock.advance(3 * 60_000); // past the dead pass's indexing claim
      expect((await run('compact')).status).toBe(200);
      expect(await values(topic)).toEqual([0, 1, 2]);
      const parts = await server.api('GET', `/v1/topics/${topic}/partitions`);
      expect(parts.json.partitions[0].segments).toBe(1);
    }
  });

  it('retention after the log start or between deletes: reads below it get 416, the rest unchanged', async () => {
    for (const point of ['retention.afterLogStart', 'retention.betweenDeletes'] as const) {
      const topic = await newTopic(1, { retentionMs: HOUR });
      const old = clock.now() - 2 * HOUR;
      // Each batch indexed on its own: retention removes indexed batches one by one.
      for (let i = 0; i < 3; i++) {
        await produce(topic, [{ value: i, timestamp: old }]);
        expect((await run('compact', { minAgeMs: 0 })).status).toBe(200);
      }
      clock.advance(2 * HOUR);
      await produce(topic, [{ value: 'young' }]);
      // Only this topic's partition fails (the pass visits the other tests' topics too).
      failAt = point;
      failWhere = (await server.metadata.getTopic(topic, { consistent: true }))?.topicId;
      const first = await run('retention');
      expect(first.status).toBe(500);
      expect((await read(topic, 0)).status).toBe(416);
      expect(await values(topic)).toEqual(['young']);
      expect((await run('retention')).status).toBe(200);
      expect(await values(topic)).toEqual(['young']);
    }
  });

  it('GC after marking or between deletes: no referenced object deleted; the next pass finishes', async () => {
    for (const point of ['gc.afterMark', 'gc.betweenDeletes'] as const) {
      const topic = await newTopic(1);
      // Indexed in two objects, then merged by compaction: the two become garbage.
      for (let i = 0; i < 2; i++) await produce(topic, [{ value: i }]);
      expect((await run('compact', { minAgeMs: 0 })).status).toBe(200);
      await produce(topic, [{ value: 2 }]);
      expect((await run('compact', { minAgeMs: 0 })).status).toBe(200);
      expect((await run('gc')).status).toBe(200);
      clock.advance(GRACE);
      failAt = point;
      expect((await run('gc')).status).toBe(500);
      expect(await values(topic)).toEqual([0, 1, 2]);
      expect((await run('gc')).status).toBe(200);
      expect(await values(topic)).toEqual([0, 1, 2]);
    }
  });

  it('topic delete before its answer: the topic is gone', async () => {
    const topic = await newTopic(1);
    failAt = 'topic.afterDelete';
    expect((await server.api('DELETE', `/v1/topics/${topic}`)).status).toBe(500);
    expect((await server.api('GET', `/v1/topics/${topic}`)).status).toBe(404);
  });
});
