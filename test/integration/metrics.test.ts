import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { measureConsumerLag, publishConsumerLag } from '../../lib/groups/lag.js';
import { EmfMetrics, EmfWriter } from '../../lib/metrics/metrics.js';
import { TestMember } from '../support/group-client.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The metrics the deployed stack's dashboard shows, produced by the real code paths over HTTP against
 * DynamoDB Local and the S3 emulator: produce/fetch counts written as EMF lines when each request ends, and
 * consumer lag measured from the group items and the partitions' high watermarks.
 */

/** An EMF line as CloudWatch reads it. */
interface EmfLine {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: string; Unit: string }>;
    }>;
  };
  [key: string]: unknown;
}

const lines: EmfLine[] = [];
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({
    log: { lingerMs: 0, topicCacheTtlMs: 0 },
    metrics: new EmfMetrics({
      namespace: 'SluiceTest',
      service: 'metrics-test',
      write: (line) => lines.push(JSON.parse(line)),
    }),
    app: { sseMaxDurationMs: 400, sseHeartbeatMs: 100 },
  });
});
afterAll(async () => {
  await server?.close();
});
beforeEach(() => {
  lines.length = 0;
});

let n = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}.${n++}`;

async function newTopic(partitions: number): Promise<string> {
  const name = unique('m');
  expect((await server.api('POST', '/v1/topics', { body: { name, partitions } })).status).toBe(201);
  lines.length = 0;
  return name;
}

/** The metric values of a line, checking that every declared metric is there as a number. */
function valuesOf(line: EmfLine): Record<string, number> {
  const [directive] = line._aws.CloudWatchMetrics;
  if (!directive) throw new Error('no CloudWatchMetrics directive');
  const values: Record<string, number> = {};
  for (const metric of directive.Metrics) {
    const value = line[metric.Name];
    expect(typeof value, metric.Name).toBe('number');
    values[metric.Name] = value as number;
  }
  return values;
}

describe('produce and fetch counts (EMF)', () => {
  it('a produce writes one line for its topic, under {service, topic} and {service}', async () => {
    const topic = await newTopic(2);
    const r = await server.api('POST', `/v1/topics/${topic}/records`, {
      body: {
        format: 'text',
        records: [
          { key: 'k1', value: 'hello', headers: { h: 'xy' } }, // 2 + 5 + 1 + 2 = 10 bytes
          { value: 'abc' }, // 3 bytes
          { key: 'k2', value: 'de', partition: 1 }, // 4 bytes
        ],
      },
    });
    expect(r.status).toBe(200);
    expect(lines).toHaveLength(1);
    const [line] = lines as [EmfLine];
    expect(line._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: 'SluiceTest',
        Dimensions: [['service', 'topic'], ['service']],
        Metrics: [
          { Name: 'ProducedRecords', Unit: 'Count' },
          { Name: 'ProducedBytes', Unit: 'Bytes' },
        ],
      },
    ]);
    expect(line.service).toBe('metrics-test');
    expect(line.topic).toBe(topic);
    expect(valuesOf(line)).toEqual({ ProducedRecords: 3, ProducedBytes: 17 });
    expect(Math.abs(line._aws.Timestamp - Date.now())).toBeLessThan(60_000);
  });

  it('a fetch counts the records it returns, with the same byte measure; an empty long-poll writes nothing', async () => {
    const topic = await newTopic(1);
    await server.api('POST', `/v1/topics/${topic}/records`, {
      body: {
        format: 'text',
        records: [{ key: 'k1', value: 'hello', headers: { h: 'xy' } }, { value: 'abc' }],
      },
    });
    lines.length = 0;
    const r = await server.api('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`);
    expect(r.status).toBe(200);
    expect(r.json.records).toHaveLength(2);
    expect(lines).toHaveLength(1);
    expect(valuesOf(lines[0] as EmfLine)).toEqual({ FetchedRecords: 2, FetchedBytes: 13 });

    lines.length = 0;
    const empty = await server.api('GET', `/v1/topics/${topic}/partitions/0/records?offset=2&waitMs=50`);
    expect(empty.status).toBe(200);
    expect(empty.json.records).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('a replayed idempotent produce appends nothing and counts nothing', async () => {
    const topic = await newTopic(1);
    const body = { format: 'text', records: [{ value: 'once' }] };
    const headers = { 'idempotency-key': unique('key') };
    expect((await server.api('POST', `/v1/topics/${topic}/records`, { body, headers })).status).toBe(200);
    expect(lines).toHaveLength(1);
    lines.length = 0;
    const replay = await server.api('POST', `/v1/topics/${topic}/records`, { body, headers });
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(lines).toEqual([]);
  });

  it('rejected requests count nothing', async () => {
    const topic = await newTopic(1);
    const bad = await server.api('POST', `/v1/topics/${topic}/records`, {
      body: { records: [{ value: 1, partition: 7 }] },
    });
    expect(bad.status).toBe(404);
    const invalid = await server.api('POST', `/v1/topics/${topic}/records`, { body: { records: 'x' } });
    expect(invalid.status).toBe(400);
    const out = await server.api('GET', `/v1/topics/${topic}/partitions/0/records?offset=5`);
    expect(out.status).toBe(416);
    expect(lines).toEqual([]);
  });

  it("a group member's fetch writes one line per topic it read", async () => {
    const [a, b] = [await newTopic(1), await newTopic(1)];
    for (const [topic, count] of [
      [a, 2],
      [b, 3],
    ] as const) {
      const records = Array.from({ length: count }, (_, i) => ({ value: `v${i}` }));
      await server.api('POST', `/v1/topics/${topic}/records`, { body: { format: 'text', records } });
    }
    const member = await new TestMember(server, unique('grp'), [a, b]).join();
    lines.length = 0;
    const r = await member.fetch();
    expect(r.status).toBe(200);
    expect(r.json.records).toHaveLength(5);
    const byTopic = Object.fromEntries(lines.map((l) => [l.topic, valuesOf(l)]));
    expect(byTopic).toEqual({
      [a]: { FetchedRecords: 2, FetchedBytes: 4 },
      [b]: { FetchedRecords: 3, FetchedBytes: 6 },
    });
  });

  it('a live tail counts what it streamed and publishes when the stream ends', async () => {
    const topic = await newTopic(1);
    await server.api('POST', `/v1/topics/${topic}/records`, {
      body: { format: 'text', records: [{ value: 'one' }, { value: 'two' }] },
    });
    lines.length = 0;
    const response = await fetch(`${server.url}/v1/topics/${topic}/partitions/0/records?offset=0`, {
      headers: { authorization: `Bearer ${server.token}`, accept: 'text/event-stream' },
    });
    const body = await response.text(); // the server ends the stream after sseMaxDurationMs
    expect(body.match(/^event: record$/gm)).toHaveLength(2);
    const fetched = lines.map(valuesOf).reduce((sum, v) => sum + (v.FetchedRecords ?? 0), 0);
    expect(fetched).toBe(2);
    expect(lines.every((l) => l.topic === topic)).toBe(true);
  });
});

