import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GroupRecord, TestMember } from '../support/group-client.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Kafka's group.initial.rebalance.delay.ms. Members that start together join one after another; before,
 * the first one read every partition at once, and the records it had not committed when a later join moved
 * half of its partitions were read again by their new owner (about 7% of the group bench's records). Now a
 * join into a group with no live member opens a forming window in which member fetches hand out nothing, so
 * the group has formed before anyone reads.
 */
const DELAY_MS = 2_500;
let server: TestServer;
let plain: TestServer;
beforeAll(async () => {
  server = await startTestServer({ groupOptions: { initialRebalanceDelayMs: DELAY_MS } });
  // The test servers' default: no window.
  plain = await startTestServer({ shareBackendsWith: server });
});
afterAll(async () => {
  await plain?.close();
  await server?.close();
});

const RECORDS = 40;

async function topicWith(partitions: number): Promise<string> {
  const topic = `ird-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  expect((await server.api('POST', '/v1/topics', { body: { name: topic, partitions } })).status).toBe(201);
  const produced = await server.api('POST', `/v1/topics/${topic}/records`, {
    body: {
      records: Array.from({ length: RECORDS }, (_, i) => ({ partition: i % partitions, value: { i } })),
    },
  });
  expect(produced.status).toBe(200);
  return topic;
}

const groupName = (prefix: string) =>
  `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
const idOf = (r: GroupRecord) => `${r.partition}:${r.offset}`;

describe('a new group hands out records only after its forming window', () => {
  it('gives a first member nothing until the window ends, then both members every record exactly once', async () => {
    const topic = await topicWith(4);
    const group = groupName('ird');
    const joinedAt = Date.now();
    const a = await new TestMember(server, group, [topic]).join();
    expect(a.assignments).toHaveLength(4);

    // In the window: no records, a cursor for the next call, and a long-poll waits (it does not spin).
    const first = await a.fetch({ waitMs: 0 });
    expect(first.status).toBe(200);
    expect(first.json.records).toEqual([]);
    expect(first.json.cursor).toEqual(expect.any(String));
    const pollStart = Date.now();
    const polled = await a.fetch({ waitMs: 300, commit: true });
    expect(polled.status).toBe(200);
    expect(polled.json.records).toEqual([]);
    expect(Date.now() - pollStart).toBeGreaterThanOrEqual(250);

    // A second member joins inside the window and takes half of the partitions.
    const b = await new TestMember(server, group, [topic]).join();
    expect(Date.now() - joinedAt).toBeLessThan(DELAY_MS);
    expect(b.assignments).toHaveLength(2);
    const fromB = await b.fetch({ waitMs: 0 });
    expect(fromB.status).toBe(200);
    expect(fromB.json.records).toEqual([]);

    // A long-poll in the window returns when the window ends, not before, and still without records.
    const waited = await a.fetch({ waitMs: 10_000, commit: true });
    expect(waited.status).toBe(200);
    expect(waited.json.records).toEqual([]);
    expect(Date.now() - joinedAt).toBeGreaterThanOrEqual(DELAY_MS - 100);
    expect(Date.now() - joinedAt).toBeLessThan(DELAY_MS + 5_000);

    // After the window: each reads its share, continuing with the cursors answered in the window.
    const seen: string[] = [];
    const read = { a: 0, b: 0 };
    for (let round = 0; round < 10 && seen.length < RECORDS; round++) {
      for (const [name, member] of [
        ['a', a],
        ['b', b],
      ] as const) {
        const res = await member.fetch({ waitMs: 0, maxRecords: 7, commit: true });
        expect(res.status).toBe(200);
        seen.push(...res.json.records.map(idOf));
        read[name] += res.json.records.length;
      }
    }
    expect(seen).toHaveLength(RECORDS);
    expect(new Set(seen).size).toBe(RECORDS);
    expect(read.a).toBe(RECORDS / 2);
    expect(read.b).toBe(RECORDS / 2);
  });

  it('is not opened again when a member joins a group that has live members', async () => {
    const topic = await topicWith(4);
    const group = groupName('ird-live');
    const a = await new TestMember(server, group, [topic]).join();
    await new Promise((resolve) => setTimeout(resolve, DELAY_MS + 100));
    expect((await a.fetch({ waitMs: 0, maxRecords: 100 })).json.records).toHaveLength(RECORDS);

    // b's join moves partitions but opens no window: b reads its share at once.
    const b = await new TestMember(server, group, [topic]).join();
    const started = Date.now();
    const res = await b.fetch({ waitMs: 0, maxRecords: 100 });
    expect(res.status).toBe(200);
    expect(res.json.records).toHaveLength(RECORDS / 2);
    expect(Date.now() - started).toBeLessThan(DELAY_MS);
  });

  it('is opened again by a join into a group whose members all left', async () => {
    const topic = await topicWith(2);
    const group = groupName('ird-empty');
    const a = await new TestMember(server, group, [topic]).join();
    await new Promise((resolve) => setTimeout(resolve, DELAY_MS + 100));
    expect((await a.fetch({ waitMs: 0, maxRecords: 100 })).json.records).toHaveLength(RECORDS);
    expect((await a.leave()).status).toBe(204);

    const c = await new TestMember(server, group, [topic]).join();
    expect((await c.fetch({ waitMs: 0 })).json.records).toEqual([]);
  });

  it('does not exist with a delay of 0: the first member reads at once', async () => {
    const topic = await topicWith(4);
    const group = groupName('ird-off');
    const a = await new TestMember(plain, group, [topic]).join();
    const res = await a.fetch({ waitMs: 0, maxRecords: 100 });
    expect(res.status).toBe(200);
    expect(res.json.records).toHaveLength(RECORDS);
  });
});
