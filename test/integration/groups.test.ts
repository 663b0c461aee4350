import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { keysOf, TestMember } from '../support/group-client.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Consumer groups over HTTP against DynamoDB Local and the S3 emulator. Session expiry is driven by a
 * manual clock (no sleeping); the skew allowance is 0 so that "expired" means exactly "past expiresAt".
 */
const clock = new ManualClock(Date.now());
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({
    clock,
    log: { topicCacheTtlMs: 0 },
    groupOptions: { expiryGraceMs: 0 },
  });
});
afterAll(async () => {
  await server?.close();
});

let n = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}.${n++}`;

async function newTopic(partitions: number): Promise<string> {
  const name = unique('g');
  const r = await server.api('POST', '/v1/topics', { body: { name, partitions } });
  expect(r.status).toBe(201);
  return name;
}

async function produce(topic: string, partition: number, count: number, tag = 'v'): Promise<void> {
  const records = Array.from({ length: count }, (_, i) => ({ partition, value: `${tag}-${i}` }));
  const r = await server.api('POST', `/v1/topics/${topic}/records`, { body: { records, format: 'text' } });
  expect(r.status).toBe(200);
}

async function describeGroup(group: string) {
  const r = await server.api('GET', `/v1/groups/${group}`);
  expect(r.status).toBe(200);
  return r.json;
}

function allPartitions(topic: string, count: number): string[] {
  return Array.from({ length: count }, (_, p) => `${topic}/${p}`).sort();
}

describe('membership and sticky assignment', () => {
  it('two, then three members: every partition owned exactly once, and only what must move moves', async () => {
    const topic = await newTopic(12);
    const group = unique('grp');
    const a = await new TestMember(server, group, [topic]).join();
    expect(a.generation).toBe(1);
    expect(keysOf(a.assignments)).toEqual(allPartitions(topic, 12));

    const b = await new TestMember(server, group, [topic]).join();
    expect(b.generation).toBe(2);
    await a.refresh();
    expect(a.generation).toBe(2);
    expect([...keysOf(a.assignments), ...keysOf(b.assignments)].sort()).toEqual(allPartitions(topic, 12));
    expect(a.assignments).toHaveLength(6);
    expect(b.assignments).toHaveLength(6);
    const before = { a: keysOf(a.assignments), b: keysOf(b.assignments) };

    const c = await new TestMember(server, group, [topic]).join();
    await a.refresh();
    await b.refresh();
    expect(c.generation).toBe(3);
    const owned = [...keysOf(a.assignments), ...keysOf(b.assignments), ...keysOf(c.assignments)];
    expect(owned.sort()).toEqual(allPartitions(topic, 12));
    for (const m of [a, b, c]) expect(m.assignments).toHaveLength(4);
    // Sticky: A and B keep 4 of their 6 each; exactly the 4 that C needs moved.
    expect(keysOf(a.assignments).every((k) => before.a.includes(k))).toBe(true);
    expect(keysOf(b.assignments).every((k) => before.b.includes(k))).toBe(true);

    const described = await describeGroup(group);
    expect(described.generation).toBe(3);
    expect(described.members.map((m: any) => m.memberId).sort()).toEqual(
      [a.memberId, b.memberId, c.memberId].sort(),
    );
    const listed = await server.api('GET', '/v1/groups');
    expect(listed.json.groups).toContainEqual({ group, generation: 3, members: 3 });
  });

  it('six members joining at once each get their own generation, and the last assignment covers everything once', async () => {
    const topic = await newTopic(12);
    const group = unique('grp');
    const members = await Promise.all(
      Array.from({ length: 6 }, () => new TestMember(server, group, [topic]).join()),
    );
    // Every join won its own compare-and-set on the generation.
    expect(members.map((m) => m.generation).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const m of members) await m.refresh();
    const owned = members.flatMap((m) => keysOf(m.assignments));
    expect(owned.sort()).toEqual(allPartitions(topic, 12));
    for (const m of members) expect(m.assignments).toHaveLength(2);
  });

  it('a member with no partitions long-polls without spinning and reads nothing', async () => {
    const topic = await newTopic(1);
    await produce(topic, 0, 1);
    const group = unique('grp');
    await new TestMember(server, group, [topic]).join();
    const idle = await new TestMember(server, group, [topic]).join();
    expect(idle.assignments).toEqual([]);
    const started = Date.now();
    const r = await idle.fetch({ waitMs: 300 });
    expect(r.status).toBe(200);
    expect(r.json.records).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('refuses a member beyond the group size limit', async () => {
    const small = await startTestServer({ groupOptions: { maxMembers: 2 } });
    try {
      const name = unique('g');
      await small.api('POST', '/v1/topics', { body: { name, partitions: 1 } });
      const group = unique('grp');
      await new TestMember(small, group, [name]).join();
      const second = await new TestMember(small, group, [name]).join();
      const r = await small.api('POST', `/v1/groups/${group}/members`, { body: { topics: [name] } });
      expect([r.status, r.json.code]).toEqual([409, 'CONFLICT']);
      await second.join(); // a member already in the group may re-join
    } finally {
      await small.close();
    }
  });

  it('a repeated join with the same memberId and settings starts no new generation', async () => {
    const topic = await newTopic(2);
    const group = unique('grp');
    const a = await new TestMember(server, group, [topic]).join();
    const generation = a.generation;
    await a.join();
    expect(a.generation).toBe(generation);
    expect(keysOf(a.assignments)).toEqual(allPartitions(topic, 2));
  });

  it('a member that stops heartbeating loses its partitions after its session timeout', async () => {
    const topic = await newTopic(4);
    const group = unique('grp');
    const a = await new TestMember(server, group, [topic], { sessionTimeoutMs: 10_000 }).join();
    const b = await new TestMember(server, group, [topic], { sessionTimeoutMs: 10_000 }).join();
    await a.refresh();
    expect(a.assignments).toHaveLength(2);

    clock.advance(6_000);
    await a.refresh(); // A stays alive; B says nothing
    expect(a.generation).toBe(2);
    clock.advance(4_001); // B's session (joined at t0, 10 s) has now run out; A's has not
    await a.refresh(); // whichever call comes next notices, and starts the next generation
    expect(a.generation).toBe(3);
    expect(keysOf(a.assignments)).toEqual(allPartitions(topic, 4));
    expect((await b.heartbeat()).status).toBe(404);
    expect((await b.heartbeat()).json.code).toBe('UNKNOWN_MEMBER');
    expect((await b.fetch()).json.code).toBe('UNKNOWN_MEMBER');
  });

  it('a member that leaves hands its partitions over at once', async () => {
    const topic = await newTopic(4);
    const group = unique('grp');
    const a = await new TestMember(server, group, [topic]).join();
    const b = await new TestMember(server, group, [topic]).join();
    expect((await b.leave()).status).toBe(204);
    await a.refresh();
    expect(keysOf(a.assignments)).toEqual(allPartitions(topic, 4));
    expect((await b.leave()).json.code).toBe('UNKNOWN_MEMBER');
  });

  it('a partition-count increase starts a new generation that assigns the new partitions', async () => {
    const topic = await newTopic(2);
    const group = unique('grp');
    const a = await new TestMember(server, group, [topic]).join();
    const b = await new TestMember(server, group, [topic]).join();
    await a.refresh();
    const before = { a: keysOf(a.assignments), b: keysOf(b.assignments), generation: a.generation };
    expect((await server.api('PATCH', `/v1/topics/${topic}`, { body: { partitions: 4 } })).status).toBe(200);
    await a.refresh();
    await b.refresh();
    expect(a.generation).toBe(before.generation + 1);
    expect([...keysOf(a.assignments), ...keysOf(b.assignments)].sort()).toEqual(allPartitions(topic, 4));
    expect(before.a.every((k) => keysOf(a.assignments).includes(k))).toBe(true);
    expect(before.b.every((k) => keysOf(b.assignments).includes(k))).toBe(true);
  });
});

describe('fetch, commit and fencing', () => {
  it('reads from the committed offsets, continues with the cursor, and commits move forward only', async () => {
    const topic = await newTopic(2);
    await produce(topic, 0, 5, 'p0');
    await produce(topic, 1, 5, 'p1');
    const group = unique('grp');
    const a = await new TestMember(server, group, [topic]).join();

    let r = await a.fetch({ maxRecords: 4 });
    expect(r.status).toBe(200);
    expect(r.json.generation).toBe(a.generation);
    // The budget is split evenly: 2 from each partition.
    expect(r.json.records.map((x) => `${x.partition}:${x.offset}`).sort()).toEqual([
      '0:0',
      '0:1',
      '1:0',
      '1:1',
    ]);
    expect(r.json.records[0]).toMatchObject({ topic, key: null, format: 'text' });
    r = await a.fetch({ maxRecords: 100 }); // read ahead with the cursor, without committing
    expect(r.json.records.map((x) => `${x.partition}:${x.offset}`).sort()).toEqual(
      ['0:2', '0:3', '0:4', '1:2', '1:3', '1:4'].sort(),
    );
    expect((await a.commit([{ topic, partition: 0, offset: 5 }])).status).toBe(204);
    expect((await a.commit([{ topic, partition: 0, offset: 3 }])).status).toBe(204); // changes nothing

    // Without a cursor the member starts over from the committed offsets.
    r = await a.fetch({ cursor: null, maxRecords: 100 });
    expect(r.json.records.map((x) => `${x.partition}:${x.offset}`)).toEqual([
      '1:0',
      '1:1',
      '1:2',
      '1:3',
      '1:4',
    ]);

    const described = await describeGroup(group);
    expect(described.offsets).toEqual([
      { topic, partition: 0, committedOffset: 5, highWatermark: 5, lag: 0 },
      { topic, partition: 1, committedOffset: null, highWatermark: 5, lag: null },
    ]);
  });

  it('a consumer that crashes before committing has its records redelivered to the new owner, none skipped', async () => {
    const topic = await newTopic(1);
    await produce(topic, 0, 10);
    const group = unique('grp');
    const a = await new TestMember(server, group, [topic], { sessionTimeoutMs: 5_000 }).join();
    let r = await a.fetch({ maxRecords: 4 });
    expect((await a.commit(TestMember.nextOffsets(r.json.records))).status).toBe(204); // committed 4
    r = await a.fetch({ maxRecords: 4 }); // 4..7 read, then A crashes before committing them

    const b = await new TestMember(server, group, [topic], { sessionTimeoutMs: 60_000 }).join();
    expect(b.assignments).toEqual([]); // A still owns the only partition
    clock.advance(5_001);
    await b.refresh();
    expect(keysOf(b.assignments)).toEqual([`${topic}/0`]);
    r = await b.fetch({ maxRecords: 100 });
    expect(r.json.records.map((x) => x.offset)).toEqual([4, 5, 6, 7, 8, 9]);
    expect((await b.commit(TestMember.nextOffsets(r.json.records))).status).toBe(204);
    expect((await describeGroup(group)).offsets[0]).toMatchObject({ committedOffset: 10, lag: 0 });
  });

  it("rejects a zombie's commits: stale generation, a partition it lost, and after its session expired", async () => {
    const topic = await newTopic(2);
    await produce(topic, 0, 3);
    await produce(topic, 1, 3);
    const group = unique('grp');
    const zombie = await new TestMember(server, group, [topic], { sessionTimeoutMs: 5_000 }).join();
    await zombie.fetch({ maxRecords: 100 });
    const oldGeneration = zombie.generation;

    const other = await new TestMember(server, group, [topic], { sessionTimeoutMs: 60_000 }).join();
    const lost = other.assignments[0];
    if (!lost) throw new Error('the new member got nothing');
    // A partition it lost, with the generation it read in → FENCED (SPEC: a moved partition stays fenced).
    let r = await zombie.commit([{ ...lost, offset: 1 }], oldGeneration);
    expect(r.status).toBe(409);
    expect(r.json.code).toBe('FENCED');
    // Current generation but a partition it no longer owns → FENCED.
    await zombie.refresh();
    r = await zombie.commit([{ ...lost, offset: 1 }]);
    expect(r.json.code).toBe('FENCED');
    // The owner's commit is accepted.
    await other.fetch({ maxRecords: 100 });
    expect((await other.commit([{ ...lost, offset: 3 }])).status).toBe(204);
    // After its session expired: the member is unknown.
    clock.advance(5_001);
    r = await zombie.commit([{ ...lost, offset: 1 }], other.generation);
    expect(r.status).toBe(404);
    expect(r.json.code).toBe('UNKNOWN_MEMBER');
    expect(
      (await describeGroup(group)).offsets.find((o: any) => o.partition === lost.partition).committedOffset,
    ).toBe(3);
  });

  it('a cursor from before a rebalance that changed the assignment gets 409 REBALANCE_IN_PROGRESS', async () => {
    const topic = await newTopic(4);
    const group = unique('grp');
    const a = await new TestMember(server, group, [topic]).join();
    await a.fetch();
    const stale = a.cursor;
    const b = await new TestMember(server, group, [topic]).join();
    let r = await a.fetch({ cursor: stale ?? null });
    expect(r.status).toBe(409);
    expect(r.json.code).toBe('REBALANCE_IN_PROGRESS');
    await a.refresh();
    r = await a.fetch({ cursor: null });
    expect(r.status).toBe(200);
    expect(r.json.generation).toBe(b.generation);

    // A generation change that leaves A's partitions where they were does not interrupt A's cursor.
    const other = await newTopic(1);
    const c = await new TestMember(server, group, [other]).join();
    expect(keysOf(c.assignments)).toEqual([`${other}/0`]);
    r = await a.fetch();
    expect(r.status).toBe(200);
    expect(r.json.generation).toBe(c.generation);
  });

  it('long-polls across all of the member’s partitions and wakes on a record in any of them', async () => {
    const real = await startTestServer({ log: { pollIntervalMs: 50 } });
    try {
      const topic = `lp${Date.now().toString(36)}`;
      expect((await real.api('POST', '/v1/topics', { body: { name: topic, partitions: 4 } })).status).toBe(
        201,
      );
      const group = unique('grp');
      const a = await new TestMember(real, group, [topic], { autoOffsetReset: 'latest' }).join();
      await a.fetch(); // positions at the (empty) end
      const started = Date.now();
      const pending = a.fetch({ waitMs: 10_000 });
      await new Promise((r) => setTimeout(r, 300));
      await real.api('POST', `/v1/topics/${topic}/records`, {
        body: { records: [{ partition: 3, value: 1 }] },
      });
      const r = await pending;
      expect(r.status).toBe(200);
      expect(r.json.records.map((x) => `${x.partition}:${x.offset}`)).toEqual(['3:0']);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await real.close();
    }
  });

  it("a re-created topic shows none of the deleted one's committed offsets", async () => {
    const topic = await newTopic(1);
    await produce(topic, 0, 3);
    const group = unique('grp');
    const a = await new TestMember(server, group, [topic]).join();
    await a.fetch();
    expect((await a.commit([{ topic, partition: 0, offset: 3 }])).status).toBe(204);
    expect((await a.leave()).status).toBe(204);
    expect((await server.api('DELETE', `/v1/topics/${topic}`)).status).toBe(204);
    expect((await server.api('POST', '/v1/topics', { body: { name: topic, partitions: 1 } })).status).toBe(
      201,
    );
    await produce(topic, 0, 1);
    const b = await new TestMember(server, group, [topic]).join();
    const r = await b.fetch();
    expect(r.json.records.map((x) => x.offset)).toEqual([0]);
    expect((await describeGroup(group)).offsets).toEqual([
      { topic, partition: 0, committedOffset: null, highWatermark: 1, lag: null },
    ]);
  });
});

describe('admin offset reset', () => {
  it('is refused while members are live, and sets earliest, latest, an offset or a timestamp otherwise', async () => {
    const topic = await newTopic(2);
    clock.advance(1_000);
    const t1 = clock.now();
    await produce(topic, 0, 5);
    await produce(topic, 1, 5);
    const group = unique('grp');
    const a = await new TestMember(server, group, [topic]).join();
    await a.fetch({ maxRecords: 100 });
    expect((await a.commit([{ topic, partition: 0, offset: 5 }])).status).toBe(204);

    let r = await server.api('POST', `/v1/groups/${group}/offsets/reset`, { body: { to: 'earliest' } });
    expect(r.status).toBe(409);
    expect(r.json.code).toBe('CONFLICT');
    await a.leave();

    r = await server.api('POST', `/v1/groups/${group}/offsets/reset`, { body: { to: 'earliest' } });
    expect(r.status).toBe(200);
    expect(r.json.offsets).toEqual([
      { topic, partition: 0, offset: 0 },
      { topic, partition: 1, offset: 0 },
    ]);
    expect((await describeGroup(group)).offsets.map((o: any) => o.committedOffset)).toEqual([0, 0]);

    r = await server.api('POST', `/v1/groups/${group}/offsets/reset`, { body: { to: 'offset', offset: 3 } });
    expect(r.json.offsets.map((o: any) => o.offset)).toEqual([3, 3]);
    r = await server.api('POST', `/v1/groups/${group}/offsets/reset`, { body: { to: 'offset', offset: 99 } });
    expect(r.json.offsets.map((o: any) => o.offset)).toEqual([5, 5]); // clamped to the high watermark
    r = await server.api('POST', `/v1/groups/${group}/offsets/reset`, {
      body: { to: 'timestamp', timestamp: t1 },
    });
    expect(r.json.offsets.map((o: any) => o.offset)).toEqual([0, 0]);
    r = await server.api('POST', `/v1/groups/${group}/offsets/reset`, { body: { to: 'latest' } });
    expect(r.json.offsets.map((o: any) => o.offset)).toEqual([5, 5]);

    // A reset may move offsets backwards; the next member starts there.
    await server.api('POST', `/v1/groups/${group}/offsets/reset`, { body: { to: 'offset', offset: 2 } });
    const b = await new TestMember(server, group, [topic]).join();
    const fetched = await b.fetch({ maxRecords: 100 });
    expect(fetched.json.records.filter((x) => x.partition === 0).map((x) => x.offset)).toEqual([2, 3, 4]);
  });

  it('answers bad resets clearly', async () => {
    let r = await server.api('POST', `/v1/groups/${unique('nope')}/offsets/reset`, {
      body: { to: 'earliest' },
    });
    expect(r.status).toBe(404);
    expect(r.json.code).toBe('GROUP_NOT_FOUND');
    r = await server.api('POST', '/v1/groups/g/offsets/reset', { body: { to: 'offset' } });
    expect(r.status).toBe(400);
    r = await server.api('POST', '/v1/groups/g/offsets/reset', { body: { to: 'yesterday' } });
    expect(r.status).toBe(400);
  });
});

describe('bad input', () => {
  it('answers each bad group call with the contract code and changes nothing', async () => {
    const topic = await newTopic(1);
    await produce(topic, 0, 2);
    const group = unique('grp');
    const join = (body: unknown, g = group) => server.api('POST', `/v1/groups/${g}/members`, { body });

    let r = await join({ topics: ['no-such-topic'] });
    expect([r.status, r.json.code]).toEqual([404, 'TOPIC_NOT_FOUND']);
    r = await join({ topics: [topic], sessionTimeoutMs: 999 });
    expect([r.status, r.json.code]).toEqual([400, 'INVALID_REQUEST']);
    r = await join({ topics: [topic], sessionTimeoutMs: 300_001 });
    expect(r.status).toBe(400);
    r = await join({ topics: [] });
    expect(r.status).toBe(400);
    r = await join({ topics: [topic], autoOffsetReset: 'none' });
    expect(r.status).toBe(400);
    r = await join({ topics: [topic] }, 'bad%20name');
    expect(r.status).toBe(400);
    r = await join({ topics: [topic], memberId: 'has space' });
    expect(r.status).toBe(400);
    expect((await server.api('GET', `/v1/groups/${group}`)).json.code).toBe('GROUP_NOT_FOUND');

    const a = await new TestMember(server, group, [topic]).join();
    r = await a.fetch({ cursor: 'not-a-cursor' });
    expect([r.status, r.json.code]).toEqual([400, 'INVALID_REQUEST']);
    r = await a.commit([{ topic, partition: 0, offset: 3 }]);
    expect([r.status, r.json.code]).toEqual([416, 'OFFSET_OUT_OF_RANGE']);
    r = await a.commit([
      { topic, partition: 0, offset: 1 },
      { topic, partition: 0, offset: 2 },
    ]);
    expect(r.status).toBe(400);
    r = await a.commit([]);
    expect(r.status).toBe(400);
    r = await a.commit([{ topic, partition: 0, offset: -1 }]);
    expect(r.status).toBe(400);
    expect((await describeGroup(group)).offsets[0].committedOffset).toBeNull();

    r = await server.api('POST', `/v1/groups/${group}/members/nobody/heartbeat`);
    expect([r.status, r.json.code]).toEqual([404, 'UNKNOWN_MEMBER']);
    r = await server.api('GET', `/v1/groups/${group}/members/nobody/records`);
    expect([r.status, r.json.code]).toEqual([404, 'UNKNOWN_MEMBER']);
    r = await server.api('POST', `/v1/groups/${group}/commits`, {
      body: { memberId: 'nobody', generation: 1, offsets: [{ topic, partition: 0, offset: 1 }] },
    });
    expect([r.status, r.json.code]).toEqual([404, 'UNKNOWN_MEMBER']);
  });

  it('checks API-key permissions on the subscribed topics (403 before 404)', async () => {
    const topic = await newTopic(1);
    const created = await server.api('POST', '/v1/keys', {
      body: {
        name: 'other',
        permissions: [
          { topics: 'elsewhere.*', actions: ['consume'] },
          { groups: 'grp*', actions: ['consume'] },
        ],
      },
    });
    const token = created.json.token as string;
    const r = await server.api('POST', `/v1/groups/${unique('grp')}/members`, {
      body: { topics: [topic] },
      auth: token,
    });
    expect([r.status, r.json.code]).toEqual([403, 'FORBIDDEN']);
    const missing = await server.api('POST', `/v1/groups/${unique('grp')}/members`, {
      body: { topics: ['elsewhere.none'] },
      auth: token,
    });
    expect(missing.status).toBe(404);
  });
});