describe('consumer lag', () => {
  it('sums committed partitions per group and topic, shares nothing between groups, and skips what is unknown', async () => {
    const topic = await newTopic(2);
    const other = await newTopic(1);
    const produce = (t: string, partition: number, count: number) =>
      server.api('POST', `/v1/topics/${t}/records`, {
        body: { format: 'text', records: Array.from({ length: count }, () => ({ partition, value: 'x' })) },
      });
    await produce(topic, 0, 5);
    await produce(topic, 1, 3);
    await produce(other, 0, 4);

    // Group A has committed 2 of partition 0 and nothing of partition 1; group B is caught up on both.
    const a = await new TestMember(server, unique('lagA'), [topic, other]).join();
    expect((await a.commit([{ topic, partition: 0, offset: 2 }])).status).toBe(204);
    const b = await new TestMember(server, unique('lagB'), [topic]).join();
    expect(
      (
        await b.commit([
          { topic, partition: 0, offset: 5 },
          { topic, partition: 1, offset: 3 },
        ])
      ).status,
    ).toBe(204);
    // Group C has joined but committed nothing: its lag is unknown, not zero.
    const c = await new TestMember(server, unique('lagC'), [topic]).join();

    const lags = await measureConsumerLag(server.groups, server.log);
    const byGroup = Object.fromEntries(lags.map((g) => [g.group, g]));
    expect(byGroup[a.group]).toEqual({
      group: a.group,
      lag: 3,
      maxPartitionLag: 3,
      committedPartitions: 1,
      topics: [
        { topic, partitions: 2, committedPartitions: 1, lag: 3, maxPartitionLag: 3 },
        { topic: other, partitions: 1, committedPartitions: 0, lag: 0, maxPartitionLag: 0 },
      ].sort((x, y) => (x.topic < y.topic ? -1 : 1)),
    });
    expect(byGroup[b.group]).toMatchObject({ lag: 0, maxPartitionLag: 0, committedPartitions: 2 });
    expect(byGroup[c.group]).toMatchObject({ lag: 0, committedPartitions: 0 });

    // More records raise the lag of both groups that have positions.
    await produce(topic, 1, 10);
    const later = Object.fromEntries(
      (await measureConsumerLag(server.groups, server.log)).map((g) => [g.group, g]),
    );
    expect(later[a.group]?.lag).toBe(3);
    expect(later[b.group]).toMatchObject({ lag: 10, maxPartitionLag: 10 });

    const emitted: EmfLine[] = [];
    const writer = new EmfWriter({
      namespace: 'SluiceTest',
      service: 'lag-test',
      write: (line) => emitted.push(JSON.parse(line)),
    });
    const at = Date.now() - 1_000;
    const count = publishConsumerLag(
      writer,
      (await measureConsumerLag(server.groups, server.log)).filter((g) =>
        [a.group, b.group, c.group].includes(g.group),
      ),
      at,
    );
    const summary = emitted.map((l) => ({
      dimensions: l._aws.CloudWatchMetrics[0]?.Dimensions,
      group: l.group,
      topic: l.topic,
      ...valuesOf(l),
    }));
    expect(summary).toEqual([
      {
        dimensions: [['service', 'group'], ['service']],
        group: a.group,
        topic: undefined,
        ConsumerLag: 3,
        ConsumerLagMax: 3,
      },
      {
        dimensions: [['service', 'group', 'topic']],
        group: a.group,
        topic,
        ConsumerLag: 3,
        ConsumerLagMax: 3,
      },
      {
        dimensions: [['service', 'group'], ['service']],
        group: b.group,
        topic: undefined,
        ConsumerLag: 10,
        ConsumerLagMax: 10,
      },
      {
        dimensions: [['service', 'group', 'topic']],
        group: b.group,
        topic,
        ConsumerLag: 10,
        ConsumerLagMax: 10,
      },
    ]);
    expect(count).toBe(4);
    expect(emitted.every((l) => l._aws.Timestamp === at && l.service === 'lag-test')).toBe(true);
  });

  it('a re-created topic shows none of the old incarnation’s offsets', async () => {
    const topic = await newTopic(1);
    await server.api('POST', `/v1/topics/${topic}/records`, { body: { records: [{ value: 1 }] } });
    const member = await new TestMember(server, unique('lagR'), [topic]).join();
    expect((await member.commit([{ topic, partition: 0, offset: 1 }])).status).toBe(204);
    const before = (await measureConsumerLag(server.groups, server.log)).find(
      (g) => g.group === member.group,
    );
    expect(before?.committedPartitions).toBe(1);

    expect((await server.api('DELETE', `/v1/topics/${topic}`)).status).toBe(204);
    expect((await server.api('POST', '/v1/topics', { body: { name: topic, partitions: 1 } })).status).toBe(
      201,
    );
    const after = (await measureConsumerLag(server.groups, server.log)).find((g) => g.group === member.group);
    expect(after).toMatchObject({ lag: 0, committedPartitions: 0 });
    expect(after?.topics).toEqual([
      { topic, partitions: 1, committedPartitions: 0, lag: 0, maxPartitionLag: 0 },
    ]);
  });
});
