import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';
import { githubHeaders } from '../support/webhook-signers.js';

/**
 * A JSON value nested 5,000 deep made the value encoder (JSON.stringify, which recurses) throw a RangeError:
 * 500 on produce and on webhook delivery. SPEC Produce: a JSON value nested deeper than 64 levels → 400.
 */
let server: TestServer;
const topic = `deep.${Date.now().toString(36)}`;
const source = `deep-src-${Date.now().toString(36)}`;
const secret = 'deep-secret';

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const nestedObject = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

beforeAll(async () => {
  server = await startTestServer();
  expect((await server.api('POST', '/v1/topics', { body: { name: topic } })).status).toBe(201);
  const put = await server.api('PUT', `/v1/webhooks/${source}`, {
    body: { topic, verify: { scheme: 'github', secret }, key: 'json:a' },
  });
  expect(put.status).toBe(200);
});
afterAll(async () => {
  await server?.close();
});

function produceRaw(valueJson: string) {
  return server.api('POST', `/v1/topics/${topic}/records`, { body: `{"records":[{"value":${valueJson}}]}` });
}

describe('produce', () => {
  it.each([65, 5_000, 100_000])('refuses a JSON value nested %i deep with 400', async (depth) => {
    for (const value of [nested(depth), nestedObject(depth)]) {
      const r = await produceRaw(value);
      expect([r.status, r.json.code]).toEqual([400, 'INVALID_REQUEST']);
      expect(r.json.detail).toContain('64');
    }
  });

  it('accepts a value nested exactly 64 deep and gives it back unchanged', async () => {
    const r = await produceRaw(nested(64));
    expect(r.status).toBe(200);
    const { partition, offset } = r.json.offsets[0];
    const read = await server.api(
      'GET',
      `/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}`,
    );
    expect(JSON.stringify(read.json.records[0].value)).toBe(nested(64));
  });
});

describe('webhook delivery', () => {
  it.each([65, 5_000, 100_000])('refuses a JSON body nested %i deep with 400', async (depth) => {
    const body = nestedObject(depth);
    const r = await server.api('POST', `/v1/webhooks/${source}`, {
      body,
      headers: { 'content-type': 'application/json', ...githubHeaders(secret, `d-${depth}`, body) },
      auth: null,
    });
    expect([r.status, r.json.code]).toEqual([400, 'INVALID_REQUEST']);
  });

  it('counts the refused deliveries', async () => {
    const counters = (await server.api('GET', `/v1/webhooks/${source}`)).json.counters;
    expect(counters.rejected['invalid-body']).toBe(3);
    expect(counters.accepted).toBe(0);
  });
});
