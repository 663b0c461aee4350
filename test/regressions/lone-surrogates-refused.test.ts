import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Lone surrogates in a key, a text value or a header came back as U+FFFD, so the keys "\ud800" and "\udfff"
 * became the same bytes (and the same partition, the same compaction key). SPEC Produce: a string that
 * cannot be encoded as UTF-8 is refused with 400, never altered. A JSON value keeps its lone surrogates as
 * \udxxx escapes, which read back as the same string: it is byte for byte, so it is accepted.
 */
let server: TestServer;
const topic = `surrogates.${Date.now().toString(36)}`;
beforeAll(async () => {
  server = await startTestServer();
  expect((await server.api('POST', '/v1/topics', { body: { name: topic } })).status).toBe(201);
});
afterAll(async () => {
  await server?.close();
});

// JSON.stringify writes a lone surrogate as an escape, so the request body is valid JSON text.
const produce = (body: unknown) => server.api('POST', `/v1/topics/${topic}/records`, { body });

describe('refused with 400', () => {
  const cases: Array<[string, unknown]> = [
    ['a key "\\ud800"', { records: [{ key: '\ud800', value: 1 }] }],
    ['a key "\\udfff"', { records: [{ key: 'a\udfff', value: 1 }] }],
    ['a key with a reversed pair', { records: [{ key: '\udc00\ud800', value: 1 }] }],
    ['a text value', { format: 'text', records: [{ value: 'x\ud800y' }] }],
    ['a header value', { records: [{ value: 1, headers: { trace: '\udfff' } }] }],
    ['a header name', { records: [{ value: 1, headers: { 'tr\ud800ce': 'x' } }] }],
  ];
  it.each(cases)('%s', async (_name, body) => {
    const r = await produce(body);
    expect([r.status, r.json.code]).toEqual([400, 'INVALID_REQUEST']);
    expect(r.json.detail).toContain('lone surrogate');
  });

  it('nothing of a refused request is appended', async () => {
    const r = await server.api('GET', `/v1/topics/${topic}/partitions`);
    expect(r.json.partitions[0].highWatermark).toBe(0);
  });
});

describe('accepted byte for byte', () => {
  it('well-formed text, including astral characters (surrogate pairs), comes back unchanged', async () => {
    const key = 'k-😀-\u{10ffff}';
    const r = await produce({ format: 'text', records: [{ key, value: '😀 ü', headers: { h: '🎉' } }] });
    expect(r.status).toBe(200);
    const read = await server.api(
      'GET',
      `/v1/topics/${topic}/partitions/0/records?offset=${r.json.offsets[0].offset}`,
    );
    expect(read.json.records[0]).toMatchObject({ key, value: '😀 ü', headers: { h: '🎉' } });
  });

  it('a JSON value holding lone surrogates comes back as the same strings', async () => {
    const value = { '\ud800': ['\udfff', 'a\ud800b'] };
    const r = await produce({ records: [{ value }] });
    expect(r.status).toBe(200);
    const read = await server.api(
      'GET',
      `/v1/topics/${topic}/partitions/0/records?offset=${r.json.offsets[0].offset}`,
    );
    expect(read.text).toContain('"\\ud800":["\\udfff","a\\ud800b"]');
    expect(read.json.records[0].value).toEqual(value);
  });
});
