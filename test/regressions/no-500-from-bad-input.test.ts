import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * No input may produce a 500 (SPEC §2: bad input gets a clear error). A JSON value nested 5,000 deep (the
 * value encoder's RangeError) and `GET /v1/topics/<1025 characters>` (DynamoDB's key validation) did. This
 * sweep takes every route from the served OpenAPI document, so a route added later is swept too, and sends
 * it bad path names, bad query values, malformed and hostile bodies (deep JSON, lone surrogates, huge and
 * negative numbers, wrong types: each leaf of a valid body replaced in turn) and bad headers.
 */
let server: TestServer;
const run = Date.now().toString(36);
const topic = `sweep.${run}`;
const group = `sweep-group-${run}`;
const member = `m-${run}`;
const sources = { github: `sweep-gh-${run}`, none: `sweep-none-${run}` };
let keyId = '';

beforeAll(async () => {
  // Its own bucket: the sweep may run a garbage-collection pass.
  server = await startTestServer({ ownBucket: true });
  const setup: Array<[string, string, unknown]> = [
    ['POST', '/v1/topics', { name: topic, partitions: 2 }],
    ['POST', `/v1/topics/${topic}/records`, { records: [{ key: 'k', value: { a: 1 } }] }],
    ['PUT', `/v1/webhooks/${sources.github}`, { topic, verify: { scheme: 'github', secret: 'sweep' } }],
    ['PUT', `/v1/webhooks/${sources.none}`, { topic, verify: { scheme: 'none' }, key: 'json:a.b' }],
    ['POST', `/v1/groups/${group}/members`, { topics: [topic], memberId: member }],
  ];
  for (const [method, path, body] of setup) {
    const r = await server.api(method, path, { body });
    expect([method, path, r.status]).toEqual([method, path, r.status < 300 ? r.status : 'ok']);
  }
  const key = await server.api('POST', '/v1/keys', {
    body: { name: 'sweep', permissions: [{ topics: 'other.*', actions: ['produce'] }] },
  });
  keyId = key.json.id;
});
afterAll(async () => {
  await server?.close();
});

const deep = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/** Path parameter values that name nothing that can exist, or cannot be decoded at all. */
const BAD_NAMES = [
  'x'.repeat(1025),
  'y'.repeat(250),
  '%ED%A0%80', // the UTF-8-style bytes of a lone surrogate: not UTF-8
  '%F0%9F%98', // a truncated sequence
  '%',
  '%00',
  'a%20b',
  '..%2F..',
  '-1',
  '99999999999999999999',
  'NaN',
  '1e400',
];

/** Query values that are not what any parameter takes. */
const BAD_QUERY_VALUES = [
  '-1',
  'NaN',
  '1e400',
  '99999999999999999999',
  '1.5',
  '',
  '%ED%A0%80',
  '%',
  'x'.repeat(5000),
];

/** Stands for a value nested 5,000 deep (spliced in as text: JSON.stringify itself cannot write it). */
const DEEP = '<deep>';

/** Replacement values for one leaf of a valid body. */
const BAD_LEAVES: unknown[] = [
  '\ud800',
  'a\udfffb',
  'x'.repeat(70_000),
  -1,
  1.5,
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER + 2,
  true,
  null,
  [],
  {},
  JSON.parse(deep(65)),
  DEEP,
];
/** Whole bodies that no route takes (sent as raw text). */
const BAD_BODIES = [
  '',
  '{',
  '{"a":',
  'null',
  '[]',
  '"text"',
  '1e400',
  '{"__proto__":{"x":1}}',
  '{"records":[{"value":"\\ud800"}],"format":"text"}',
  deep(5_000),
  deep(100_000),
  `{"records":[{"value":${deep(5_000)}}]}`,
  `{"records":[{"key":"k","value":1,"headers":{"h":${deep(5_000)}}}]}`,
];

