import { type Consumer, type ConsumerRecord, Sluice, type TopicPartition } from 'sluice/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Client consumers in one group against a real server (issue 15): members leave, join and die while 50,000
 * records are processed; every record is processed at least once, none is skipped, and the committed
 * offsets reach the high watermark.
 */

let server: TestServer;
let sluice: Sluice;

beforeAll(async () => {
  server = await startTestServer({ log: { lingerMs: 0 } });
  sluice = new Sluice({ url: server.url, token: server.token });
});
afterAll(async () => {
  await server.close();
});

const until = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 40_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

describe('consumer group of client consumers', () => {
  it('processes 50,000 records at least once while one member leaves, one joins and one dies', async () => {
    const topic = `cons.${Date.now().toString(36)}`;
    const group = `cons-g.${Date.now().toString(36)}`;
    const partitions = 5;
    const total = 50_000;
    await sluice.topics.create({ name: topic, partitions });
    const producer = sluice.producer({ lingerMs: 0 });
    await producer.send(
      topic,
      Array.from({ length: total }, (_, i) => ({ value: i, partition: i % partitions })),
    );
    await producer.close();

    const processed = new Set<string>();
    let deliveries = 0;
    const events: string[] = [];
    const make = (tag: string): Consumer =>
      sluice.consumer({
        group,
        topics: [topic],
        autoOffsetReset: 'earliest',
        sessionTimeoutMs: 2_000,
        maxRecords: 500,
        waitMs: 300,
        onAssigned: (tps: TopicPartition[]) => {
          events.push(`${tag} +${tps.length}`);
        },
        onRevoked: (tps: TopicPartition[]) => {
          events.push(`${tag} -${tps.length}`);
        },
      });
    /** Runs a consumer's loop until it is closed or aborted. */
    const run = async (consumer: Consumer) => {
      const lastOffset = new Map<number, number>();
      for await (const record of consumer as AsyncIterable<ConsumerRecord>) {
        // Within one member, a partition's records come in order (a rebalance may send it back in time).
        const last = lastOffset.get(record.partition);
        if (last !== undefined && record.offset !== last + 1) events.push(`rewind p${record.partition}`);
        lastOffset.set(record.partition, record.offset);
        processed.add(`${record.partition}/${record.offset}`);
        deliveries++;
      }
    };

    const a = make('a');
    const b = make('b');
    const c = make('c');
    const d = make('d');
    const runs: Array<Promise<void>> = [];
    try {
      runs.push(run(a), run(b), run(c));
      await until('10,000 deliveries', () => deliveries >= 10_000);
      await a.close(); // a member leaves (commits what it processed; its loop ends)
      runs.push(run(d)); // a member joins mid-stream
      await until('30,000 deliveries', () => deliveries >= 30_000);
      c.abort(); // a member dies: no commit, no leave; its partitions move when its session expires
      await until('every record', () => processed.size >= total);
      await until('the committed offsets to reach the high watermark', async () => {
        const { offsets } = await sluice.groups.describe(group);
        return offsets.length === partitions && offsets.every((o) => o.committedOffset === o.highWatermark);
      });
      await until("the dead member's session to expire", async () => {
        return (await sluice.groups.describe(group)).members.length === 2;
      });
      const described = await sluice.groups.describe(group);
      expect(described.offsets.map((o) => o.highWatermark)).toEqual(
        Array(partitions).fill(total / partitions),
      );
      // No record skipped: every offset of every partition was processed.
      for (let i = 0; i < total; i++)
        expect(processed.has(`${i % partitions}/${Math.floor(i / partitions)}`)).toBe(true);
      // The two live members own everything; a left and c's session expired.
      expect(described.members.map((m) => m.memberId).sort()).toEqual([b.memberId, d.memberId].sort());
      await b.close();
      await d.close();
      await Promise.all(runs);
      expect(events.some((e) => e.startsWith('d +'))).toBe(true);
      expect(deliveries).toBeGreaterThanOrEqual(total);
      // At-least-once, and not wildly more: redeliveries are bounded by a few batches per rebalance.
      expect(deliveries).toBeLessThan(total + 20 * 500);
    } finally {
      for (const consumer of [a, b, c, d]) consumer.abort();
      await Promise.allSettled(runs);
    }
  }, 90_000);

  it('re-joins after 404 UNKNOWN_MEMBER (its membership ended) and goes on from the committed offsets', async () => {
    const topic = `cons.gone.${Date.now().toString(36)}`;
    const group = `cons-gone.${Date.now().toString(36)}`;
    await sluice.topics.create({ name: topic });
    await sluice.producer().send(topic, [{ value: 0 }, { value: 1 }]);
    const events: string[] = [];
    const consumer = sluice.consumer({
      group,
      topics: [topic],
      autoOffsetReset: 'earliest',
      waitMs: 300,
      onAssigned: (tps) => {
        events.push(`+${tps.length}`);
      },
      onRevoked: (tps) => {
        events.push(`-${tps.length}`);
      },
    });
    const values: unknown[] = [];
    const firstMember = await (async () => {
      for await (const record of consumer) {
        values.push(record.value);
        if (values.length === 2) {
          // The membership ends under it (as an expired session does): the next fetch answers 404.
          const gone = await server.api('DELETE', `/v1/groups/${group}/members/${consumer.memberId}`);
          expect(gone.status).toBe(204);
          await sluice.producer().send(topic, [{ value: 2 }]);
        }
        if (record.value === 2) return consumer.memberId;
      }
      return undefined;
    })();
    // Nothing was committed when the membership ended (the first batch's commit rides on the next fetch):
    // the re-joined member starts again from the earliest offset (at-least-once), and skips nothing.
    expect(values).toEqual([0, 1, 0, 1, 2]);
    expect(firstMember).toBeDefined();
    expect(events).toEqual(['+1', '-1', '+1', '-1']);
  });
});
