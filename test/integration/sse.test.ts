import type { Writable } from 'node:stream';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { streamHandle } from 'hono/aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { lambdaStreamBudget } from '../../functions/http/sse.js';
import {
  lambdaEvent as baseLambdaEvent,
  type LambdaStreamResult,
  responseStream,
  stubAwsLambdaGlobals,
} from '../support/lambda-event.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { openTail, parseSse, type SseMessage, type Tail } from '../support/sse-client.js';

/**
 * Live tailing over server-sent events (SPEC.md "Fetch one partition"; issue 3 part 3), against the
 * emulators through a real HTTP server, and through hono/aws-lambda's streamHandle as the Lambda entry uses.
 */

const recordCount = (n: number) => (messages: SseMessage[]) =>
  messages.filter((m) => m.event === 'record').length >= n;

let server: TestServer;
const logged: unknown[] = [];
const tails: Tail[] = [];
let topicSeq = 0;

beforeAll(async () => {
  server = await startTestServer({
    log: { lingerMs: 0 },
    app: { sseHeartbeatMs: 200, logError: (error) => logged.push(error) },
  });
});
afterEach(() => {
  for (const tail of tails.splice(0)) tail.abort();
});
afterAll(async () => {
  // close() waits for every connection: it would hang on a stream the server failed to end.
  await server.close();
  expect(logged).toEqual([]);
});

async function newTopic(partitions = 1): Promise<string> {
  const name = `sse.${Date.now().toString(36)}.${topicSeq++}`;
  const created = await server.api('POST', '/v1/topics', { body: { name, partitions } });
  expect(created.status).toBe(201);
  return name;
}

async function produce(topic: string, values: unknown[]): Promise<number[]> {
  const response = await server.api('POST', `/v1/topics/${topic}/records`, {
    body: { records: values.map((value) => ({ value, partition: 0 })) },
  });
  expect(response.status).toBe(200);
  return (response.json.offsets as Array<{ offset: number }>).map((o) => o.offset);
}

async function tail(path: string, headers: Record<string, string> = {}): Promise<Tail> {
  const opened = await openTail(server, path, headers);
  tails.push(opened);
  return opened;
}