/** A valid body per operation, whose leaves the sweep replaces one at a time. */
function validBody(method: string, path: string): unknown {
  const bodies: Record<string, unknown> = {
    'POST /v1/topics': {
      name: `sweep-new.${run}`,
      partitions: 1,
      config: { retentionMs: 60000, cleanupPolicy: 'delete' },
    },
    'PATCH /v1/topics/{topic}': { partitions: 2, config: { retentionMs: 60000, maxRecordBytes: 1000 } },
    'POST /v1/topics/{topic}/records': {
      records: [{ key: 'k', value: { a: [1, 's'] }, headers: { h: 'v' }, partition: 0, timestamp: 1 }],
      format: 'json',
    },
    'POST /v1/groups/{group}/members': {
      topics: [topic],
      memberId: `other-${run}`,
      sessionTimeoutMs: 30000,
      autoOffsetReset: 'earliest',
    },
    'POST /v1/groups/{group}/commits': {
      memberId: member,
      generation: 1,
      offsets: [{ topic, partition: 0, offset: 0 }],
    },
    'POST /v1/groups/{group}/offsets/reset': { to: 'offset', offset: 0, topics: [topic] },
    'POST /v1/keys': {
      name: 'k',
      permissions: [{ topics: 'other.*', actions: ['produce'] }],
      expiresAt: 4102444800000,
    },
    'PUT /v1/webhooks/{source}': {
      topic,
      verify: { scheme: 'github', secret: 'sweep', toleranceSec: 300 },
      key: 'json:a.b',
      headers: ['x-a'],
      dedupeWindowMs: 3600000,
    },
    'POST /v1/admin/maintenance/{job}': { minAgeMs: 0 },
    'POST /v1/webhooks/{source}': { a: { b: 'key' } },
  };
  return bodies[`${method} ${path}`] ?? {};
}

/** Every variant of `body` with one node (a leaf or a container) replaced by each bad value. */
function mutations(body: unknown): string[] {
  const out: string[] = [];
  const visit = (node: unknown, replace: (value: unknown) => unknown) => {
    for (const bad of BAD_LEAVES) out.push(JSON.stringify(replace(bad)).replace(`"${DEEP}"`, deep(5_000)));
    if (node !== null && typeof node === 'object') {
      for (const [k, child] of Object.entries(node)) {
        visit(child, (value) =>
          replace(
            Array.isArray(node) ? node.map((c, i) => (String(i) === k ? value : c)) : { ...node, [k]: value },
          ),
        );
      }
    }
  };
  visit(body, (value) => value);
  return out;
}

function goodParam(name: string, path: string): string {
  switch (name) {
    case 'topic':
      return topic;
    case 'p':
      return '0';
    case 'group':
      return group;
    case 'memberId':
      return member;
    case 'source':
      return path.includes('webhooks') ? sources.none : sources.github;
    case 'id':
      return keyId;
    case 'job':
      return 'compact';
    default:
      return 'x';
  }
}

interface Probe {
  method: string;
  url: string;
  body?: string;
  headers?: Record<string, string>;
}

async function send(probe: Probe): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = { authorization: `Bearer ${server.token}`, ...probe.headers };
  if (probe.body !== undefined) headers['content-type'] ??= 'application/json';
  const response = await fetch(`${server.url}${probe.url}`, {
    method: probe.method,
    headers,
    ...(probe.body !== undefined ? { body: probe.body } : {}),
    signal: AbortSignal.timeout(25_000),
  });
  return { status: response.status, text: (await response.text()).slice(0, 300) };
}

