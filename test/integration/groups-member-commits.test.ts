import { describe, expect, it } from 'vitest';
import { measureConsumerLag } from '../../lib/groups/lag.js';
import { TestMember } from '../support/group-client.js';
import { type TestServer, useTwoInstances } from '../support/server.js';

/**
 * Commits kept in each member's own item (docs/ARCHITECTURE.md §9.1, §9.4), across two app instances on the
 * same tables: a new owner's claim fences the previous owner and starts from its last accepted commit; a
 * partition that moves away and back starts from the other owner's commits; describe and lag read the
 * members' commits; an admin reset clears them.
 */
let a: TestServer;
let b: TestServer;
useTwoInstances({}, (first, second) => {
  a = first;
  b = second;
});

async function topicWith(perPartition: number, partitions: number): Promise<string> {
  const topic = `mc-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  expect((await a.api('POST', '/v1/topics', { body: { name: topic, partitions } })).status).toBe(201);
  const produced = await a.api('POST', `/v1/topics/${topic}/records`, {
    body: {
      records: Array.from({ length: perPartition * partitions }, (_, i) => ({
        partition: i % partitions,
        value: { i },
      })),
    },
  });
  expect(produced.status).toBe(200);
  return topic;
}

async function committed(server: TestServer, group: string): Promise<Map<number, number | null>> {
  const described = await server.api('GET', `/v1/groups/${group}`);
  expect(described.status).toBe(200);
  return new Map(
    described.json.offsets.map((o: { partition: number; committedOffset: number | null }) => [
      o.partition,
      o.committedOffset,
    ]),
  );
}

function firstOffsets(records: ReadonlyArray<{ partition: number; offset: number }>): Map<number, number> {
  const first = new Map<number, number>();
  for (const r of records) first.set(r.partition, Math.min(first.get(r.partition) ?? r.offset, r.offset));
  return first;
}

describe("members' own commit items, two instances", () => {
  it('a new owner starts from the last accepted commit; the zombie is fenced; the partition comes back', async () => {
    const topic = await topicWith(10, 2);
    const group = `mc-${Date.now().toString(36)}`;
    const x = await new TestMember(a, group, [topic]).join();
    const read = await x.fetch({ maxRecords: 6 });
    expect(read.status).toBe(200);
    expect((await x.commit(TestMember.nextOffsets(read.json.records))).status).toBe(204);
    expect([...(await committed(b, group))]).toEqual([
      [0, 3],
      [1, 3],
    ]);

    // y joins through the other instance and takes one partition; x keeps the other.
    const y = await new TestMember(b, group, [topic]).join();
    expect(y.assignments).toHaveLength(1);
    const moved = y.assignments[0]?.partition as number;
    const kept = 1 - moved;
    const taken = await y.fetch({ maxRecords: 100 });
    expect(taken.status).toBe(200);
    expect(firstOffsets(taken.json.records).get(moved)).toBe(3); // x's commit: nothing lost, nothing skipped

    // x, still on generation 1, commits both: the moved one is FENCED, the kept one lands.
    const zombie = await x.commit(
      [
        { topic, partition: moved, offset: 8 },
        { topic, partition: kept, offset: 7 },
      ],
      1,
    );
    expect(zombie.status).toBe(409);
    expect(zombie.json.code).toBe('FENCED');
    expect(y.cursor).toBeDefined();
    expect((await y.commit([{ topic, partition: moved, offset: 5 }])).status).toBe(204);
    expect([...(await committed(a, group))].sort(([p], [q]) => p - q)).toEqual(
      [
        [moved, 5],
        [kept, 7],
      ].sort(([p], [q]) => (p as number) - (q as number)),
    );
    // Lag reads the same commits (through the other instance's store and log).
    const lag = (await measureConsumerLag(b.groups, b.log)).find((g) => g.group === group);
    expect(lag?.lag).toBe(10 - 5 + (10 - 7));

    // y leaves: the partition goes back to x, whose claim starts from y's commit, not from its own 3.
    expect((await y.leave()).status).toBe(204);
    await x.refresh();
    expect(x.assignments).toHaveLength(2);
    const back = await x.fetch({ maxRecords: 100, cursor: null });
    expect(back.status).toBe(200);
    expect(firstOffsets(back.json.records).get(moved)).toBe(5);
    expect(firstOffsets(back.json.records).get(kept)).toBe(7);
  });

  it("an admin reset clears the members' own commits: the next member starts from the reset offsets", async () => {
    const topic = await topicWith(6, 2);
    const group = `mc-reset-${Date.now().toString(36)}`;
    const x = await new TestMember(a, group, [topic]).join();
    const read = await x.fetch({ maxRecords: 100 });
    expect((await x.commit(TestMember.nextOffsets(read.json.records))).status).toBe(204);
    expect([...(await committed(b, group)).values()]).toEqual([6, 6]);
    expect((await x.leave()).status).toBe(204);

    const reset = await b.api('POST', `/v1/groups/${group}/offsets/reset`, {
      body: { to: 'offset', offset: 2 },
    });
    expect(reset.status).toBe(200);
    expect([...(await committed(a, group)).values()]).toEqual([2, 2]);
    // The same member id comes back (a restart with a static id): it starts from 2, not from its own 6.
    const again = new TestMember(a, group, [topic]);
    again.memberId = x.memberId;
    await again.join();
    const reread = await again.fetch({ maxRecords: 100 });
    expect(reread.status).toBe(200);
    expect([...firstOffsets(reread.json.records)].sort(([p], [q]) => p - q)).toEqual([
      [0, 2],
      [1, 2],
    ]);
  });
});
