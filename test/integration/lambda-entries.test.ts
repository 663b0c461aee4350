import type { Writable } from 'node:stream';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../functions/config.js';
import { createMaintenanceRunner } from '../../functions/deps.js';
import { lambdaRunner } from '../../functions/lambda-runner.js';
import type { MaintenanceRunner } from '../../lib/maintenance/runner.js';
import { testEndpoints } from '../support/env.js';
import { TestMember } from '../support/group-client.js';
import { lambdaEvent, responseStream, stubAwsLambdaGlobals } from '../support/lambda-event.js';
import { startLambdaInvokeEmulator } from '../support/lambda-invoke.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The two Lambda entry files themselves, functions/maintenance.ts and functions/lambda.ts, configured the way
 * the stack configures them (environment variables only) and pointed at a test server's tables and bucket
 * (its own: GC runs here) in the emulators. The API's admin passes run the way the deployed API function
 * runs them: the SDK's LambdaClient invoking the job's function, here behind a local Invoke endpoint that
 * runs the real maintenance handler. Lambda's runtime globals for response streaming are stubbed.
 */
let server: TestServer;
let handler: (event: unknown) => Promise<any>;
let emulator: Awaited<ReturnType<typeof startLambdaInvokeEmulator>>;
const ENV: Record<string, string> = {};
const saved: Record<string, string | undefined> = {};
const written: string[] = [];
/** Set once the emulator runs; the server's admin route calls through it. */
let runner: MaintenanceRunner | undefined;
type StreamingHandler = (event: unknown, stream: Writable, context: unknown) => Promise<void>;
let apiHandler: StreamingHandler;
let globals: { restore(): void } | undefined;

/** One invocation of functions/lambda.ts's handler, as a function URL with response streaming makes it. */
async function invokeApi(
  method: string,
  path: string,
  options: { body?: unknown; query?: string; token?: string } = {},
): Promise<{ status: number | undefined; json: any }> {
  const stream = responseStream();
  const event = lambdaEvent(method, path, { ...options, token: options.token ?? server.token });
  await apiHandler(event, stream, { getRemainingTimeInMillis: () => 30_000 });
  const text = stream.text();
  return { status: stream.metadata?.statusCode, json: text === '' ? undefined : JSON.parse(text) };
}

beforeAll(async () => {
  emulator = await startLambdaInvokeEmulator({
    'sluice-compact': (event) => handler(event),
    'sluice-retention': (event) => handler(event),
    'sluice-gc': (event) => handler(event),
    'sluice-broken': async () => {
      throw new TypeError('boom');
    },
    'sluice-confused': async () => ({ job: 'gc' }),
  });
  server = await startTestServer({
    ownBucket: true,
    app: {
      maintenanceRunner: (job, override) => {
        if (!runner) throw new Error('no runner yet');
        return runner(job, override);
      },
    },
  });
  const endpoints = testEndpoints();
  Object.assign(ENV, {
    SLUICE_BUCKET: server.bucket,
    SLUICE_TABLE_PREFIX: server.tablePrefix,
    AWS_ENDPOINT_URL_S3: endpoints.s3Endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodbEndpoint,
    AWS_REGION: endpoints.region,
    SLUICE_METRICS: 'emf',
    SLUICE_METRICS_SERVICE: 'handler-test',
  });
  for (const [key, value] of Object.entries(ENV)) {
    saved[key] = process.env[key];
    process.env[key] = value;
  }
  ({ handler } = await import('../../functions/maintenance.js'));
  // The API function's entry, with what the stack adds to its environment (the admin token comes from
  // Secrets Manager there; here from SLUICE_ADMIN_TOKEN, which resolveAdminToken reads first).
  const apiEnv = {
    SLUICE_ADMIN_TOKEN: server.token,
    AWS_ENDPOINT_URL_LAMBDA: emulator.endpoint,
    SLUICE_COMPACT_FUNCTION: 'sluice-compact',
    SLUICE_RETENTION_FUNCTION: 'sluice-retention',
    SLUICE_GC_FUNCTION: 'sluice-gc',
  };
  for (const [key, value] of Object.entries(apiEnv)) {
    saved[key] = process.env[key];
    process.env[key] = value;
  }
  globals = stubAwsLambdaGlobals();
  apiHandler = (await import('../../functions/lambda.js')).handler as unknown as StreamingHandler;
  // The API function's wiring, from the variables the stack sets on it.
  runner = createMaintenanceRunner(
    loadConfig({
      ...ENV,
      AWS_ENDPOINT_URL_LAMBDA: emulator.endpoint,
      SLUICE_COMPACT_FUNCTION: 'sluice-compact',
      SLUICE_RETENTION_FUNCTION: 'sluice-retention',
      SLUICE_GC_FUNCTION: 'sluice-gc',
    }),
    server.log,
  );
});
afterAll(async () => {
  globals?.restore();
  await emulator?.close();
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  await server?.close();
});