async function sweep(probes: Probe[]): Promise<string[]> {
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < probes.length; i = next++) {
      const probe = probes[i] as Probe;
      const r = await send(probe);
      if (r.status >= 500) {
        failures.push(
          `${probe.method} ${probe.url.slice(0, 120)} ${probe.body?.slice(0, 120) ?? ''} → ${r.status} ${r.text}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  return failures;
}

interface Operation {
  method: string;
  path: string;
  params: Array<{ name: string; in: string }>;
  hasBody: boolean;
}

async function operations(): Promise<Operation[]> {
  const doc = (await server.api('GET', '/openapi.json')).json;
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const [method, op] of Object.entries(item)) {
      ops.push({
        method: method.toUpperCase(),
        path,
        params: op.parameters ?? [],
        hasBody: op.requestBody !== undefined || (method === 'post' && path === '/v1/webhooks/{source}'),
      });
    }
  }
  return ops;
}

const fill = (op: Operation, values: Record<string, string>) =>
  op.path.replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? goodParam(name, op.path));

const goodValues = (op: Operation) =>
  Object.fromEntries(
    op.params.filter((p) => p.in === 'path').map((p) => [p.name, goodParam(p.name, op.path)]),
  );

describe('no input produces a 500', () => {
  it('the sweep covers every route of the OpenAPI document', async () => {
    const ops = await operations();
    expect(ops.length).toBeGreaterThanOrEqual(20);
    expect(ops.map((op) => `${op.method} ${op.path}`)).toEqual(
      expect.arrayContaining([
        'POST /v1/topics/{topic}/records',
        'POST /v1/webhooks/{source}',
        'GET /v1/webhooks',
      ]),
    );
  });

  it('bad names in every path parameter', async () => {
    const probes: Probe[] = [];
    for (const op of await operations()) {
      for (const param of op.params.filter((p) => p.in === 'path')) {
        for (const bad of BAD_NAMES) {
          const url = fill(op, { ...goodValues(op), [param.name]: bad });
          probes.push({
            method: op.method,
            url,
            ...(op.hasBody ? { body: JSON.stringify(validBody(op.method, op.path)) } : {}),
          });
        }
      }
    }
    expect(await sweep(probes)).toEqual([]);
  });

  it('bad values in every query parameter, and repeated parameters', async () => {
    const probes: Probe[] = [];
    for (const op of await operations()) {
      if (op.method === 'DELETE') continue;
      for (const param of op.params.filter((p) => p.in === 'query')) {
        for (const bad of [...BAD_QUERY_VALUES, '1&x=1'.replace('x', param.name)]) {
          probes.push({ method: op.method, url: `${fill(op, goodValues(op))}?${param.name}=${bad}` });
        }
      }
      // Lone surrogates and undecodable escapes in a query string no route declares.
      probes.push({ method: op.method, url: `${fill(op, goodValues(op))}?%ED%A0%80=%ED%A0%80&a=%` });
    }
    expect(await sweep(probes)).toEqual([]);
  });

  it('malformed, hostile and wrongly typed bodies on every route that takes one', async () => {
    const probes: Probe[] = [];
    for (const op of await operations()) {
      if (!op.hasBody || op.method === 'DELETE') continue;
      const url = fill(op, goodValues(op));
      for (const body of [...BAD_BODIES, ...mutations(validBody(op.method, op.path))]) {
        probes.push({ method: op.method, url, body });
      }
      probes.push({ method: op.method, url, body: '{}', headers: { 'content-type': 'text/plain' } });
      probes.push({
        method: op.method,
        url,
        body: '{}',
        headers: { 'content-type': 'application/json; charset=latin1' },
      });
    }
    expect(probes.length).toBeGreaterThan(1000);
    expect(await sweep(probes)).toEqual([]);
  }, 300_000);

  it('bad headers: Idempotency-Key, Last-Event-ID, Accept, Authorization', async () => {
    const produce = `/v1/topics/${topic}/records`;
    const body = JSON.stringify({ records: [{ value: 1 }] });
    const probes: Probe[] = [
      ...[' ', 'x'.repeat(300), 'a b', '\u00e9'].map((key) => ({
        method: 'POST',
        url: produce,
        body,
        headers: { 'idempotency-key': key },
      })),
      ...['abc', '-5', '1e400', '99999999999999999999', ''].map((id) => ({
        method: 'GET',
        url: `/v1/topics/no.such.${run}/partitions/0/records`,
        headers: { accept: 'text/event-stream', 'last-event-id': id },
      })),
      ...[
        'Bearer',
        'Bearer sk_0123456789abcdef_x',
        `Bearer sk_${'0'.repeat(16)}_${'a'.repeat(43)}`,
        'Basic x',
      ].map((authorization) => ({ method: 'GET', url: '/v1/topics', headers: { authorization } })),
      {
        method: 'GET',
        url: `/v1/groups/${group}/members/${member}/records`,
        headers: { 'sluice-cursor': '%%%' },
      },
      { method: 'GET', url: `/v1/groups/${group}/members/${member}/records?cursor=${'A'.repeat(5000)}` },
      { method: 'GET', url: `/v1/groups/${group}/members/${member}/records?cursor=%ED%A0%80` },
    ];
    expect(await sweep(probes)).toEqual([]);
  });
});
