import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import type { ScheduledJob } from '../../lib/maintenance/report.js';
import { CallRecorder } from '../support/recording.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { namedGrants, type Synthesized, synth } from '../support/synth.js';
import { apiWorkload, maintenanceWorkload } from '../support/workloads.js';

/**
 * Each role's S3 and DynamoDB grants are exactly what its function's code calls: every code path of the
 * function runs against the emulators with a recorder on its SDK clients, and the actions it needed (as
 * IAM authorises them) must equal the actions the synthesized role allows, per bucket, objects and table.
 * A missing grant would fail in AWS at run time (which no test here can reach); an extra one is privilege
 * nothing uses. Logs, the admin token secret and function invocations are checked in stack.test.ts.
 */

const DATA = new Set(['objects', 'bucket', 'metadata', 'index']);

/** The role's grants on the bucket, its objects and the tables. */
function dataGrants(synthesized: Synthesized, fn: Parameters<typeof namedGrants>[1]) {
  return Object.fromEntries(Object.entries(namedGrants(synthesized, fn)).filter(([name]) => DATA.has(name)));
}

const synthesized = synth();
const servers: TestServer[] = [];
let apiCalls: Record<string, string[]>;
let jobCalls: Record<ScheduledJob, Record<string, string[]>>;

const namesOf = (server: TestServer) => ({
  metadata: `${server.tablePrefix}metadata`,
  index: `${server.tablePrefix}index`,
  bucket: server.bucket,
});

beforeAll(async () => {
  // The API's routes, reading segments from S3 (no cache of what it wrote) as a cold Lambda instance does.
  const recorder = new CallRecorder();
  const api = await startTestServer({
    recorder,
    log: { lingerMs: 0, readCacheBytes: 0 },
    app: { sseMaxDurationMs: 300, sseHeartbeatMs: 100 },
  });
  servers.push(api);
  await apiWorkload(api);
  apiCalls = recorder.byResource(namesOf(api));

  // Each job's passes on data that gives each kind of work, on a manual clock to pass every age guard.
  const clock = new ManualClock(Date.now());
  const jobsRecorder = new CallRecorder();
  const jobs = await startTestServer({
    recorder: jobsRecorder,
    clock,
    ownBucket: true,
    log: { lingerMs: 0, topicCacheTtlMs: 0 },
    maintenance: { gcGraceMs: 60 * 60 * 1000, maxPartitionsPerRun: 1 },
  });
  servers.push(jobs);
  const seen = await maintenanceWorkload(jobs, clock, jobsRecorder);
  jobCalls = Object.fromEntries(
    Object.entries(seen).map(([job, calls]) => {
      const only = new CallRecorder();
      for (const call of calls) only.calls.add(call);
      return [job, only.byResource(namesOf(jobs))];
    }),
  ) as typeof jobCalls;
}, 120_000);

afterAll(async () => {
  for (const server of servers) await server.close();
});

describe('IAM grants equal the calls each function makes', () => {
  it('the API function', () => {
    expect(dataGrants(synthesized, synthesized.stack.apiFunction)).toEqual(apiCalls);
  });

  it.each(['compact', 'retention', 'gc'] as const)('the %s function', (job) => {
    expect(dataGrants(synthesized, synthesized.stack.jobFunctions[job])).toEqual(jobCalls[job]);
  });

  it('the lag function', () => {
    const lag = synthesized.stack.lagFunction;
    expect(lag).toBeDefined();
    expect(dataGrants(synthesized, lag as NonNullable<typeof lag>)).toEqual(jobCalls.lag);
  });
});
