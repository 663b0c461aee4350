import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestMember } from '../support/group-client.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * SPEC "Consumer groups": with `commit=true` (and a cursor) a member's fetch first commits the positions
 * that cursor carries, fenced exactly like an explicit commit, then fetches — Kafka's auto-commit at the
 * next poll, so a polling consumer makes one call per poll. Before, `commit` was not a parameter at all.
 */
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

async function topicWith(records: number, partitions: number): Promise<string> {
  const topic = `cof-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  expect((await server.api('POST', '/v1/topics', { body: { name: topic, partitions } })).status).toBe(201);
  const produced = await server.api('POST', `/v1/topics/${topic}/records`, {
    body: {
      records: Array.from({ length: records }, (_, i) => ({ partition: i % partitions, value: { i } })),
    },
  });
  expect(produced.status).toBe(200);
  return topic;
}

async function committed(
  group: string,
): Promise<Array<{ partition: number; committedOffset: number | null }>> {
  const described = await server.api('GET', `/v1/groups/${group}`);
  expect(described.status).toBe(200);
  return described.json.offsets
    .map((o: { partition: number; committedOffset: number | null }) => ({
      partition: o.partition,
      committedOffset: o.committedOffset,
    }))
    .sort((a: { partition: number }, b: { partition: number }) => a.partition - b.partition);
}

describe('a member fetch with commit=true', () => {
  it('commits the positions of the cursor it carries, then fetches on from them', async () => {
    const topic = await topicWith(6, 2);
    const group = `cof-${Date.now().toString(36)}`;
    const member = await new TestMember(server, group, [topic]).join();

    const first = await member.fetch({ maxRecords: 2 });
    expect(first.status).toBe(200);
    expect(first.json.records).toHaveLength(2);
    // Nothing is committed by a fetch without commit=true.
    expect((await committed(group)).every((o) => o.committedOffset === null)).toBe(true);

    const second = await member.fetch({ maxRecords: 2, commit: true });
    expect(second.status).toBe(200);
    // The first poll's records are committed (one per partition: offset 1 is next on each) ...
    expect(await committed(group)).toEqual([
      { partition: 0, committedOffset: 1 },
      { partition: 1, committedOffset: 1 },
    ]);
    // ... and the poll went on from the cursor, not from the commits.
    const offsetsOf = (r: { json: { records: Array<{ partition: number; offset: number }> } }) =>
      r.json.records.map((x) => `${x.partition}:${x.offset}`).sort();
    expect(offsetsOf(second)).toEqual(['0:1', '1:1']);

    // A member that rejoins (a restart) starts from what commit-on-fetch committed: nothing is lost or read twice.
    await member.fetch({ maxRecords: 100, commit: true });
    expect((await member.leave()).status).toBe(204);
    const again = await new TestMember(server, group, [topic]).join();
    const rest = await again.fetch({ maxRecords: 100 });
    expect(rest.status).toBe(200);
    expect(offsetsOf(rest)).toEqual(['0:2', '1:2']);
  });

  it('without a cursor commits nothing and fetches from the committed offsets', async () => {
    const topic = await topicWith(2, 1);
    const group = `cof-none-${Date.now().toString(36)}`;
    const member = await new TestMember(server, group, [topic]).join();
    const res = await member.fetch({ commit: true, cursor: null });
    expect(res.status).toBe(200);
    expect(res.json.records).toHaveLength(2);
    expect(await committed(group)).toEqual([{ partition: 0, committedOffset: null }]);
  });

  it('is fenced like an explicit commit when a partition moved, and then fetches nothing', async () => {
    const topic = await topicWith(4, 4);
    const group = `cof-fenced-${Date.now().toString(36)}`;
    const a = await new TestMember(server, group, [topic]).join();
    expect((await a.fetch()).json.records).toHaveLength(4);
    const cursor = a.cursor;
    // b takes half of a's partitions: a's cursor no longer matches its assignment.
    await new TestMember(server, group, [topic]).join();
    const res = await a.fetch({ commit: true, cursor: cursor ?? null });
    expect(res.status).toBe(409);
    expect(['REBALANCE_IN_PROGRESS', 'FENCED']).toContain(res.json.code);
    expect((await committed(group)).every((o) => o.committedOffset === null)).toBe(true);
  });

  it('commits from an older generation for the partitions the member kept', async () => {
    const topic = await topicWith(4, 2);
    const group = `cof-kept-${Date.now().toString(36)}`;
    // a subscribes to the topic; b joins with another topic only, so a keeps both partitions.
    const other = await topicWith(1, 1);
    const a = await new TestMember(server, group, [topic]).join();
    expect((await a.fetch({ maxRecords: 2 })).json.records).toHaveLength(2);
    const b = await new TestMember(server, group, [other]).join();
    expect(b.generation).toBe(a.generation + 1);
    const res = await a.fetch({ commit: true });
    expect(res.status).toBe(200);
    expect((await committed(group)).filter((o) => o.committedOffset !== null).length).toBeGreaterThan(0);
  });

  it('refuses a commit value other than true or false', async () => {
    const topic = await topicWith(1, 1);
    const group = `cof-bad-${Date.now().toString(36)}`;
    const member = await new TestMember(server, group, [topic]).join();
    const res = await server.api('GET', `/v1/groups/${group}/members/${member.memberId}/records?commit=yes`);
    expect(res.status).toBe(400);
    expect(res.json.code).toBe('INVALID_REQUEST');
  });
});
