import { Sluice, SluiceError } from 'sluice/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

/** The client against a real server over HTTP (issue 15): the admin surface, the user's shape, errors. */

let server: TestServer;
let sluice: Sluice;
let seq = 0;
const name = (what: string) => `client.${what}.${Date.now().toString(36)}.${seq++}`;

beforeAll(async () => {
  server = await startTestServer({ log: { lingerMs: 0 } });
  sluice = new Sluice({ url: server.url, token: server.token });
});
afterAll(async () => {
  await server.close();
});

describe('the user’s shape (README "Client")', () => {
  it('creates a topic, produces a keyed record, and consumes it in a group; break closes the consumer', async () => {
    const topic = name('orders');
    const group = name('billing');
    await sluice.topics.create({ name: topic, partitions: 4 });
    const producer = sluice.producer({ lingerMs: 5 });
    const [ack] = await producer.send(topic, [{ key: 'customer-7', value: { total: 42 } }]);
    await producer.close();
    expect(ack).toEqual({ partition: expect.any(Number), offset: 0, timestamp: expect.any(Number) });
    // The server placed the key where Kafka's murmur2 puts it (customer-7 on 4 partitions).
    const read = await sluice.read(topic, ack!.partition);
    expect(read.records.map((r) => r.value)).toEqual([{ total: 42 }]);

    const consumer = sluice.consumer({ group, topics: [topic], autoOffsetReset: 'earliest', waitMs: 1000 });
    const seen: unknown[] = [];
    for await (const record of consumer) {
      seen.push(record);
      break;
    }
    expect(seen).toEqual([
      {
        topic,
        partition: ack!.partition,
        offset: 0,
        key: 'customer-7',
        value: { total: 42 },
        headers: {},
        timestamp: ack!.timestamp,
        format: 'json',
      },
    ]);
    // Leaving the loop left the group: no live member remains.
    const described = await sluice.groups.describe(group);
    expect(described.members).toEqual([]);
  });

  it('a record the loop broke on is not committed (at-least-once): the next member gets it again', async () => {
    const topic = name('again');
    const group = name('again-g');
    await sluice.topics.create({ name: topic });
    const producer = sluice.producer();
    await producer.send(topic, [{ value: 'a' }, { value: 'b' }, { value: 'c' }]);
    await producer.close();
    const first = sluice.consumer({ group, topics: [topic], autoOffsetReset: 'earliest', waitMs: 500 });
    for await (const record of first) {
      if (record.value === 'b') break; // 'a' was moved past; 'b' was not
    }
    const offsets = (await sluice.groups.describe(group)).offsets;
    expect(offsets).toEqual([{ topic, partition: 0, committedOffset: 1, highWatermark: 3, lag: 2 }]);
    const second = sluice.consumer({ group, topics: [topic], autoOffsetReset: 'earliest', waitMs: 500 });
    const values: unknown[] = [];
    for await (const record of second) {
      values.push(record.value);
      if (values.length === 2) {
        await second.commit(record); // explicitly: this one is processed too
        break;
      }
    }
    expect(values).toEqual(['b', 'c']);
    expect((await sluice.groups.describe(group)).offsets[0]?.committedOffset).toBe(3);
  });
});

