import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

/** Every bad input SPEC.md lists for topics, produce and fetch gets its status and code. */
let server: TestServer;
let topic: string;
let small: string;
beforeAll(async () => {
  server = await startTestServer({ limits: { maxRequestBytes: 256 * 1024 } });
  topic = `bad.${Date.now().toString(36)}`;
  small = `${topic}.small`;
  expect((await server.api('POST', '/v1/topics', { body: { name: topic, partitions: 2 } })).status).toBe(201);
  expect(
    (await server.api('POST', '/v1/topics', { body: { name: small, config: { maxRecordBytes: 100 } } }))
      .status,
  ).toBe(201);
  await server.api('POST', `/v1/topics/${topic}/records`, {
    body: { records: [{ value: 1, partition: 0 }] },
  });
});
afterAll(async () => {
  await server?.close();
});

type Case = [string, string, string, unknown, number, string, Record<string, string>?];

function expectProblem(r: { status: number; json: any; headers: Headers }, status: number, code: string) {
  expect({ status: r.status, code: r.json?.code }).toEqual({ status, code });
  expect(r.headers.get('content-type')).toContain('application/problem+json');
  expect(r.json).toMatchObject({
    status,
    type: expect.any(String),
    title: expect.any(String),
    detail: expect.any(String),
  });
}

describe('authentication', () => {
  it('answers 401 UNAUTHORIZED without a token', async () => {
    expectProblem(await server.api('GET', '/v1/topics', { auth: null }), 401, 'UNAUTHORIZED');
  });
  it('answers 401 UNAUTHORIZED for an unknown token', async () => {
    expectProblem(await server.api('GET', '/v1/topics', { auth: 'not-the-token' }), 401, 'UNAUTHORIZED');
  });
  it('answers 401 UNAUTHORIZED for a malformed Authorization header', async () => {
    expectProblem(
      await server.api('GET', '/v1/topics', {
        auth: null,
        headers: { authorization: `Basic ${server.token}` },
      }),
      401,
      'UNAUTHORIZED',
    );
  });
  it('serves /healthz and /openapi.json without a token', async () => {
    expect((await server.api('GET', '/healthz', { auth: null })).status).toBe(200);
    const doc = await server.api('GET', '/openapi.json', { auth: null });
    expect(doc.json.openapi).toBe('3.1.0');
    expect(Object.keys(doc.json.paths)).toEqual(
      expect.arrayContaining([
        '/v1/topics',
        '/v1/topics/{topic}/records',
        '/v1/topics/{topic}/partitions/{p}/records',
      ]),
    );
  });
});

