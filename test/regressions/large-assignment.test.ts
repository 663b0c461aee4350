import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxCursorLength } from '../../lib/groups/cursor.js';
import { TestMember } from '../support/group-client.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Issue 12, item 8: a member owning 1,000 partitions (the per-topic maximum) got 500 on fetch (every
 * partition claimed at once: the DynamoDB client timed out), and from ~260 partitions on its cursor
 * (~18.7k characters) made Node answer 431 with an empty body. SPEC: its fetch and its cursor work at that
 * size; the cursor never outgrows a URL and may be sent in the `Sluice-Cursor` header.
 */
const PARTITIONS = 1_000;
/** Partitions that get records (one produce request may touch 100). */
const WRITTEN = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 500, 998, 999];

let server: TestServer;
let topic: string;
beforeAll(async () => {
  server = await startTestServer();
  topic = `large-${Date.now().toString(36)}`;
  const created = await server.api('POST', '/v1/topics', { body: { name: topic, partitions: PARTITIONS } });
  expect(created.status).toBe(201);
  const produced = await server.api('POST', `/v1/topics/${topic}/records`, {
    body: { records: WRITTEN.map((partition) => ({ partition, value: { partition } })) },
  });
  expect(produced.status).toBe(200);
});
afterAll(async () => {
  await server?.close();
});

describe('a member owning 1,000 partitions', () => {
  it('joins, fetches, commits and fetches again; its cursor stays bounded and works in the header', async () => {
    const member = await new TestMember(server, `large-${Date.now().toString(36)}`, [topic], {
      autoOffsetReset: 'earliest',
    }).join();
    expect(member.assignments).toHaveLength(PARTITIONS);

    // The first fetch claims all 1,000 partitions.
    const first = await member.fetch({ maxRecords: 1_000 });
    expect(first.status).toBe(200);
    expect(first.json.records.map((r) => r.partition).sort((a, b) => a - b)).toEqual(WRITTEN);
    const cursor = first.json.cursor;
    expect(cursor.length).toBeLessThanOrEqual(maxCursorLength(PARTITIONS));
    expect(maxCursorLength(PARTITIONS)).toBeLessThanOrEqual(10_711);

    // The cursor in the query (as every client sends it) and in the header: nothing more to read.
    const again = await member.fetch({ cursor });
    expect(again.status).toBe(200);
    expect(again.json.records).toEqual([]);
    const byHeader = await server.api(
      'GET',
      `/v1/groups/${member.group}/members/${member.memberId}/records?maxRecords=10`,
      { headers: { 'sluice-cursor': cursor } },
    );
    expect(byHeader.status).toBe(200);
    expect(byHeader.json.records).toEqual([]);

    // Commit every partition's position at once, then a fetch without a cursor starts from the commits.
    const offsets = member.assignments.map(({ topic: t, partition }) => ({
      topic: t,
      partition,
      offset: WRITTEN.includes(partition) ? 1 : 0,
    }));
    const committed = await member.commit(offsets, first.json.generation);
    expect(committed.status).toBe(204);
    const fromCommits = await member.fetch({ cursor: null });
    expect(fromCommits.status).toBe(200);
    expect(fromCommits.json.records).toEqual([]);

    const described = await server.api('GET', `/v1/groups/${member.group}`);
    expect(described.status).toBe(200);
    expect(described.json.offsets.filter((o: { lag: number }) => o.lag === 0)).toHaveLength(PARTITIONS);
  }, 240_000);

  it('answers a request head over the server limit with a problem, not an empty 431', async () => {
    const res = await fetch(`${server.url}/v1/topics?filler=${'x'.repeat(20_000)}`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    expect(res.status).toBe(431);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(((await res.json()) as { code: string }).code).toBe('REQUEST_TOO_LARGE');
  });
});
