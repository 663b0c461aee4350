import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { testEndpoints } from '../support/env.js';
import { TestMember } from '../support/group-client.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * functions/maintenance.ts itself, the handler the deployed schedules invoke, configured the way the stack
 * configures it (environment variables only) and pointed at a test server's tables and bucket in the
 * emulators. Not the gc job: it is tested in maintenance.test.ts with a manual clock.
 */
let server: TestServer;
let handler: (event: { job?: unknown }) => Promise<any>;
const ENV: Record<string, string> = {};
const saved: Record<string, string | undefined> = {};
const written: string[] = [];

beforeAll(async () => {
  server = await startTestServer({ ownBucket: true });
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
});
afterAll(async () => {
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

  it.each([{}, { job: 'vacuum' }, { job: 7 }])('refuses an event that names no job: %j', async (event) => {
    await expect(handler(event)).rejects.toThrow(/the event must name a job \(compact, retention, gc, lag\)/);
  });
});
