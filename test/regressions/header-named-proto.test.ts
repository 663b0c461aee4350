import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * A record header named `__proto__` was silently dropped on produce (the request validation copied the
 * headers into a plain object). SPEC Limits: header names are data; every one comes back.
 */
let server: TestServer;
const topic = `proto.${Date.now().toString(36)}`;
const NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];

beforeAll(async () => {
  server = await startTestServer();
  expect((await server.api('POST', '/v1/topics', { body: { name: topic } })).status).toBe(201);
});
afterAll(async () => {
  await server?.close();
});

describe('record headers', () => {
  it.each(NAMES)('a header named %s comes back with its value', async (name) => {
    // Written as JSON text: an object literal's `__proto__:` would set a prototype, not a property.
    const body = `{"records":[{"value":1,"headers":{${JSON.stringify(name)}:"v-${name}","other":"o"}}]}`;
    const r = await server.api('POST', `/v1/topics/${topic}/records`, { body });
    expect(r.status).toBe(200);
    const read = await server.api(
      'GET',
      `/v1/topics/${topic}/partitions/0/records?offset=${r.json.offsets[0].offset}`,
    );
    expect(read.text).toContain(`"headers":{${JSON.stringify(name)}:"v-${name}","other":"o"}`);
  });

  it('all of them on one record', async () => {
    const headers = NAMES.map((name) => `${JSON.stringify(name)}:"x"`).join(',');
    const r = await server.api('POST', `/v1/topics/${topic}/records`, {
      body: `{"records":[{"value":1,"headers":{${headers}}}]}`,
    });
    expect(r.status).toBe(200);
    const read = await server.api(
      'GET',
      `/v1/topics/${topic}/partitions/0/records?offset=${r.json.offsets[0].offset}`,
    );
    expect(read.text).toContain(`"headers":{${headers}}`);
  });
});
