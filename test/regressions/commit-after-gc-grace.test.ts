import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/config.js';
import { ManualClock } from '../../lib/clock.js';
import { SEGMENT_PREFIX } from '../../lib/storage/segment-store.js';
import { CommitFaults } from '../support/dynamodb-faults.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * SPEC §1.10 (no dangling pointers) and §1.1 (an acknowledged record is readable): a produce whose commit
 * stalled (DynamoDB unreachable for this instance, its ambiguous failures retried) kept retrying with no
 * deadline; GC, its grace over, deleted the unreferenced object; then the commit landed and the produce
 * answered 200, and cold readers got 500 for those offsets. Now no commit attempt starts later than
 * maxCommitDelayMs after its object's put began, and GC's grace must be at least 2 × that + 60 s, so an
 * object GC deletes is never referenced by a later commit (docs/ARCHITECTURE.md §4.3, §10.4).
 */
const MAX_COMMIT_DELAY = 60_000;
const GRACE = 3 * 60_000; // 2 × 60 s + 60 s: the shortest grace allowed with that bound
const clock = new ManualClock(Date.now());
const faults = new CommitFaults();
let writer: TestServer;
let cold: TestServer;
beforeAll(async () => {
  writer = await startTestServer({
    clock,
    ownBucket: true,
    log: { lingerMs: 0, topicCacheTtlMs: 0, maxCommitDelayMs: MAX_COMMIT_DELAY },
    maintenance: { gcGraceMs: GRACE },
    dynamodbMiddleware: (client) => faults.attach(client),
  });
  cold = await startTestServer({
    clock,
    shareBackendsWith: writer,
    log: { lingerMs: 0, topicCacheTtlMs: 0, maxCommitDelayMs: MAX_COMMIT_DELAY },
    maintenance: { gcGraceMs: GRACE },
  });
});
afterAll(async () => {
  await cold?.close();
  await writer?.close();
});

async function objectKeys(): Promise<Set<string>> {
  const keys = new Set<string>();
  for await (const o of writer.store.list(SEGMENT_PREFIX)) keys.add(o.key);
  return keys;
}

describe('a produce whose commit stalls past GC’s grace', () => {
  it('is never acknowledged, and GC deletes no object a committed entry references', async () => {
    const topic = `stall.${Date.now().toString(36)}`;
    expect((await writer.api('POST', '/v1/topics', { body: { name: topic } })).status).toBe(201);
    expect(
      (await writer.api('POST', `/v1/topics/${topic}/records`, { body: { records: [{ value: 'a' }] } }))
        .status,
    ).toBe(200);

    // DynamoDB stops answering this instance's commits. While the produce retries, GC (on its own
    // schedule) finds the new object unreferenced, and a grace period later deletes it; then DynamoDB
    // answers again.
    faults.unreachable = true;
    faults.onCommit = async () => {
      if (!faults.unreachable) return;
      await writer.log.maintenance.run('gc');
      clock.advance(GRACE + 1);
      const report = await writer.log.maintenance.run('gc');
      expect(report.objects.deleted).toBe(1);
      faults.unreachable = false;
    };
    let answer: Awaited<ReturnType<TestServer['api']>>;
    try {
      answer = await writer.api('POST', `/v1/topics/${topic}/records`, {
        body: { records: [{ value: 'b' }] },
      });
    } finally {
      faults.unreachable = false;
      faults.onCommit = undefined;
    }
    // Not acknowledged. The last attempt's outcome was unknown, so the answer claims nothing either way.
    expect(answer.status).not.toBe(200);
    expect(answer.json.code).toBe('INTERNAL');

    // Every entry of the partition points to an object that exists, and a cold instance reads them all.
    const objects = await objectKeys();
    for await (const entry of writer.metadata.listEntries(
      { topicId: (await writer.metadata.getTopic(topic, { consistent: true }))?.topicId ?? '', partition: 0 },
      0,
    )) {
      expect(objects.has(entry.objectKey)).toBe(true);
    }
    const read = await cold.api('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`);
    expect(read.status).toBe(200);
    expect(read.json.records.map((r: any) => r.value)).toEqual(['a']);
  });

  it('the configuration refuses a GC grace shorter than 2 × SLUICE_MAX_COMMIT_DELAY_MS + 60 s', () => {
    const base = { SLUICE_ADMIN_TOKEN: 'x'.repeat(32) };
    expect(() =>
      loadConfig({ ...base, SLUICE_MAX_COMMIT_DELAY_MS: '600000', SLUICE_GC_GRACE_MS: '1200000' }),
    ).toThrow(
      /SLUICE_GC_GRACE_MS \(1200000\) must be at least 2 × SLUICE_MAX_COMMIT_DELAY_MS \(600000\) \+ 60000 ms = 1260000/,
    );
    const ok = loadConfig({ ...base, SLUICE_MAX_COMMIT_DELAY_MS: '600000', SLUICE_GC_GRACE_MS: '1260000' });
    expect(ok.log.maxCommitDelayMs).toBe(600_000);
    expect(ok.maintenance.gcGraceMs).toBe(1_260_000);
    // The defaults satisfy it: 1 h ≥ 2 × 5 min + 60 s.
    expect(() => loadConfig(base)).not.toThrow();
  });
});