describe('admin', () => {
  it('topics: create, list, get, alter, partitions, offset for a timestamp, delete', async () => {
    const topic = name('admin');
    const created = await sluice.topics.create({
      name: topic,
      partitions: 2,
      config: { retentionMs: 60_000 },
    });
    expect(created).toMatchObject({ name: topic, partitions: 2, config: { retentionMs: 60_000 } });
    expect(await sluice.topics.list()).toContainEqual({ name: topic, partitions: 2 });
    expect(await sluice.topics.get(topic)).toEqual(created);
    const altered = await sluice.topics.alter(topic, { partitions: 3, config: { cleanupPolicy: 'compact' } });
    expect(altered).toMatchObject({
      partitions: 3,
      config: { cleanupPolicy: 'compact', retentionMs: 60_000 },
    });
    const producer = sluice.producer({ lingerMs: 0 });
    const acks = await producer.send(topic, [
      { value: 1, partition: 1, timestamp: 1000 },
      { value: 2, partition: 1, timestamp: 2000 },
    ]);
    expect(acks.map((a) => a.offset)).toEqual([0, 1]);
    const partitions = await sluice.topics.partitions(topic);
    expect(partitions.map((p) => [p.partition, p.highWatermark])).toEqual([
      [0, 0],
      [1, 2],
      [2, 0],
    ]);
    expect(await sluice.topics.offsetForTimestamp(topic, 1, 1500)).toBe(1);
    await sluice.topics.delete(topic);
    await expect(sluice.topics.get(topic)).rejects.toMatchObject({ status: 404, code: 'TOPIC_NOT_FOUND' });
  });

  it('keys: create, list, revoke; a key token works as the client token', async () => {
    const topic = name('keyed');
    await sluice.topics.create({ name: topic });
    const key = await sluice.keys.create({
      name: 'client-test',
      permissions: [{ topics: topic, actions: ['produce', 'consume'] }],
    });
    expect((await sluice.keys.list()).map((k) => k.id)).toContain(key.id);
    const asKey = new Sluice({ url: server.url, token: key.token });
    expect(await asKey.producer().send(topic, [{ value: 'x' }])).toHaveLength(1);
    await sluice.keys.revoke(key.id);
    expect((await sluice.keys.list()).map((k) => k.id)).not.toContain(key.id);
  });

  it('webhook sources: set, get, list, delete', async () => {
    const topic = name('hooks');
    const source = name('src');
    await sluice.topics.create({ name: topic });
    const set = await sluice.webhooks.set(source, { topic, verify: { scheme: 'github', secret: 's3cret' } });
    expect(set).toMatchObject({ source, topic, verify: { scheme: 'github', secrets: 1 } });
    expect(await sluice.webhooks.get(source)).toMatchObject({ source, topic });
    expect((await sluice.webhooks.list()).map((s) => s.source)).toContain(source);
    await sluice.webhooks.delete(source);
    await expect(sluice.webhooks.get(source)).rejects.toMatchObject({
      status: 404,
      code: 'WEBHOOK_NOT_FOUND',
    });
  });

  it('groups: list, describe, reset; maintenance passes', async () => {
    const topic = name('grp');
    const group = name('grp-g');
    await sluice.topics.create({ name: topic });
    await sluice.producer().send(topic, [{ value: 1 }, { value: 2 }]);
    const consumer = sluice.consumer({ group, topics: [topic], autoOffsetReset: 'earliest', waitMs: 200 });
    for await (const batch of consumer.batches()) {
      expect(batch).toHaveLength(2);
      await consumer.commit(batch[1]);
      break;
    }
    expect((await sluice.groups.list()).map((g) => g.group)).toContain(group);
    expect((await sluice.groups.describe(group)).offsets[0]?.committedOffset).toBe(2);
    expect(await sluice.groups.reset(group, { to: 'earliest' })).toEqual([
      { topic, partition: 0, offset: 0 },
    ]);
    const report = await sluice.maintenance.compact({ minAgeMs: 0 });
    expect(report.job).toBe('compact');
    expect((await sluice.maintenance.retention()).job).toBe('retention');
  });
});

describe('errors carry the server’s status and code', () => {
  it('404 TOPIC_NOT_FOUND', async () => {
    const error = await sluice.topics.get(name('missing')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SluiceError);
    expect(error).toMatchObject({ status: 404, code: 'TOPIC_NOT_FOUND', title: 'Topic not found' });
    expect((error as SluiceError).detail).toMatch(/does not exist/);
  });

  it('404 TOPIC_NOT_FOUND from a producer send (no retry)', async () => {
    const producer = sluice.producer({ lingerMs: 0 });
    await expect(producer.send(name('nowhere'), [{ value: 1 }])).rejects.toMatchObject({
      status: 404,
      code: 'TOPIC_NOT_FOUND',
    });
    expect(producer.requestCount).toBe(1);
  });

  it('401 UNAUTHORIZED for a bad token', async () => {
    const stranger = new Sluice({ url: server.url, token: 'not-a-token' });
    await expect(stranger.topics.list()).rejects.toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
  });

  it('400 INVALID_REQUEST for bad input, naming the field', async () => {
    const error = await sluice.topics.create({ name: 'bad name!' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SluiceError);
    expect(error).toMatchObject({ status: 400, code: 'INVALID_REQUEST' });
  });

  it('416 OFFSET_OUT_OF_RANGE carries the bounds of the log', async () => {
    const topic = name('range');
    await sluice.topics.create({ name: topic });
    const error = (await sluice.read(topic, 0, { offset: 5 }).catch((e: unknown) => e)) as SluiceError;
    expect(error).toMatchObject({ status: 416, code: 'OFFSET_OUT_OF_RANGE' });
    expect(error.get('highWatermark')).toBe(0);
  });
});