describe('topics', () => {
  const cases: Case[] = [
    ['a name with a slash', 'POST', '/v1/topics', { name: 'a/b' }, 400, 'INVALID_REQUEST'],
    ['a name of 250 characters', 'POST', '/v1/topics', { name: 'x'.repeat(250) }, 400, 'INVALID_REQUEST'],
    ['the name "."', 'POST', '/v1/topics', { name: '.' }, 400, 'INVALID_REQUEST'],
    ['the name ".."', 'POST', '/v1/topics', { name: '..' }, 400, 'INVALID_REQUEST'],
    ['an empty name', 'POST', '/v1/topics', { name: '' }, 400, 'INVALID_REQUEST'],
    ['no name', 'POST', '/v1/topics', { partitions: 1 }, 400, 'INVALID_REQUEST'],
    ['0 partitions', 'POST', '/v1/topics', { name: 'zero', partitions: 0 }, 400, 'INVALID_REQUEST'],
    ['1001 partitions', 'POST', '/v1/topics', { name: 'many', partitions: 1001 }, 400, 'INVALID_REQUEST'],
    [
      'fractional partitions',
      'POST',
      '/v1/topics',
      { name: 'frac', partitions: 1.5 },
      400,
      'INVALID_REQUEST',
    ],
    [
      'an unknown config key',
      'POST',
      '/v1/topics',
      { name: 'cfg', config: { retention: 1 } },
      400,
      'INVALID_REQUEST',
    ],
    [
      'a bad cleanupPolicy',
      'POST',
      '/v1/topics',
      { name: 'cfg2', config: { cleanupPolicy: 'never' } },
      400,
      'INVALID_REQUEST',
    ],
    [
      'retentionMs 0',
      'POST',
      '/v1/topics',
      { name: 'cfg3', config: { retentionMs: 0 } },
      400,
      'INVALID_REQUEST',
    ],
    ['a JSON array body', 'POST', '/v1/topics', [1, 2], 400, 'INVALID_REQUEST'],
    ['malformed JSON', 'POST', '/v1/topics', '{"name": ', 400, 'INVALID_REQUEST'],
    [
      'a text/plain body',
      'POST',
      '/v1/topics',
      '{"name":"x"}',
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      { 'content-type': 'text/plain' },
    ],
    ['describing a missing topic', 'GET', '/v1/topics/missing.topic', undefined, 404, 'TOPIC_NOT_FOUND'],
    [
      'patching a missing topic',
      'PATCH',
      '/v1/topics/missing.topic',
      { partitions: 3 },
      404,
      'TOPIC_NOT_FOUND',
    ],
    ['deleting a missing topic', 'DELETE', '/v1/topics/missing.topic', undefined, 404, 'TOPIC_NOT_FOUND'],
    [
      'partitions of a missing topic',
      'GET',
      '/v1/topics/missing.topic/partitions',
      undefined,
      404,
      'TOPIC_NOT_FOUND',
    ],
    ['an unknown route', 'GET', '/v1/nothing-here', undefined, 404, 'NOT_FOUND'],
  ];
  it.each(cases)(
    'answers %s with the contract status and code',
    async (_name, method, path, body, status, code, headers) => {
      expectProblem(await server.api(method, path, { body, ...(headers ? { headers } : {}) }), status, code);
    },
  );

  it('answers 409 TOPIC_EXISTS for a second create', async () => {
    expectProblem(await server.api('POST', '/v1/topics', { body: { name: topic } }), 409, 'TOPIC_EXISTS');
  });

  it('answers 400 when shrinking partitions', async () => {
    expectProblem(
      await server.api('PATCH', `/v1/topics/${topic}`, { body: { partitions: 1 } }),
      400,
      'INVALID_REQUEST',
    );
  });
});

describe('produce', () => {
  const path = () => `/v1/topics/${topic}/records`;
  const cases: Array<[string, () => string, unknown, number, string]> = [
    ['an empty records array', path, { records: [] }, 400, 'INVALID_REQUEST'],
    ['no records member', path, { format: 'json' }, 400, 'INVALID_REQUEST'],
    ['a record without value', path, { records: [{ key: 'k' }] }, 400, 'INVALID_REQUEST'],
    ['a number key', path, { records: [{ key: 5, value: 1 }] }, 400, 'INVALID_REQUEST'],
    ['a non-string header', path, { records: [{ value: 1, headers: { h: 1 } }] }, 400, 'INVALID_REQUEST'],
    ['an unknown format', path, { format: 'xml', records: [{ value: 1 }] }, 400, 'INVALID_REQUEST'],
    [
      'a text value that is not a string',
      path,
      { format: 'text', records: [{ value: { a: 1 } }] },
      400,
      'INVALID_REQUEST',
    ],
    [
      'a binary value that is not base64',
      path,
      { format: 'binary', records: [{ value: 'not base64!' }] },
      400,
      'INVALID_REQUEST',
    ],
    ['a negative timestamp', path, { records: [{ value: 1, timestamp: -1 }] }, 400, 'INVALID_REQUEST'],
    ['a negative partition', path, { records: [{ value: 1, partition: -1 }] }, 400, 'INVALID_REQUEST'],
    ['an unknown record member', path, { records: [{ value: 1, offset: 3 }] }, 400, 'INVALID_REQUEST'],
    [
      '65 headers',
      path,
      {
        records: [
          { value: 1, headers: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`h${i}`, 'v'])) },
        ],
      },
      400,
      'INVALID_REQUEST',
    ],
    [
      '10,001 records',
      path,
      { records: Array.from({ length: 10_001 }, () => ({ value: 0 })) },
      400,
      'INVALID_REQUEST',
    ],
    ['a partition out of range', path, { records: [{ value: 1, partition: 2 }] }, 404, 'PARTITION_NOT_FOUND'],
    [
      'an unknown topic',
      () => '/v1/topics/no.such.topic/records',
      { records: [{ value: 1 }] },
      404,
      'TOPIC_NOT_FOUND',
    ],
    [
      'a record over maxRecordBytes',
      () => `/v1/topics/${small}/records`,
      { records: [{ value: 'x'.repeat(200) }] },
      413,
      'RECORD_TOO_LARGE',
    ],
    [
      'a body over the request limit',
      path,
      { records: [{ value: 'x'.repeat(300 * 1024) }] },
      413,
      'REQUEST_TOO_LARGE',
    ],
  ];
  it.each(cases)('answers %s with the contract status and code', async (_name, p, body, status, code) => {
    const before = await server.api('GET', `/v1/topics/${topic}/partitions`);
    expectProblem(await server.api('POST', p(), { body }), status, code);
    const after = await server.api('GET', `/v1/topics/${topic}/partitions`);
    expect(after.json).toEqual(before.json); // nothing was appended
  });

  it('answers 415 for a produce without a JSON content type', async () => {
    expectProblem(
      await server.api('POST', path(), {
        body: '{"records":[{"value":1}]}',
        headers: { 'content-type': 'text/plain' },
      }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
  });

  it('answers 400 naming the bound when a request touches more partitions than one commit allows', async () => {
    const wide = `${topic}.wide`;
    await server.api('POST', '/v1/topics', { body: { name: wide, partitions: 101 } });
    const r = await server.api('POST', `/v1/topics/${wide}/records`, {
      body: { records: Array.from({ length: 101 }, (_, partition) => ({ value: 1, partition })) },
    });
    expectProblem(r, 400, 'INVALID_REQUEST');
    expect(r.json.detail).toContain('100');
  });
});