describe('live tail (Accept: text/event-stream)', () => {
  it('streams records produced after the stream opened, each as the JSON fetch returns it', async () => {
    const topic = await newTopic();
    await produce(topic, [{ before: true }]);
    const live = await tail(`/v1/topics/${topic}/partitions/0/records?offset=latest`);
    expect(live.status).toBe(200);
    expect(live.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await live.until((m) => m.length > 0); // the opening comment: the stream is live
    expect(live.messages[0]).toEqual({ event: 'comment', id: undefined, data: 'from offset 1' });

    await produce(topic, [{ n: 1 }, 'two']);
    await produce(topic, [{ n: 3, nested: { a: [1, 2] } }]);
    await live.until(recordCount(3));

    const fetched = await server.api('GET', `/v1/topics/${topic}/partitions/0/records?offset=1`);
    expect(live.records()).toEqual(
      (fetched.json.records as Array<{ offset: number }>).map((record) => ({
        id: String(record.offset),
        record,
      })),
    );
    expect(live.records().map((r) => r.record.value)).toEqual([
      { n: 1 },
      'two',
      { n: 3, nested: { a: [1, 2] } },
    ]);
  });

  it('defaults to offset earliest, as the JSON fetch does', async () => {
    const topic = await newTopic();
    await produce(topic, ['a', 'b']);
    const live = await tail(`/v1/topics/${topic}/partitions/0/records`);
    await live.until(recordCount(2));
    expect(live.records().map((r) => r.id)).toEqual(['0', '1']);
  });

  it('resumes after Last-Event-ID with no loss and no duplicate (the header wins over offset)', async () => {
    const topic = await newTopic();
    await produce(
      topic,
      [0, 1, 2, 3, 4].map((n) => ({ n })),
    );
    const first = await tail(`/v1/topics/${topic}/partitions/0/records?offset=earliest&maxRecords=2`);
    await first.until(recordCount(2));
    first.abort();
    const seen = first.records();
    const lastId = seen.at(-1)?.id ?? 'none';

    await produce(
      topic,
      [5, 6, 7].map((n) => ({ n })),
    );
    const resumed = await tail(`/v1/topics/${topic}/partitions/0/records?offset=0`, {
      'last-event-id': lastId,
    });
    await resumed.until(recordCount(8 - seen.length));
    await produce(topic, [{ n: 8 }]);
    await resumed.until(recordCount(9 - seen.length));

    const all = [...seen, ...resumed.records()];
    expect(all.map((r) => r.id)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8']);
    expect(all.map((r) => (r.record.value as { n: number }).n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('sends heartbeat comments while nothing arrives, and records as soon as they do', async () => {
    const topic = await newTopic();
    const live = await tail(`/v1/topics/${topic}/partitions/0/records`);
    const heartbeats = () => live.messages.filter((m) => m.event === 'comment' && m.data === 'heartbeat');
    const started = Date.now();
    await live.until(() => heartbeats().length >= 3, 5_000);
    // Configured at 200 ms: three take at least ~600 ms and (allowing for slow CI) not many seconds.
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    const produced = Date.now();
    await produce(topic, ['now']);
    await live.until(recordCount(1));
    expect(Date.now() - produced).toBeLessThan(2_000);
  });

  it('ends cleanly when the client goes away: no more reads, no errors, the server keeps serving', async () => {
    const topic = await newTopic();
    const fetchSpy = vi.spyOn(server.log, 'fetch');
    try {
      const live = await tail(`/v1/topics/${topic}/partitions/0/records`);
      await live.until((m) => m.some((x) => x.data === 'heartbeat'));
      live.abort();
      await live.ended;
      // Let the server notice; afterwards its loop makes no more fetches (no leaked long-poll).
      await new Promise((resolve) => setTimeout(resolve, 500));
      const calls = fetchSpy.mock.calls.length;
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(fetchSpy.mock.calls.length).toBe(calls);
    } finally {
      fetchSpy.mockRestore();
    }
    await produce(topic, ['still serving']);
    const fetched = await server.api('GET', `/v1/topics/${topic}/partitions/0/records`);
    expect(fetched.json.records).toHaveLength(1);
    expect(logged).toEqual([]);
  });

  it('reports a failure mid-stream as an error event with the problem JSON, then ends', async () => {
    const topic = await newTopic();
    const live = await tail(`/v1/topics/${topic}/partitions/0/records`);
    await live.until((m) => m.length > 0);
    expect((await server.api('DELETE', `/v1/topics/${topic}`)).status).toBe(204);
    await live.ended;
    const last = live.messages.at(-1);
    expect(last?.event).toBe('error');
    expect(JSON.parse(last?.data ?? '{}')).toMatchObject({ status: 404, code: 'TOPIC_NOT_FOUND' });
  });

  it('answers bad input with problem+json before any stream starts', async () => {
    const topic = await newTopic(2);
    await produce(topic, ['x']);
    const cases: Array<[string, Record<string, string>, number, string]> = [
      [`/v1/topics/missing-${topic}/partitions/0/records`, {}, 404, 'TOPIC_NOT_FOUND'],
      [`/v1/topics/${topic}/partitions/2/records`, {}, 404, 'PARTITION_NOT_FOUND'],
      [`/v1/topics/${topic}/partitions/0/records?offset=5`, {}, 416, 'OFFSET_OUT_OF_RANGE'],
      [`/v1/topics/${topic}/partitions/0/records`, { 'last-event-id': '1' }, 416, 'OFFSET_OUT_OF_RANGE'],
      [`/v1/topics/${topic}/partitions/0/records`, { 'last-event-id': 'abc' }, 400, 'INVALID_REQUEST'],
      [`/v1/topics/${topic}/partitions/0/records?offset=nope`, {}, 400, 'INVALID_REQUEST'],
    ];
    for (const [path, headers, status, code] of cases) {
      const response = await fetch(`${server.url}${path}`, {
        headers: { authorization: `Bearer ${server.token}`, accept: 'text/event-stream', ...headers },
      });
      expect({ path, status: response.status }).toEqual({ path, status });
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(await response.json()).toMatchObject({ status, code });
    }
    // Resuming right at the high watermark is fine: Last-Event-ID 0 → offset 1.
    const atEnd = await tail(`/v1/topics/${topic}/partitions/0/records`, { 'last-event-id': '0' });
    expect(atEnd.status).toBe(200);
  });

  it('keeps answering JSON without the SSE Accept header, or when JSON is preferred', async () => {
    const topic = await newTopic();
    await produce(topic, ['j']);
    for (const accept of ['application/json', '*/*', 'application/json, text/event-stream;q=0.5']) {
      const response = await fetch(`${server.url}/v1/topics/${topic}/partitions/0/records`, {
        headers: { authorization: `Bearer ${server.token}`, accept },
      });
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(((await response.json()) as { records: unknown[] }).records).toHaveLength(1);
    }
  });

  it('ends every stream cleanly when the server shuts down (sseCloseSignal)', async () => {
    const closing = new AbortController();
    const errors: unknown[] = [];
    const stopping = await startTestServer({
      log: { lingerMs: 0 },
      app: { sseCloseSignal: closing.signal, logError: (error) => errors.push(error) },
    });
    const name = `sse.closing.${Date.now().toString(36)}`;
    expect((await stopping.api('POST', '/v1/topics', { body: { name, partitions: 1 } })).status).toBe(201);
    const live = await openTail(stopping, `/v1/topics/${name}/partitions/0/records`);
    await live.until((m) => m.length > 0);
    closing.abort();
    await live.ended;
    expect(live.messages.at(-1)?.data).toMatch(/shutting down; reconnect with Last-Event-ID/);
    await stopping.close(); // would wait for the stream if it were still open
    expect(errors).toEqual([]);
  });

  it('ends the stream of an API key revoked while it is open, within the key cache bound', async () => {
    const guarded = await startTestServer({
      log: { lingerMs: 0 },
      keyCacheTtlMs: 300,
      app: { sseHeartbeatMs: 100 },
    });
    try {
      const name = `sse.revoked.${Date.now().toString(36)}`;
      expect((await guarded.api('POST', '/v1/topics', { body: { name, partitions: 1 } })).status).toBe(201);
      const minted = await guarded.api('POST', '/v1/keys', {
        body: { name: 'tailer', permissions: [{ topics: name, actions: ['consume'] }] },
      });
      expect(minted.status).toBe(201);
      const live = await openTail(guarded, `/v1/topics/${name}/partitions/0/records`, {
        authorization: `Bearer ${minted.json.token}`,
      });
      expect(live.status).toBe(200);
      await live.until((messages) => messages.some((m) => m.event === 'comment' && m.data === 'heartbeat'));
      expect((await guarded.api('DELETE', `/v1/keys/${minted.json.id}`)).status).toBe(204);
      const revokedAt = Date.now();
      await live.ended;
      expect(Date.now() - revokedAt).toBeLessThan(3_000);
      const last = live.messages.at(-1);
      expect(last?.event).toBe('error');
      expect(JSON.parse(last?.data ?? '{}').code).toBe('FORBIDDEN');
    } finally {
      await guarded.close();
    }
  });

  it('ends the stream by itself after sseMaxDurationMs', async () => {
    const bounded = await startTestServer({
      log: { lingerMs: 0 },
      app: { sseMaxDurationMs: 600, sseHeartbeatMs: 200 },
    });
    try {
      const name = `sse.bounded.${Date.now().toString(36)}`;
      expect((await bounded.api('POST', '/v1/topics', { body: { name, partitions: 1 } })).status).toBe(201);
      const started = Date.now();
      const live = await openTail(bounded, `/v1/topics/${name}/partitions/0/records`);
      await live.ended;
      expect(Date.now() - started).toBeGreaterThanOrEqual(500);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(live.messages.at(-1)?.data).toMatch(/reconnect with Last-Event-ID/);
    } finally {
      await bounded.close();
    }
  });
});

// ---- through hono/aws-lambda's streamHandle (functions/lambda.ts), with the runtime's globals stubbed ----

function lambdaEvent(
  method: string,
  path: string,
  options: { body?: unknown; query?: string; headers?: Record<string, string> } = {},
): APIGatewayProxyEventV2 {
  return baseLambdaEvent(method, path, { token: server.token, ...options });
}

describe('Lambda response streaming (streamHandle)', () => {
  type StreamingHandler = (event: unknown, stream: Writable, context: unknown) => Promise<void>;
  let globals: { restore(): void };
  let handler: StreamingHandler;
  let remainingMs = 60_000;
  const context = { getRemainingTimeInMillis: () => remainingMs };

  beforeAll(() => {
    globals = stubAwsLambdaGlobals();
    handler = streamHandle(server.app) as unknown as StreamingHandler;
  });
  afterAll(() => globals.restore());

  async function invoke(event: APIGatewayProxyEventV2): Promise<LambdaStreamResult> {
    const stream = responseStream();
    await handler(event, stream, context);
    return { metadata: stream.metadata, body: stream.text() };
  }

  it('serves ordinary JSON routes: status, headers and body', async () => {
    const topic = `sse.lambda.${Date.now().toString(36)}`;
    const created = await invoke(lambdaEvent('POST', '/v1/topics', { body: { name: topic, partitions: 1 } }));
    expect(created.metadata?.statusCode).toBe(201);
    expect(JSON.parse(created.body)).toMatchObject({ name: topic, partitions: 1 });

    const produced = await invoke(
      lambdaEvent('POST', `/v1/topics/${topic}/records`, {
        body: { records: [{ key: 'k', value: { v: 1 } }] },
      }),
    );
    expect(produced.metadata?.statusCode).toBe(200);
    const fetched = await invoke(
      lambdaEvent('GET', `/v1/topics/${topic}/partitions/0/records`, { query: 'offset=0' }),
    );
    expect(fetched.metadata?.statusCode).toBe(200);
    expect(fetched.metadata?.headers?.['content-type']).toBe('application/json');
    expect(JSON.parse(fetched.body).records[0]).toMatchObject({ key: 'k', value: { v: 1 }, offset: 0 });

    const missing = await invoke(lambdaEvent('GET', `/v1/topics/${topic}-missing`));
    expect(missing.metadata?.statusCode).toBe(404);
    expect(missing.metadata?.headers?.['content-type']).toBe('application/problem+json');
    const unauthorized = await invoke({ ...lambdaEvent('GET', '/v1/topics'), headers: {} });
    expect(unauthorized.metadata?.statusCode).toBe(401);
  });

  it('streams a live tail and ends it cleanly before the invocation times out', async () => {
    // The Lambda entry's budget: the invocation's time left minus a margin (here 10 s of 10.8 s).
    const margin = 10_000;
    expect(lambdaStreamBudget(margin)({ env: { context } } as never)).toBe(remainingMs - margin);

    // The app as lambda.ts builds it: sseMaxDurationMs is the invocation's time left minus the margin.
    const bounded = await startTestServer({
      log: { lingerMs: 0 },
      app: { sseHeartbeatMs: 200, sseMaxDurationMs: lambdaStreamBudget(margin) },
    });
    const stream = responseStream();
    try {
      const name = `sse.lambda.bounded.${Date.now().toString(36)}`;
      expect((await bounded.api('POST', '/v1/topics', { body: { name, partitions: 1 } })).status).toBe(201);
      const boundedHandler = streamHandle(bounded.app) as unknown as StreamingHandler;
      remainingMs = margin + 1_500;
      const started = Date.now();
      const event = lambdaEvent('GET', `/v1/topics/${name}/partitions/0/records`, {
        headers: { accept: 'text/event-stream', authorization: `Bearer ${bounded.token}` },
      });
      const done = boundedHandler(event, stream, context);
      const deadline = Date.now() + 5_000;
      while (!stream.text().includes('from offset') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(stream.metadata?.statusCode).toBe(200);
      expect(stream.metadata?.headers?.['content-type']).toBe('text/event-stream');
      const produced = await bounded.api('POST', `/v1/topics/${name}/records`, {
        body: { records: [{ value: 'via lambda' }] },
      });
      expect(produced.status).toBe(200);
      await done;
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(1_300);
      expect(elapsed).toBeLessThan(6_000);
      const { messages } = parseSse(stream.text());
      const records = messages.filter((m) => m.event === 'record');
      expect(records.map((m) => [m.id, (JSON.parse(m.data) as { value: unknown }).value])).toEqual([
        ['0', 'via lambda'],
      ]);
      expect(messages.at(-1)?.data).toMatch(/reconnect with Last-Event-ID/);
      expect(stream.writableEnded).toBe(true);
    } finally {
      remainingMs = 60_000;
      await bounded.close();
    }
  });
});