/** Runs `fn`, collecting what it writes to standard output and logs (both reach CloudWatch Logs in Lambda). */
async function capturingStdout<T>(fn: () => Promise<T>): Promise<T> {
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
    written.push(String(chunk));
    return true;
  });
  // Log lines go through console.log (which Lambda prefixes with the time and request id; EMF must not be).
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    written.push(`${args.map(String).join(' ')}\n`);
  });
  try {
    return await fn();
  } finally {
    spy.mockRestore();
    log.mockRestore();
  }
}

describe('the maintenance function handler', () => {
  it('measures consumer lag for { job: "lag" } and writes it as EMF lines', async () => {
    const topic = `mh${Date.now().toString(36)}`;
    expect((await server.api('POST', '/v1/topics', { body: { name: topic, partitions: 2 } })).status).toBe(
      201,
    );
    const records = Array.from({ length: 7 }, (_, i) => ({ partition: i % 2, value: i }));
    expect((await server.api('POST', `/v1/topics/${topic}/records`, { body: { records } })).status).toBe(200);
    const member = await new TestMember(server, `grp-${topic}`, [topic]).join();
    expect((await member.commit([{ topic, partition: 0, offset: 1 }])).status).toBe(204);

    written.length = 0;
    const report = await capturingStdout(() => handler({ job: 'lag' }));
    expect(report).toMatchObject({
      job: 'lag',
      metricLines: 2,
      groups: [
        {
          group: member.group,
          lag: 3, // partition 0 holds offsets 0..3; committed 1
          maxPartitionLag: 3,
          committedPartitions: 1,
          topics: [{ topic, partitions: 2, committedPartitions: 1, lag: 3, maxPartitionLag: 3 }],
        },
      ],
    });
    const lines = written
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const emf = lines.filter((l) => l._aws !== undefined);
    expect(emf).toHaveLength(2);
    for (const line of emf) {
      expect(line).toMatchObject({
        service: 'handler-test',
        group: member.group,
        ConsumerLag: 3,
        ConsumerLagMax: 3,
      });
      expect(line._aws.CloudWatchMetrics[0].Namespace).toBe('Sluice');
    }
    expect(lines.find((l) => l.event === 'sluice.lag')).toMatchObject({ groups: 1, metricLines: 2 });
  });

  it('runs a compaction pass for { job: "compact" } and answers its report', async () => {
    const report = await capturingStdout(() => handler({ job: 'compact' }));
    expect(report).toMatchObject({ job: 'compact', complete: true });
  });

  it.each([{}, { job: 'vacuum' }, { job: 7 }, null])(
    'refuses an event that names no job: %j',
    async (event) => {
      await expect(handler(event)).rejects.toThrow(
        /the event must name a job \(compact, retention, gc, lag\)/,
      );
    },
  );
});

