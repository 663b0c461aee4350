import { describe, expect, it } from 'vitest';
import { type TestServer, useTwoInstances } from '../support/server.js';

/**
 * Issue 13 (an outside multi-instance run): a produce sent after `DELETE /v1/topics/{t}` answered 204 on
 * another instance, whose topic cache was still fresh (≤ 1 s), was acknowledged (200 with offsets) and
 * landed in the dead incarnation, where no reader ever sees it: an acknowledged write lost. Now each flush
 * confirms, with one strongly consistent read of the topic item alongside its segment put, that the
 * incarnation it writes is still live; a produce invoked after the delete answered gets 404 TOPIC_NOT_FOUND
 * (docs/ARCHITECTURE.md §4.10). The instances' topic caches are made long here, so that the window the
 * 1 s cache leaves open is open for the whole test.
 */
const pairs: Array<{ mode: string; get: () => [TestServer, TestServer] }> = [];
for (const [mode, lingerMs] of [
  ['Lambda wiring (one flush per produce)', 0],
  ['agent wiring (flushes shared by produces)', 20],
] as const) {
  let a: TestServer;
  let b: TestServer;
  useTwoInstances({ log: { lingerMs, topicCacheTtlMs: 60_000 } }, (x, y) => {
    a = x;
    b = y;
  });
  pairs.push({ mode, get: () => [a, b] });
}

let n = 0;
const unique = () => `gone.${Date.now().toString(36)}.${n++}`;

function produce(server: TestServer, topic: string, value: unknown, headers?: Record<string, string>) {
  return server.api('POST', `/v1/topics/${topic}/records`, {
    body: { records: [{ value, partition: 0 }] },
    ...(headers ? { headers } : {}),
  });
}

async function entriesOf(server: TestServer, topicId: string): Promise<number> {
  let count = 0;
  for await (const _ of server.metadata.listEntries({ topicId, partition: 0 }, 0)) count += 1;
  return count;
}

for (const { mode, get } of pairs) {
  describe(`a produce after the topic's delete answered, on another instance (${mode})`, () => {
    it('gets 404 TOPIC_NOT_FOUND and appends nothing to the dead incarnation', async () => {
      const [a, b] = get();
      const topic = unique();
      expect((await a.api('POST', '/v1/topics', { body: { name: topic } })).status).toBe(201);
      expect((await produce(b, topic, 'before')).status).toBe(200); // b now holds the topic in its cache
      const topicId = (await a.metadata.getTopic(topic, { consistent: true }))?.topicId as string;
      expect((await a.api('DELETE', `/v1/topics/${topic}`)).status).toBe(204);

      const after = await produce(b, topic, 'after');
      expect(after.status).toBe(404);
      expect(after.json.code).toBe('TOPIC_NOT_FOUND');
      const idempotent = await produce(b, topic, 'after', { 'idempotency-key': 'k' });
      expect(idempotent.status).toBe(404);
      expect(await entriesOf(a, topicId)).toBe(1);
    });

    it('gets 404 when the topic was deleted and created again, and the new topic stays empty', async () => {
      const [a, b] = get();
      const topic = unique();
      expect((await a.api('POST', '/v1/topics', { body: { name: topic } })).status).toBe(201);
      expect((await produce(b, topic, 'before')).status).toBe(200);
      expect((await a.api('DELETE', `/v1/topics/${topic}`)).status).toBe(204);
      expect((await a.api('POST', '/v1/topics', { body: { name: topic } })).status).toBe(201);

      const after = await produce(b, topic, 'after');
      expect(after.status).toBe(404);
      expect(after.json.code).toBe('TOPIC_NOT_FOUND');
      const read = await a.api('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`);
      expect(read.status).toBe(200);
      expect(read.json.highWatermark).toBe(0);
      // The refused produce made b forget its stale topic: the next one appends to the new incarnation.
      expect((await produce(b, topic, 'new')).status).toBe(200);
    });
  });
}
