import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/config.js';
import { createMaintenanceRunner } from '../../functions/deps.js';
import type { MaintenanceJob } from '../../lib/maintenance/report.js';
import type { MaintenanceRunner } from '../../lib/maintenance/runner.js';
import { testEndpoints } from '../support/env.js';
import { startLambdaInvokeEmulator } from '../support/lambda-invoke.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Issue 12, item 10 (same instance). SPEC Maintenance: when an admin pass answers, every read the instance
 * that ran it serves reflects it. Before the fix the server that had just answered `recordsDropped: 8`
 * kept serving all 10 records (its cache of the index entries it had committed, 30 s), a read continuing
 * inside a compacted batch was served from the batch entry it remembered, and after a retention pass a
 * read at offset 0 still got the removed records (its topic cache). The caches here are given long
 * lifetimes, so only invalidation by the pass itself can make the reads right. The instance runs its passes
 * itself (the local server), or — as the deployed API function does — has the job's own function run them
 * (here a second instance on the same tables behind a local Lambda Invoke endpoint).
 */
const HOUR = 60 * 60 * 1000;
const LONG_CACHES = { topicCacheTtlMs: 60_000, entryCacheTtlMs: 60_000 };
let local: TestServer;
let deployed: TestServer;
let jobFunction: TestServer;
let emulator: Awaited<ReturnType<typeof startLambdaInvokeEmulator>>;
let server: TestServer;
beforeAll(async () => {
  local = await startTestServer({ log: LONG_CACHES });

  let runner: MaintenanceRunner | undefined;
  deployed = await startTestServer({
    log: LONG_CACHES,
    app: { maintenanceRunner: (job, override) => (runner as MaintenanceRunner)(job, override) },
  });
  jobFunction = await startTestServer({ shareBackendsWith: deployed });
  const job = (event: any) =>
    jobFunction.log.maintenance.run(event.job as MaintenanceJob, {
      maxRunMs: event.maxRunMs,
      minAgeMs: event.minAgeMs,
    });
  emulator = await startLambdaInvokeEmulator({ compact: job, retention: job, gc: job });
  // The deployed API function's wiring, from the variables the stack sets on it.
  runner = createMaintenanceRunner(
    loadConfig({
      AWS_REGION: testEndpoints().region,
      AWS_ENDPOINT_URL_DYNAMODB: testEndpoints().dynamodbEndpoint,
      SLUICE_BUCKET: deployed.bucket,
      SLUICE_TABLE_PREFIX: deployed.tablePrefix,
      AWS_ENDPOINT_URL_LAMBDA: emulator.endpoint,
      SLUICE_COMPACT_FUNCTION: 'compact',
      SLUICE_RETENTION_FUNCTION: 'retention',
      SLUICE_GC_FUNCTION: 'gc',
    }),
    deployed.log,
  );
});
afterAll(async () => {
  await local?.close();
  await deployed?.close();
  await jobFunction?.close();
  await emulator?.close();
});

let n = 0;
async function newTopic(config: Record<string, unknown>): Promise<string> {
  const name = `running.${Date.now().toString(36)}.${n++}`;
  const r = await server.api('POST', '/v1/topics', { body: { name, partitions: 1, config } });
  expect(r.status).toBe(201);
  return name;
}

async function produce(topic: string, records: unknown[]): Promise<void> {
  const r = await server.api('POST', `/v1/topics/${topic}/records`, { body: { records } });
  expect(r.status).toBe(200);
}

async function read(topic: string, offset: number | 'earliest', maxRecords = 1000) {
  return server.api(
    'GET',
    `/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxRecords=${maxRecords}`,
  );
}

async function pass(job: string, body?: unknown): Promise<any> {
  const r = await server.api('POST', `/v1/admin/maintenance/${job}`, body === undefined ? {} : { body });
  expect(r.status).toBe(200);
  return r.json;
}

describe.each([
  ['runs the pass itself (local server)', () => local],
  ["has the job's own function run it (deployed API function)", () => deployed],
])('an admin pass is visible at once on the instance that answered it, which %s', (_, instance) => {
  beforeAll(() => {
    server = instance();
  });

  it('after key compaction answers, the same server serves only the latest record per key', async () => {
    const topic = await newTopic({ cleanupPolicy: 'compact' });
    for (let i = 0; i < 10; i++) await produce(topic, [{ key: `k${i % 2}`, value: i }]);
    expect((await read(topic, 0)).json.records).toHaveLength(10);

    const report = await pass('compact', { minAgeMs: 0 });
    expect(report.details.recordsDropped).toBe(8);

    const after = await read(topic, 0);
    expect(after.status).toBe(200);
    expect(after.json.records.map((r: any) => [r.offset, r.key, r.value])).toEqual([
      [8, 'k0', 8],
      [9, 'k1', 9],
    ]);
  });

  it('a read that continues inside a compacted batch gets the compacted batch', async () => {
    const topic = await newTopic({ cleanupPolicy: 'compact' });
    await produce(topic, [
      { key: 'a', value: 0 },
      { key: 'a', value: 1 },
      { key: 'a', value: 2 },
      { key: 'b', value: 3 },
    ]);
    await produce(topic, [{ key: 'c', value: 4 }]);
    // The read stops inside the first batch: the server remembers that batch for the next read.
    expect((await read(topic, 0, 1)).json.records.map((r: any) => r.offset)).toEqual([0]);

    expect((await pass('compact', { minAgeMs: 0 })).details.recordsDropped).toBe(2);

    const after = await read(topic, 1);
    expect(after.json.records.map((r: any) => [r.offset, r.value])).toEqual([
      [2, 2],
      [3, 3],
      [4, 4],
    ]);
  });

  it('after retention advanced the log start, a read below it is 416 and earliest starts there', async () => {
    const topic = await newTopic({ retentionMs: HOUR });
    const now = Date.now();
    for (let i = 0; i < 3; i++) await produce(topic, [{ value: `old-${i}`, timestamp: now - 3 * HOUR }]);
    await produce(topic, [{ value: 'new', timestamp: now }]);
    expect((await read(topic, 0)).json.records).toHaveLength(4); // the topic (log start 0) is now cached

    expect((await pass('retention')).details.logStartOffsetsAdvanced).toBeGreaterThanOrEqual(1);

    const below = await read(topic, 0);
    expect(below.status).toBe(416);
    expect(below.json).toMatchObject({ code: 'OFFSET_OUT_OF_RANGE', logStartOffset: 3, highWatermark: 4 });
    const earliest = await read(topic, 'earliest');
    expect(earliest.json.records.map((r: any) => r.value)).toEqual(['new']);
    expect(earliest.json.logStartOffset).toBe(3);
  });
});