describe('admin passes in AWS: the API function invokes the job function', () => {
  it('POST /v1/admin/maintenance/compact runs the pass in the compact function, with the 20 s budget', async () => {
    const topic = `ma${Date.now().toString(36)}`;
    expect((await server.api('POST', '/v1/topics', { body: { name: topic, partitions: 1 } })).status).toBe(
      201,
    );
    for (let i = 0; i < 3; i++) {
      const r = await server.api('POST', `/v1/topics/${topic}/records`, {
        body: { records: [{ value: i }] },
      });
      expect(r.status).toBe(200);
    }
    const before = emulator.invocations.length;
    const r = await capturingStdout(() =>
      server.api('POST', '/v1/admin/maintenance/compact', { body: { minAgeMs: 0 } }),
    );
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ job: 'compact', complete: true });
    expect(r.json.objects.written).toBeGreaterThanOrEqual(1); // the indexed batches of the commit chain
    expect(emulator.invocations.slice(before)).toEqual([
      { functionName: 'sluice-compact', event: { job: 'compact', maxRunMs: 20_000, minAgeMs: 0 } },
    ]);
    const fetched = await server.api('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`);
    expect(fetched.json.records.map((x: any) => x.value)).toEqual([0, 1, 2]);
  });

  it('POST /v1/admin/maintenance/gc and retention go to their own functions', async () => {
    for (const job of ['gc', 'retention'] as const) {
      const before = emulator.invocations.length;
      const r = await capturingStdout(() => server.api('POST', `/v1/admin/maintenance/${job}`));
      expect(r.status).toBe(200);
      expect(r.json.job).toBe(job);
      expect(emulator.invocations.slice(before)).toEqual([
        { functionName: `sluice-${job}`, event: { job, maxRunMs: 20_000 } },
      ]);
    }
  });

  it("turns a function error or a wrong answer into an error naming the job and the function's message", async () => {
    const client = new LambdaClient({
      endpoint: emulator.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      const broken = lambdaRunner(client, {
        compact: 'sluice-broken',
        retention: 'sluice-confused',
        gc: 'nope',
      });
      await expect(broken('compact', {})).rejects.toThrow(/the compact function failed \(Unhandled\): boom/);
      await expect(broken('retention', {})).rejects.toThrow(
        /answered something other than a retention report/,
      );
      await expect(broken('gc', {})).rejects.toThrow(/Function not found: nope/);
    } finally {
      client.destroy();
    }
  });

  it('refuses a partial set of function names', () => {
    expect(() => loadConfig({ SLUICE_COMPACT_FUNCTION: 'c', SLUICE_GC_FUNCTION: 'g' })).toThrow(
      /set all of SLUICE_COMPACT_FUNCTION, SLUICE_RETENTION_FUNCTION and SLUICE_GC_FUNCTION, or none/,
    );
  });

  it('refuses events it cannot run: a bad budget, minAgeMs for another job, an unknown field', async () => {
    await expect(handler({ job: 'compact', maxRunMs: 0 })).rejects.toThrow(/maxRunMs/);
    await expect(handler({ job: 'gc', minAgeMs: 0 })).rejects.toThrow(
      /minAgeMs applies to the compact job only/,
    );
    await expect(handler({ job: 'gc', budget: 5 })).rejects.toThrow(/budget/);
  });
});

describe('admin passes in process', () => {
  it('stop at their budget and say so (complete: false); the next pass resumes', async () => {
    const bounded = await startTestServer({ app: { adminPassMaxMs: 0 } });
    try {
      const topic = `mb${Date.now().toString(36)}`;
      await bounded.api('POST', '/v1/topics', { body: { name: topic, partitions: 2 } });
      await bounded.api('POST', `/v1/topics/${topic}/records`, { body: { records: [{ value: 1 }] } });
      const r = await capturingStdout(() =>
        bounded.api('POST', '/v1/admin/maintenance/compact', { body: { minAgeMs: 0 } }),
      );
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ job: 'compact', complete: false });
    } finally {
      await bounded.close();
    }
  });
});

describe('functions/lambda.ts, the API function', () => {
  it('serves produce and fetch, and writes their counts as EMF lines inside the invocation', async () => {
    const topic = `le${Date.now().toString(36)}`;
    expect((await invokeApi('POST', '/v1/topics', { body: { name: topic, partitions: 1 } })).status).toBe(
      201,
    );
    written.length = 0;
    const produced = await capturingStdout(() =>
      invokeApi('POST', `/v1/topics/${topic}/records`, {
        body: { records: [{ value: 'abc' }, { value: 'de' }] },
      }),
    );
    expect(produced.status).toBe(200);
    const fetched = await capturingStdout(() =>
      invokeApi('GET', `/v1/topics/${topic}/partitions/0/records`, { query: 'offset=0' }),
    );
    expect(fetched.json.records).toHaveLength(2);
    const emf = written
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l._aws !== undefined);
    expect(emf).toEqual([
      expect.objectContaining({ service: 'handler-test', topic, ProducedRecords: 2, ProducedBytes: 9 }),
      expect.objectContaining({ service: 'handler-test', topic, FetchedRecords: 2, FetchedBytes: 9 }),
    ]);
  });

  it('runs POST /v1/admin/maintenance/{job} in the job function, and only for the admin token', async () => {
    const before = emulator.invocations.length;
    const r = await capturingStdout(() => invokeApi('POST', '/v1/admin/maintenance/retention', { body: {} }));
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.job).toBe('retention');
    expect(emulator.invocations.slice(before)).toEqual([
      { functionName: 'sluice-retention', event: { job: 'retention', maxRunMs: 20_000 } },
    ]);
    const denied = await invokeApi('POST', '/v1/admin/maintenance/gc', {
      token: 'not-the-admin-token-at-all',
    });
    expect(denied.status).toBe(401);
    expect(emulator.invocations).toHaveLength(before + 1);
  });
});
