import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';
import { githubHeaders, hmacHex } from '../support/webhook-signers.js';

/**
 * A webhook key extractor `header:constructor` answered 500 on every delivery (the lookup found
 * Object.prototype.constructor, a function), and a request header named `__proto__` was silently dropped.
 * SPEC Limits: any name a caller chooses (header name, key-extractor path) is data, never a property of a
 * program object.
 */
let server: TestServer;
let n = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}${n++}`;
const NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];
const secret = 'names-secret';

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

async function source(config: Record<string, unknown>): Promise<{ topic: string; source: string }> {
  const topic = unique('names');
  expect((await server.api('POST', '/v1/topics', { body: { name: topic } })).status).toBe(201);
  const name = unique('src');
  const r = await server.api('PUT', `/v1/webhooks/${name}`, { body: { topic, ...config } });
  expect(r.status).toBe(200);
  return { topic, source: name };
}

/**
 * Posts a delivery with node:http, headers given as a list: fetch leaves out a header named `__proto__`.
 */
function post(
  source: string,
  body: string,
  headers: Array<[string, string]>,
): Promise<{ status: number; json: any }> {
  const url = new URL(`${server.url}/v1/webhooks/${source}`);
  const list = [
    ['host', url.host],
    ['content-type', 'application/json'],
    ['content-length', String(Buffer.byteLength(body))],
    ...headers,
  ].flat();
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: url.hostname, port: url.port, method: 'POST', path: url.pathname, headers: list },
      (response) => {
        let text = '';
        response.on('data', (chunk) => {
          text += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, json: JSON.parse(text) }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

function deliverGithub(source: string, body: string, extra: Record<string, string> = {}) {
  return post(source, body, [
    ...Object.entries(githubHeaders(secret, unique('d'), body)),
    ...Object.entries(extra),
  ]);
}

async function recordAt(topic: string, offset: number) {
  const r = await server.api('GET', `/v1/topics/${topic}/partitions/0/records?offset=${offset}`);
  return r.json.records[0];
}

describe.each(NAMES)('the name %s', (name) => {
  it('as a key extractor header: absent gives no key; present gives its value', async () => {
    const { topic, source: src } = await source({
      verify: { scheme: 'github', secret },
      key: `header:${name}`,
    });
    const absent = await deliverGithub(src, `{"n":"${name}-1"}`);
    expect(absent.status).toBe(202);
    expect((await recordAt(topic, absent.json.offset)).key).toBeNull();
    const present = await deliverGithub(src, `{"n":"${name}-2"}`, { [name]: 'the-key' });
    expect(present.status).toBe(202);
    expect((await recordAt(topic, present.json.offset)).key).toBe('the-key');
  });

  it('as a key extractor JSON path: absent gives no key; present gives its value', async () => {
    const { topic, source: src } = await source({
      verify: { scheme: 'github', secret },
      key: `json:${name}`,
    });
    const absent = await deliverGithub(src, '{"other":1}');
    expect(absent.status).toBe(202);
    expect((await recordAt(topic, absent.json.offset)).key).toBeNull();
    const present = await deliverGithub(src, `{"${name}":"k-${name}"}`);
    expect(present.status).toBe(202);
    expect((await recordAt(topic, present.json.offset)).key).toBe(`k-${name}`);
  });

  it('as a header copied onto records', async () => {
    const { topic, source: src } = await source({ verify: { scheme: 'github', secret }, headers: [name] });
    const r = await deliverGithub(src, `{"n":"${name}-3"}`, { [name]: 'carried' });
    expect(r.status).toBe(202);
    const record = await recordAt(topic, r.json.offset);
    // HTTP header names are case-insensitive: copied headers are named in lower case.
    expect(Object.hasOwn(record.headers, name.toLowerCase())).toBe(true);
    expect(record.headers[name.toLowerCase()]).toBe('carried');
  });

  it("as hmac-sha256's signature header", async () => {
    const { source: src } = await source({ verify: { scheme: 'hmac-sha256', secret, header: name } });
    const body = `{"n":"${name}-4"}`;
    const unsigned = await post(src, body, []);
    expect([unsigned.status, unsigned.json.code]).toEqual([401, 'WEBHOOK_SIGNATURE_INVALID']);
    const signed = await post(src, body, [[name, hmacHex(secret, body)]]);
    expect(signed.status).toBe(202);
  });
});