describe('fetch', () => {
  const cases: Array<[string, () => string, number, string]> = [
    [
      'an offset past the high watermark',
      () => `/v1/topics/${topic}/partitions/0/records?offset=2`,
      416,
      'OFFSET_OUT_OF_RANGE',
    ],
    [
      'a non-numeric offset',
      () => `/v1/topics/${topic}/partitions/0/records?offset=first`,
      400,
      'INVALID_REQUEST',
    ],
    ['a negative offset', () => `/v1/topics/${topic}/partitions/0/records?offset=-1`, 400, 'INVALID_REQUEST'],
    ['maxRecords 0', () => `/v1/topics/${topic}/partitions/0/records?maxRecords=0`, 400, 'INVALID_REQUEST'],
    ['maxBytes 0', () => `/v1/topics/${topic}/partitions/0/records?maxBytes=0`, 400, 'INVALID_REQUEST'],
    [
      'waitMs over 20000',
      () => `/v1/topics/${topic}/partitions/0/records?waitMs=20001`,
      400,
      'INVALID_REQUEST',
    ],
    [
      'a partition out of range',
      () => `/v1/topics/${topic}/partitions/2/records`,
      404,
      'PARTITION_NOT_FOUND',
    ],
    ['a non-numeric partition', () => `/v1/topics/${topic}/partitions/x/records`, 400, 'INVALID_REQUEST'],
    ['an unknown topic', () => '/v1/topics/no.such.topic/partitions/0/records', 404, 'TOPIC_NOT_FOUND'],
    [
      'a timestamp lookup without timestamp',
      () => `/v1/topics/${topic}/partitions/0/offsets`,
      400,
      'INVALID_REQUEST',
    ],
    [
      'a timestamp lookup on a missing partition',
      () => `/v1/topics/${topic}/partitions/9/offsets?timestamp=1`,
      404,
      'PARTITION_NOT_FOUND',
    ],
  ];
  it.each(cases)('answers %s with the contract status and code', async (_name, p, status, code) => {
    expectProblem(await server.api('GET', p()), status, code);
  });

  it('carries logStartOffset and highWatermark in the 416 body', async () => {
    const r = await server.api('GET', `/v1/topics/${topic}/partitions/0/records?offset=5`);
    expect(r.json).toMatchObject({ logStartOffset: 0, highWatermark: 1 });
  });
});
