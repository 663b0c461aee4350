import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_KEY_AUTHENTICATOR_OPTIONS } from '../../lib/auth/authenticator.js';
import { type TestServer, useTwoInstances } from '../support/server.js';
import { endedWithin, openTail, type Tail } from '../support/sse-client.js';

/**
 * Issue 12, item 4: a live tail crossed topic incarnations. Tailing `offset=earliest`, then deleting the
 * topic, creating it again and producing new0..new3 delivered new2 and new3 (from the old stream's next
 * offset) and no error; with a delete alone the stream ended only 13–14 s later. SPEC (Limits): a live tail
 * ends with a final problem event no later than the key cache bound after its topic is deleted, and never
 * delivers a record of a later topic incarnation. The stream is served by one instance while another
 * deletes and re-creates the topic (the same tables and bucket), both with the default settings.
 */
const BOUND_MS = DEFAULT_KEY_AUTHENTICATOR_OPTIONS.cacheTtlMs;

let a: TestServer;
let b: TestServer;
const tails: Tail[] = [];
useTwoInstances({ log: { lingerMs: 0 } }, (x, y) => {
  a = x;
  b = y;
});
afterEach(() => {
  for (const tail of tails.splice(0)) tail.abort();
});

let n = 0;
async function newTopic(): Promise<string> {
  const name = `tail-inc.${Date.now().toString(36)}.${n++}`;
  expect((await a.api('POST', '/v1/topics', { body: { name, partitions: 1 } })).status).toBe(201);
  return name;
}

async function produce(server: TestServer, topic: string, values: string[]): Promise<void> {
  const r = await server.api('POST', `/v1/topics/${topic}/records`, {
    body: { records: values.map((value) => ({ value, partition: 0 })) },
  });
  expect(r.status).toBe(200);
}

async function tailOn(server: TestServer, topic: string): Promise<Tail> {
  const live = await openTail(server, `/v1/topics/${topic}/partitions/0/records?offset=earliest`);
  tails.push(live);
  expect(live.status).toBe(200);
  return live;
}

function lastProblem(live: Tail): { code?: string; status?: number } {
  const last = live.messages.at(-1);
  expect(last?.event).toBe('error');
  return JSON.parse(last?.data ?? '{}');
}

describe('a live tail and topic incarnations', () => {
  it('ends with TOPIC_NOT_FOUND when its topic is deleted and created again, delivering none of the new records', async () => {
    const topic = await newTopic();
    await produce(a, topic, ['old0', 'old1']);
    const live = await tailOn(b, topic);
    await live.until((m) => m.filter((x) => x.event === 'record').length === 2);

    expect((await a.api('DELETE', `/v1/topics/${topic}`)).status).toBe(204);
    const deletedAt = Date.now();
    expect((await a.api('POST', '/v1/topics', { body: { name: topic, partitions: 1 } })).status).toBe(201);
    await produce(a, topic, ['new0', 'new1', 'new2', 'new3']);

    const endedAt = await endedWithin(live, BOUND_MS + 3_000);
    expect(endedAt, 'the stream did not end').toBeDefined();
    expect((endedAt ?? Number.POSITIVE_INFINITY) - deletedAt).toBeLessThanOrEqual(BOUND_MS);
    expect(live.records().map((r) => r.record.value)).toEqual(['old0', 'old1']);
    expect(lastProblem(live)).toMatchObject({ status: 404, code: 'TOPIC_NOT_FOUND' });

    // A new stream reads the new incarnation from its own offset 0.
    const fresh = await tailOn(b, topic);
    await fresh.until((m) => m.filter((x) => x.event === 'record').length === 4);
    expect(fresh.records().map((r) => [r.id, r.record.value])).toEqual([
      ['0', 'new0'],
      ['1', 'new1'],
      ['2', 'new2'],
      ['3', 'new3'],
    ]);
  });

  it('ends with TOPIC_NOT_FOUND within the key cache bound when its topic is deleted on another instance', async () => {
    const topic = await newTopic();
    await produce(a, topic, ['only']);
    const live = await tailOn(b, topic);
    await live.until((m) => m.some((x) => x.event === 'record'));

    expect((await a.api('DELETE', `/v1/topics/${topic}`)).status).toBe(204);
    const deletedAt = Date.now();
    const endedAt = await endedWithin(live, BOUND_MS + 3_000);
    expect(endedAt, 'the stream did not end').toBeDefined();
    expect((endedAt ?? Number.POSITIVE_INFINITY) - deletedAt).toBeLessThanOrEqual(BOUND_MS);
    expect(lastProblem(live)).toMatchObject({ status: 404, code: 'TOPIC_NOT_FOUND' });
  });
});
