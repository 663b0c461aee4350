import { createHmac } from 'node:crypto';
import { expect } from 'vitest';
import type { ManualClock } from '../../lib/clock.js';
import { measureConsumerLag } from '../../lib/groups/lag.js';
import type { MaintenanceJob, ScheduledJob } from '../../lib/maintenance/report.js';
import { TestMember } from './group-client.js';
import type { CallRecorder } from './recording.js';
import type { TestServer } from './server.js';

/**
 * Workloads that touch every code path of a deployed function, for test/infra/grants.test.ts: what the
 * SDK clients call while they run is what that function's role must allow, and all it may allow.
 */

const HOUR = 60 * 60 * 1000;
let n = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}${n++}`;

async function ok(
  server: TestServer,
  method: string,
  path: string,
  status: number,
  options: Parameters<TestServer['api']>[2] = {},
) {
  const r = await server.api(method, path, options);
  expect(r.status, `${method} ${path}: ${r.text}`).toBe(status);
  return r.json;
}

/**
 * Every route of the API function except `POST /v1/admin/maintenance/{job}` (in AWS the job's function
 * runs that pass): topics, produce (plain, keyed, multi-partition, idempotent and replayed), fetch, offset
 * lookups, a live tail, API keys, consumer groups (join to reset), and webhook sources and deliveries.
 */
export async function apiWorkload(server: TestServer): Promise<void> {
  const topic = unique('api');
  await ok(server, 'POST', '/v1/topics', 201, { body: { name: topic, partitions: 2 } });
  await ok(server, 'GET', '/v1/topics', 200);
  await ok(server, 'GET', `/v1/topics/${topic}`, 200);
  await ok(server, 'PATCH', `/v1/topics/${topic}`, 200, { body: { config: { retentionMs: 2 * HOUR } } });
  await ok(server, 'GET', `/v1/topics/${topic}/partitions`, 200);

  const records = [
    { key: 'a', value: { n: 1 }, headers: { h: 'v' } },
    { value: 'x', partition: 1 },
  ];
  await ok(server, 'POST', `/v1/topics/${topic}/records`, 200, { body: { records } });
  const headers = { 'idempotency-key': unique('key') };
  await ok(server, 'POST', `/v1/topics/${topic}/records`, 200, { body: { records }, headers });
  await ok(server, 'POST', `/v1/topics/${topic}/records`, 200, { body: { records }, headers });
  await ok(server, 'GET', `/v1/topics/${topic}/partitions/0/records?offset=0`, 200);
  await ok(server, 'GET', `/v1/topics/${topic}/partitions/1/records?offset=earliest&waitMs=10`, 200);
  await ok(server, 'GET', `/v1/topics/${topic}/partitions/0/offsets?timestamp=0`, 200);
  const tail = await fetch(`${server.url}/v1/topics/${topic}/partitions/0/records?offset=0`, {
    headers: { authorization: `Bearer ${server.token}`, accept: 'text/event-stream' },
  });
  expect(await tail.text()).toContain('event: record');

  // API keys: minted, used (looked up), listed, revoked.
  const key = await ok(server, 'POST', '/v1/keys', 201, {
    body: { name: 'grants', permissions: [{ topics: topic, actions: ['produce', 'consume'] }] },
  });
  await ok(server, 'POST', `/v1/topics/${topic}/records`, 200, { body: { records }, auth: key.token });
  await ok(server, 'GET', '/v1/keys', 200);
  await ok(server, 'DELETE', `/v1/keys/${key.id}`, 204);

  // Consumer groups: the whole life of a member, then an offset reset.
  const group = unique('grp');
  const member = await new TestMember(server, group, [topic]).join();
  expect((await member.heartbeat()).status).toBe(200);
  const fetched = await member.fetch({ waitMs: 10 });
  expect(fetched.status).toBe(200);
  expect((await member.commit(TestMember.nextOffsets(fetched.json.records))).status).toBe(204);
  await ok(server, 'GET', `/v1/groups/${group}`, 200);
  await ok(server, 'GET', '/v1/groups', 200);
  expect((await member.leave()).status).toBe(204);
  await ok(server, 'POST', `/v1/groups/${group}/offsets/reset`, 200, { body: { to: 'earliest' } });

  // Webhooks: a source, a signed delivery, its duplicate, the source's counters, and its removal.
  const source = unique('src');
  const secret = 'grants-webhook-secret-0123456789';
  await ok(server, 'PUT', `/v1/webhooks/${source}`, 200, {
    body: { topic, verify: { scheme: 'hmac-sha256', secret, header: 'x-signature' } },
  });
  const body = '{"event":"paid"}';
  const signature = createHmac('sha256', secret).update(body).digest('hex');
  for (const status of [202, 200]) {
    await ok(server, 'POST', `/v1/webhooks/${source}`, status, {
      body,
      headers: { 'content-type': 'application/json', 'x-signature': signature },
      auth: null,
    });
  }
  await ok(server, 'GET', `/v1/webhooks/${source}`, 200);
  await ok(server, 'DELETE', `/v1/webhooks/${source}`, 204);

  await ok(server, 'DELETE', `/v1/topics/${topic}`, 204);
}

/**
 * Data on which every maintenance job has work of every kind: small batches to merge, a key-compacted
 * topic whose batches empty out, batches past retention, a deleted topic, orphaned objects, and a group
 * with commits. `run(job)` then runs passes of one job, moving the clock past each age guard and grace.
 */
export async function maintenanceWorkload(
  server: TestServer,
  clock: ManualClock,
  recorder: CallRecorder,
): Promise<Record<ScheduledJob, string[]>> {
  recorder.recording = false;
  const merged = unique('merge');
  await ok(server, 'POST', '/v1/topics', 201, { body: { name: merged, partitions: 1 } });
  const keyed = unique('keyed');
  await ok(server, 'POST', '/v1/topics', 201, {
    body: { name: keyed, partitions: 1, config: { cleanupPolicy: 'compact', deleteRetentionMs: 60_000 } },
  });
  const old = unique('old');
  await ok(server, 'POST', '/v1/topics', 201, {
    body: { name: old, partitions: 1, config: { retentionMs: HOUR } },
  });
  const doomed = unique('doomed');
  await ok(server, 'POST', '/v1/topics', 201, { body: { name: doomed, partitions: 1 } });
  for (let i = 0; i < 4; i++) {
    await ok(server, 'POST', `/v1/topics/${merged}/records`, 200, { body: { records: [{ value: i }] } });
    await ok(server, 'POST', `/v1/topics/${keyed}/records`, 200, {
      body: { records: [{ key: 'k', value: i === 3 ? null : i }] },
    });
    await ok(server, 'POST', `/v1/topics/${old}/records`, 200, { body: { records: [{ value: i }] } });
    await ok(server, 'POST', `/v1/topics/${doomed}/records`, 200, { body: { records: [{ value: i }] } });
  }
  const member = await new TestMember(server, unique('lag'), [merged]).join();
  expect((await member.commit([{ topic: merged, partition: 0, offset: 1 }])).status).toBe(204);
  await ok(server, 'DELETE', `/v1/topics/${doomed}`, 204);

  const seen: Partial<Record<ScheduledJob, string[]>> = {};
  const record = async (job: ScheduledJob, passes: () => Promise<void>) => {
    recorder.calls.clear();
    recorder.recording = true;
    await passes();
    recorder.recording = false;
    seen[job] = [...recorder.calls].sort();
  };
  /**
   * Passes of `job` until one completes. The server stops a pass after each partition
   * (maxPartitionsPerRun 1), so passes save and resume their cursor as a long pass in AWS does.
   */
  const pass = async (job: MaintenanceJob) => {
    const totals = { written: 0, deleted: 0, advanced: 0 };
    for (let i = 0; i < 50; i++) {
      const report = await server.log.maintenance.run(job, { minAgeMs: 0 });
      totals.written += report.objects.written;
      totals.deleted += report.objects.deleted;
      totals.advanced += report.details.logStartOffsetsAdvanced ?? 0;
      if (report.complete) return totals;
    }
    throw new Error(`${job} passes did not complete`);
  };

  await record('compact', async () => {
    expect((await pass('compact')).written).toBeGreaterThan(0);
    clock.advance(2 * HOUR); // tombstones and emptied batches may go now
    await pass('compact');
  });
  await record('retention', async () => {
    expect((await pass('retention')).advanced).toBeGreaterThan(0);
    clock.advance(2 * HOUR);
    await pass('retention');
  });
  await record('gc', async () => {
    await pass('gc'); // marks the objects compaction replaced
    clock.advance(2 * HOUR);
    expect((await pass('gc')).deleted).toBeGreaterThan(0);
  });
  await record('lag', async () => {
    const lags = await measureConsumerLag(server.groups, server.log);
    expect(lags.some((g) => g.committedPartitions > 0)).toBe(true);
  });
  return seen as Record<ScheduledJob, string[]>;
}
