import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestMember } from '../support/group-client.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The acceptance scenario for consumer groups: 4 members consume 100,000 records (produced while they
 * consume) while members join, leave and crash. Every record must be processed at least once, and the
 * group must end with its committed offsets at the high watermarks.
 */
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ log: { pollIntervalMs: 50 } });
});
afterAll(async () => {
  await server?.close();
});

const PARTITIONS = 8;
const TOTAL = 100_000;
const PER_REQUEST = 1_000;

describe('consumer group at scale, with churn', () => {
  it('4 members process 100,000 records at least once while members join, leave and crash', async () => {
    const topic = `gscale${Date.now().toString(36)}`;
    expect(
      (await server.api('POST', '/v1/topics', { body: { name: topic, partitions: PARTITIONS } })).status,
    ).toBe(201);
    const group = `gs${Date.now().toString(36)}`;
    const seen = new Set<string>();
    let deliveries = 0;
    let rebalances = 0;
    let fenced = 0;

    /** A member's poll loop, as a client would write it: fetch, process, commit; recover on 409 and 404. */
    const consume = async (member: TestMember, stop: { now: boolean }): Promise<void> => {
      while (!stop.now) {
        const r = await member.fetch({ maxRecords: 2_000, waitMs: 100 });
        if (r.status === 404) {
          await member.join();
          continue;
        }
        if (r.status === 409) {
          rebalances++;
          await member.refresh();
          member.cursor = undefined;
          continue;
        }
        expect(r.status).toBe(200);
        if (stop.now) return; // a crash: these records are never committed
        for (const record of r.json.records) {
          seen.add(`${record.partition}:${record.offset}`);
          deliveries++;
        }
        if (r.json.records.length === 0) continue;
        const c = await member.commit(TestMember.nextOffsets(r.json.records), r.json.generation);
        if (c.status === 409) {
          fenced++;
          await member.refresh().catch(() => undefined);
          member.cursor = undefined;
        } else if (c.status === 404) {
          await member.join();
        } else {
          expect(c.status).toBe(204);
        }
      }
    };

    const running: Array<{ member: TestMember; stop: { now: boolean }; done: Promise<void> }> = [];
    const start = async (sessionTimeoutMs = 10_000) => {
      const member = await new TestMember(server, group, [topic], { sessionTimeoutMs }).join();
      const stop = { now: false };
      const entry = { member, stop, done: consume(member, stop) };
      running.push(entry);
      return entry;
    };

    // Four members, then the producers.
    for (let i = 0; i < 4; i++) await start(i === 3 ? 2_000 : 10_000);
    const produce = (async () => {
      const requests = TOTAL / PER_REQUEST;
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < requests; i = next++) {
          const records = Array.from({ length: PER_REQUEST }, (_, j) => ({
            key: `k${(i * PER_REQUEST + j) % 997}`,
            value: i * PER_REQUEST + j,
          }));
          const r = await server.api('POST', `/v1/topics/${topic}/records`, { body: { records } });
          expect(r.status).toBe(200);
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
    })();

    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // Churn while records flow: a fifth member joins and later leaves; one member leaves and is replaced;
    // one (session 2 s) crashes without leaving and is replaced after its session runs out.
    await sleep(500);
    const fifth = await start();
    await sleep(700);
    const leaver = running[1];
    if (!leaver) throw new Error('no member 1');
    leaver.stop.now = true;
    await leaver.done;
    expect((await leaver.member.leave()).status).toBe(204);
    await start();
    await sleep(500);
    const crasher = running[3];
    if (!crasher) throw new Error('no member 3');
    crasher.stop.now = true; // stops mid-poll; never commits what it read, never leaves
    await crasher.done;
    await start();
    await sleep(500);
    fifth.stop.now = true;
    await fifth.done;
    expect((await fifth.member.leave()).status).toBe(204);

    await produce;
    // Run until the group has committed everything (bounded).
    const deadline = Date.now() + 90_000;
    let described: any;
    for (;;) {
      described = (await server.api('GET', `/v1/groups/${group}`)).json;
      const done =
        described.offsets.length === PARTITIONS &&
        described.offsets.every((o: any) => o.committedOffset === o.highWatermark);
      if (done || Date.now() > deadline) break;
      await sleep(200);
    }
    for (const entry of running) entry.stop.now = true;
    await Promise.all(running.map((e) => e.done));

    const highWatermarks = described.offsets.map((o: any) => o.highWatermark);
    expect(highWatermarks.reduce((a: number, b: number) => a + b, 0)).toBe(TOTAL);
    for (const o of described.offsets) {
      expect(o.committedOffset).toBe(o.highWatermark);
      expect(o.lag).toBe(0);
    }
    // Every offset of every partition was processed at least once.
    expect(seen.size).toBe(TOTAL);
    for (const o of described.offsets) {
      for (let offset = 0; offset < o.highWatermark; offset++) {
        if (!seen.has(`${o.partition}:${offset}`))
          throw new Error(`offset ${o.partition}:${offset} was skipped`);
      }
    }
    expect(deliveries).toBeGreaterThanOrEqual(TOTAL);
    // The churn did cause rebalances that members had to recover from.
    expect(described.generation).toBeGreaterThanOrEqual(8);
    console.info(
      `groups-scale: ${TOTAL} records, ${deliveries} deliveries (${deliveries - TOTAL} redelivered), ` +
        `generation ${described.generation}, ${rebalances} rebalance answers, ${fenced} fenced commits`,
    );
  }, 180_000);
});
