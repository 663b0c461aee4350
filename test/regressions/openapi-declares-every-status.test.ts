import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../lib/errors.js';
import { DEFAULT_LIMITS } from '../../lib/limits.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { standardWebhooksHeaders } from '../support/webhook-signers.js';

/**
 * Regression: /openapi.json did not say what the server answers. 400/413/415/422/431 were missing on most
 * routes, the 416 body's fields, /healthz, the live tail (SSE) and the webhook delivery body were absent, no
 * operation had an operationId, `Problem.code` was any string, `ProduceRecord.value` was optional although
 * the server requires it. Here every route is called for real, once per status it can answer, and the
 * document must declare that status on that operation (with the problem schema for errors).
 */

interface OpenApiDoc {
  servers?: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}
interface Operation {
  operationId?: string;
  parameters?: { name: string; in: string; schema: Schema }[];
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { content?: Record<string, { schema?: Schema }> }>;
}
interface Schema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  example?: unknown;
  required?: string[];
  allOf?: Schema[];
  properties?: Record<string, Schema>;
}

interface Answer {
  status: number;
  contentType: string;
  body: unknown;
}

interface Case {
  /** `METHOD /template` as in the document. */
  op: string;
  what: string;
  status: number;
  send: () => Promise<Answer>;
}

// Small, so that a body over the limit has been sent whole before the server answers 413.
const SMALL_LIMIT = 4 * 1024;
const tooLarge = JSON.stringify({ name: 'x', padding: 'x'.repeat(SMALL_LIMIT + 1024) });

let server: TestServer;
let doc: OpenApiDoc;
/** A key that may only produce to `elsewhere.*`: forbidden everywhere these calls go. */
let strangerToken: string;
let members: { a: string; b: string; gen1Cursor: string; generation: number };

async function call(
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; headers?: Record<string, string>; auth?: string | null } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  const auth = options.auth === undefined ? server.token : options.auth;
  if (auth !== null) headers.authorization = `Bearer ${auth}`;
  let body: string | undefined = options.raw;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: parsed };
}

/** Opens a live tail and closes it as soon as the response head has arrived. */
async function openTail(path: string): Promise<Answer> {
  const abort = new AbortController();
  const response = await fetch(`${server.url}${path}`, {
    headers: { authorization: `Bearer ${server.token}`, accept: 'text/event-stream' },
    signal: abort.signal,
  });
  const answer = {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    body: '',
  };
  abort.abort();
  return answer;
}

const stranger = () => strangerToken;

const cases: Case[] = [
  // ---- service
  { op: 'GET /healthz', what: 'serving', status: 200, send: () => call('GET', '/healthz', { auth: null }) },
  {
    op: 'GET /openapi.json',
    what: 'the document',
    status: 200,
    send: () => call('GET', '/openapi.json', { auth: null }),
  },

  // ---- topics
  {
    op: 'POST /v1/topics',
    what: 'created',
    status: 201,
    send: () => call('POST', '/v1/topics', { body: { name: 'made', partitions: 2 } }),
  },
  {
    op: 'POST /v1/topics',
    what: 'a bad name',
    status: 400,
    send: () => call('POST', '/v1/topics', { body: { name: 'a/b' } }),
  },
  {
    op: 'POST /v1/topics',
    what: 'no token',
    status: 401,
    send: () => call('POST', '/v1/topics', { body: { name: 'x' }, auth: null }),
  },
  {
    op: 'POST /v1/topics',
    what: 'a key without admin',
    status: 403,
    send: () => call('POST', '/v1/topics', { body: { name: 'x' }, auth: stranger() }),
  },
  {
    op: 'POST /v1/topics',
    what: 'the name is taken',
    status: 409,
    send: () => call('POST', '/v1/topics', { body: { name: 'orders' } }),
  },
  {
    op: 'POST /v1/topics',
    what: 'a body over the limit',
    status: 413,
    send: () =>
      call('POST', '/v1/topics', { raw: tooLarge, headers: { 'content-type': 'application/json' } }),
  },
  {
    op: 'POST /v1/topics',
    what: 'not JSON',
    status: 415,
    send: () => call('POST', '/v1/topics', { raw: 'name=x', headers: { 'content-type': 'text/plain' } }),
  },
  { op: 'GET /v1/topics', what: 'listed', status: 200, send: () => call('GET', '/v1/topics') },
  {
    op: 'GET /v1/topics',
    what: 'a bad token',
    status: 401,
    send: () => call('GET', '/v1/topics', { auth: 'nope' }),
  },
  {
    op: 'GET /v1/topics/{topic}',
    what: 'described',
    status: 200,
    send: () => call('GET', '/v1/topics/orders'),
  },
  {
    op: 'GET /v1/topics/{topic}',
    what: 'missing',
    status: 404,
    send: () => call('GET', '/v1/topics/missing'),
  },
  {
    op: 'GET /v1/topics/{topic}',
    what: 'a key without rights',
    status: 403,
    send: () => call('GET', '/v1/topics/orders', { auth: stranger() }),
  },
  {
    op: 'PATCH /v1/topics/{topic}',
    what: 'grown',
    status: 200,
    send: () => call('PATCH', '/v1/topics/made', { body: { partitions: 3 } }),
  },
  {
    op: 'PATCH /v1/topics/{topic}',
    what: 'shrunk',
    status: 400,
    send: () => call('PATCH', '/v1/topics/made', { body: { partitions: 1 } }),
  },
  {
    op: 'PATCH /v1/topics/{topic}',
    what: 'missing',
    status: 404,
    send: () => call('PATCH', '/v1/topics/missing', { body: { partitions: 3 } }),
  },
  {
    op: 'PATCH /v1/topics/{topic}',
    what: 'not JSON',
    status: 415,
    send: () => call('PATCH', '/v1/topics/made', { raw: 'x', headers: { 'content-type': 'text/plain' } }),
  },
  {
    op: 'DELETE /v1/topics/{topic}',
    what: 'deleted',
    status: 204,
    send: () => call('DELETE', '/v1/topics/made'),
  },
  {
    op: 'DELETE /v1/topics/{topic}',
    what: 'missing',
    status: 404,
    send: () => call('DELETE', '/v1/topics/missing'),
  },
  {
    op: 'DELETE /v1/topics/{topic}',
    what: 'a key without admin',
    status: 403,
    send: () => call('DELETE', '/v1/topics/orders', { auth: stranger() }),
  },
  {
    op: 'GET /v1/topics/{topic}/partitions',
    what: 'listed',
    status: 200,
    send: () => call('GET', '/v1/topics/orders/partitions'),
  },
  {
    op: 'GET /v1/topics/{topic}/partitions',
    what: 'missing',
    status: 404,
    send: () => call('GET', '/v1/topics/missing/partitions'),
  },
  {
    op: 'GET /v1/topics/{topic}/partitions/{p}/offsets',
    what: 'found',
    status: 200,
    send: () => call('GET', '/v1/topics/orders/partitions/0/offsets?timestamp=0'),
  },
  {
    op: 'GET /v1/topics/{topic}/partitions/{p}/offsets',
    what: 'no timestamp',
    status: 400,
    send: () => call('GET', '/v1/topics/orders/partitions/0/offsets'),
  },
  {
    op: 'GET /v1/topics/{topic}/partitions/{p}/offsets',
    what: 'no such partition',
    status: 404,
    send: () => call('GET', '/v1/topics/orders/partitions/9/offsets?timestamp=0'),
  },

  // ---- records
  {
    op: 'POST /v1/topics/{topic}/records',
    what: 'produced',
    status: 200,
    send: () => call('POST', '/v1/topics/orders/records', { body: { records: [{ key: 'k', value: 1 }] } }),
  },
  {
    op: 'POST /v1/topics/{topic}/records',
    what: 'a record without value',
    status: 400,
    send: () => call('POST', '/v1/topics/orders/records', { body: { records: [{ key: 'k' }] } }),
  },
  {
    op: 'POST /v1/topics/{topic}/records',
    what: 'a key without produce',
    status: 403,
    send: () =>
      call('POST', '/v1/topics/orders/records', { body: { records: [{ value: 1 }] }, auth: stranger() }),
  },
  {
    op: 'POST /v1/topics/{topic}/records',
    what: 'no such topic',
    status: 404,
    send: () => call('POST', '/v1/topics/missing/records', { body: { records: [{ value: 1 }] } }),
  },
  {
    op: 'POST /v1/topics/{topic}/records',
    what: 'no such partition',
    status: 404,
    send: () =>
      call('POST', '/v1/topics/orders/records', { body: { records: [{ value: 1, partition: 7 }] } }),
  },
  {
    op: 'POST /v1/topics/{topic}/records',
    what: "a record over the topic's maxRecordBytes",
    status: 413,
    send: () => call('POST', '/v1/topics/small/records', { body: { records: [{ value: 'x'.repeat(200) }] } }),
  },
  {
    op: 'POST /v1/topics/{topic}/records',
    what: 'a body over the limit',
    status: 413,
    send: () =>
      call('POST', '/v1/topics/orders/records', {
        raw: tooLarge,
        headers: { 'content-type': 'application/json' },
      }),
  },
  {
    op: 'POST /v1/topics/{topic}/records',
    what: 'not JSON',
    status: 415,
    send: () =>
      call('POST', '/v1/topics/orders/records', { raw: 'x', headers: { 'content-type': 'text/plain' } }),
  },
  {
    op: 'POST /v1/topics/{topic}/records',
    what: 'an Idempotency-Key reused with another body',
    status: 422,
    send: () =>
      call('POST', '/v1/topics/orders/records', {
        body: { records: [{ value: 2 }] },
        headers: { 'idempotency-key': 'once' },
      }),
  },
  {
    op: 'GET /v1/topics/{topic}/partitions/{p}/records',
    what: 'fetched',
    status: 200,
    send: () => call('GET', '/v1/topics/orders/partitions/0/records?offset=earliest'),
  },
  {
    op: 'GET /v1/topics/{topic}/partitions/{p}/records',
    what: 'a live tail (SSE)',
    status: 200,
    send: () => openTail('/v1/topics/orders/partitions/0/records?offset=latest'),
  },
  {
    op: 'GET /v1/topics/{topic}/partitions/{p}/records',
    what: 'maxRecords out of bounds',
    status: 400,
    send: () => call('GET', '/v1/topics/orders/partitions/0/records?maxRecords=0'),
  },
  {
    op: 'GET /v1/topics/{topic}/partitions/{p}/records',
    what: 'a key without consume',
    status: 403,
    send: () => call('GET', '/v1/topics/orders/partitions/0/records', { auth: stranger() }),
  },
  {
    op: 'GET /v1/topics/{topic}/partitions/{p}/records',
    what: 'no such partition',
    status: 404,
    send: () => call('GET', '/v1/topics/orders/partitions/9/records'),
  },
  {
    op: 'GET /v1/topics/{topic}/partitions/{p}/records',
    what: 'an offset past the high watermark',
    status: 416,
    send: () => call('GET', '/v1/topics/orders/partitions/0/records?offset=999'),
  },

  // ---- API keys
  {
    op: 'POST /v1/keys',
    what: 'minted',
    status: 201,
    send: () =>
      call('POST', '/v1/keys', { body: { name: 'k', permissions: [{ topics: 'a', actions: ['consume'] }] } }),
  },
  {
    op: 'POST /v1/keys',
    what: 'no permissions',
    status: 400,
    send: () => call('POST', '/v1/keys', { body: { name: 'k', permissions: [] } }),
  },
  {
    op: 'POST /v1/keys',
    what: 'a key',
    status: 403,
    send: () =>
      call('POST', '/v1/keys', {
        body: { name: 'k', permissions: [{ topics: 'a', actions: ['consume'] }] },
        auth: stranger(),
      }),
  },
  { op: 'GET /v1/keys', what: 'listed', status: 200, send: () => call('GET', '/v1/keys') },
  {
    op: 'GET /v1/keys',
    what: 'a key',
    status: 403,
    send: () => call('GET', '/v1/keys', { auth: stranger() }),
  },
  {
    op: 'DELETE /v1/keys/{id}',
    what: 'unknown id',
    status: 404,
    send: () => call('DELETE', '/v1/keys/0000000000000000'),
  },

  // ---- maintenance
  {
    op: 'POST /v1/admin/maintenance/{job}',
    what: 'a pass',
    status: 200,
    send: () => call('POST', '/v1/admin/maintenance/retention'),
  },
  {
    op: 'POST /v1/admin/maintenance/{job}',
    what: 'minAgeMs for gc',
    status: 400,
    send: () => call('POST', '/v1/admin/maintenance/gc', { body: { minAgeMs: 0 } }),
  },
  {
    op: 'POST /v1/admin/maintenance/{job}',
    what: 'a key',
    status: 403,
    send: () => call('POST', '/v1/admin/maintenance/gc', { auth: stranger() }),
  },

  // ---- webhooks
  {
    op: 'PUT /v1/webhooks/{source}',
    what: 'configured',
    status: 200,
    send: () => call('PUT', '/v1/webhooks/plain', { body: { topic: 'orders', verify: { scheme: 'none' } } }),
  },
  {
    op: 'PUT /v1/webhooks/{source}',
    what: "a secret for scheme 'none'",
    status: 400,
    send: () =>
      call('PUT', '/v1/webhooks/plain', {
        body: { topic: 'orders', verify: { scheme: 'none', secret: 's' } },
      }),
  },
  {
    op: 'PUT /v1/webhooks/{source}',
    what: 'a key without admin',
    status: 403,
    send: () =>
      call('PUT', '/v1/webhooks/plain', {
        body: { topic: 'orders', verify: { scheme: 'none' } },
        auth: stranger(),
      }),
  },
  {
    op: 'PUT /v1/webhooks/{source}',
    what: 'not JSON',
    status: 415,
    send: () => call('PUT', '/v1/webhooks/plain', { raw: 'x', headers: { 'content-type': 'text/plain' } }),
  },
  { op: 'GET /v1/webhooks', what: 'listed', status: 200, send: () => call('GET', '/v1/webhooks') },
  {
    op: 'GET /v1/webhooks/{source}',
    what: 'shown',
    status: 200,
    send: () => call('GET', '/v1/webhooks/plain'),
  },
  {
    op: 'GET /v1/webhooks/{source}',
    what: 'missing',
    status: 404,
    send: () => call('GET', '/v1/webhooks/missing'),
  },
  {
    op: 'POST /v1/webhooks/{source}',
    what: 'accepted',
    status: 202,
    send: () =>
      call('POST', '/v1/webhooks/plain', {
        raw: '{"n":1}',
        headers: { 'content-type': 'application/json', 'x-delivery-id': 'd-1' },
        auth: null,
      }),
  },
  {
    op: 'POST /v1/webhooks/{source}',
    what: 'a duplicate',
    status: 200,
    send: () =>
      call('POST', '/v1/webhooks/plain', {
        raw: '{"n":1}',
        headers: { 'content-type': 'application/json', 'x-delivery-id': 'd-1' },
        auth: null,
      }),
  },
  {
    op: 'POST /v1/webhooks/{source}',
    what: 'a signed delivery id reused with another body',
    status: 422,
    send: async () => {
      // Only a scheme that signs its delivery id can tell a reuse (unsigned ids dedupe by body).
      const secret = `whsec_${Buffer.from('a-standard-webhooks-secret').toString('base64')}`;
      const put = await call('PUT', '/v1/webhooks/svix', {
        body: { topic: 'orders', verify: { scheme: 'standard-webhooks', secret } },
      });
      expect(put.status).toBe(200);
      const deliver = (raw: string) =>
        call('POST', '/v1/webhooks/svix', {
          raw,
          headers: {
            'content-type': 'application/json',
            ...standardWebhooksHeaders(secret, 'msg-1', Math.floor(Date.now() / 1000), raw),
          },
          auth: null,
        });
      expect((await deliver('{"n":1}')).status).toBe(202);
      return deliver('{"n":2}');
    },
  },
  {
    op: 'POST /v1/webhooks/{source}',
    what: 'no signature',
    status: 401,
    send: () =>
      call('POST', '/v1/webhooks/signed', {
        raw: '{}',
        headers: { 'content-type': 'application/json' },
        auth: null,
      }),
  },
  {
    op: 'POST /v1/webhooks/{source}',
    what: 'unknown source',
    status: 404,
    send: () =>
      call('POST', '/v1/webhooks/missing', {
        raw: '{}',
        headers: { 'content-type': 'application/json' },
        auth: null,
      }),
  },
  {
    op: 'POST /v1/webhooks/{source}',
    what: 'a body over the limit',
    status: 413,
    send: () =>
      call('POST', '/v1/webhooks/plain', {
        raw: tooLarge,
        headers: { 'content-type': 'application/json' },
        auth: null,
      }),
  },
  {
    op: 'DELETE /v1/webhooks/{source}',
    what: 'removed',
    status: 204,
    send: () => call('DELETE', '/v1/webhooks/signed'),
  },
  {
    op: 'DELETE /v1/webhooks/{source}',
    what: 'missing',
    status: 404,
    send: () => call('DELETE', '/v1/webhooks/signed'),
  },

  // ---- consumer groups (members a and b of g1 share `orders`'s two partitions)
  {
    op: 'POST /v1/groups/{group}/members',
    what: 'no topics',
    status: 400,
    send: () => call('POST', '/v1/groups/g2/members', { body: { topics: [] } }),
  },
  {
    op: 'POST /v1/groups/{group}/members',
    what: 'a key without rights',
    status: 403,
    send: () => call('POST', '/v1/groups/g2/members', { body: { topics: ['orders'] }, auth: stranger() }),
  },
  {
    op: 'POST /v1/groups/{group}/members',
    what: 'a topic that does not exist',
    status: 404,
    send: () => call('POST', '/v1/groups/g2/members', { body: { topics: ['missing'] } }),
  },
  {
    op: 'POST /v1/groups/{group}/members',
    what: 'not JSON',
    status: 415,
    send: () =>
      call('POST', '/v1/groups/g2/members', { raw: 'x', headers: { 'content-type': 'text/plain' } }),
  },
  {
    op: 'POST /v1/groups/{group}/members/{memberId}/heartbeat',
    what: 'alive',
    status: 200,
    send: () => call('POST', `/v1/groups/g1/members/${members.b}/heartbeat`),
  },
  {
    op: 'POST /v1/groups/{group}/members/{memberId}/heartbeat',
    what: 'unknown member',
    status: 404,
    send: () => call('POST', '/v1/groups/g1/members/nobody/heartbeat'),
  },
  {
    op: 'POST /v1/groups/{group}/members/{memberId}/heartbeat',
    what: 'a key without rights',
    status: 403,
    send: () => call('POST', `/v1/groups/g1/members/${members.b}/heartbeat`, { auth: stranger() }),
  },
  {
    op: 'POST /v1/groups/{group}/members/{memberId}/heartbeat',
    what: 'a body that is not JSON',
    status: 415,
    send: () =>
      call('POST', `/v1/groups/g1/members/${members.b}/heartbeat`, {
        raw: 'x',
        headers: { 'content-type': 'text/plain' },
      }),
  },
  {
    op: 'GET /v1/groups/{group}/members/{memberId}/records',
    what: 'fetched',
    status: 200,
    send: () => call('GET', `/v1/groups/g1/members/${members.b}/records`),
  },
  {
    op: 'GET /v1/groups/{group}/members/{memberId}/records',
    what: 'a cursor that is not one',
    status: 400,
    send: () => call('GET', `/v1/groups/g1/members/${members.b}/records?cursor=nonsense`),
  },
  {
    op: 'GET /v1/groups/{group}/members/{memberId}/records',
    what: 'unknown member',
    status: 404,
    send: () => call('GET', '/v1/groups/g1/members/nobody/records'),
  },
  {
    op: 'GET /v1/groups/{group}/members/{memberId}/records',
    what: "a cursor from before the member's assignment changed",
    status: 409,
    send: () => call('GET', `/v1/groups/g1/members/${members.a}/records?cursor=${members.gen1Cursor}`),
  },
  {
    op: 'POST /v1/groups/{group}/commits',
    what: 'an offset above the high watermark',
    status: 416,
    send: () => commitAsOwner(999),
  },
  { op: 'POST /v1/groups/{group}/commits', what: 'committed', status: 204, send: () => commitAsOwner(0) },
  {
    op: 'POST /v1/groups/{group}/commits',
    what: 'a partition of another member',
    status: 409,
    send: () => commitAsOther(),
  },
  {
    op: 'POST /v1/groups/{group}/commits',
    what: 'unknown member',
    status: 404,
    send: () =>
      call('POST', '/v1/groups/g1/commits', {
        body: { memberId: 'nobody', generation: 1, offsets: [{ topic: 'orders', partition: 0, offset: 0 }] },
      }),
  },
  {
    op: 'POST /v1/groups/{group}/commits',
    what: 'no offsets',
    status: 400,
    send: () =>
      call('POST', '/v1/groups/g1/commits', { body: { memberId: members.a, generation: 1, offsets: [] } }),
  },
  {
    op: 'POST /v1/groups/{group}/offsets/reset',
    what: 'live members',
    status: 409,
    send: () => call('POST', '/v1/groups/g1/offsets/reset', { body: { to: 'earliest' } }),
  },
  {
    op: 'POST /v1/groups/{group}/offsets/reset',
    what: 'unknown group',
    status: 404,
    send: () => call('POST', '/v1/groups/nothing-here/offsets/reset', { body: { to: 'earliest' } }),
  },
  {
    op: 'POST /v1/groups/{group}/offsets/reset',
    what: 'an unknown target',
    status: 400,
    send: () => call('POST', '/v1/groups/g1/offsets/reset', { body: { to: 'nowhere' } }),
  },
  { op: 'GET /v1/groups', what: 'listed', status: 200, send: () => call('GET', '/v1/groups') },
  {
    op: 'GET /v1/groups',
    what: 'no token',
    status: 401,
    send: () => call('GET', '/v1/groups', { auth: null }),
  },
  { op: 'GET /v1/groups/{group}', what: 'described', status: 200, send: () => call('GET', '/v1/groups/g1') },
  {
    op: 'GET /v1/groups/{group}',
    what: 'unknown group',
    status: 404,
    send: () => call('GET', '/v1/groups/nothing-here'),
  },
  {
    op: 'GET /v1/groups/{group}',
    what: 'a key without rights',
    status: 403,
    send: () => call('GET', '/v1/groups/g1', { auth: stranger() }),
  },
  {
    op: 'DELETE /v1/groups/{group}/members/{memberId}',
    what: 'left',
    status: 204,
    send: () => call('DELETE', `/v1/groups/g1/members/${members.b}`),
  },
  {
    op: 'DELETE /v1/groups/{group}/members/{memberId}',
    what: 'unknown member',
    status: 404,
    send: () => call('DELETE', `/v1/groups/g1/members/${members.b}`),
  },
  {
    op: 'POST /v1/groups/{group}/offsets/reset',
    what: 'reset once no member is live',
    status: 200,
    send: () => resetIdleGroup(),
  },
];

/** Member a commits partition 0 (its own after the rebalance) in the current generation. */
function commitAsOwner(offset: number): Promise<Answer> {
  return call('POST', '/v1/groups/g1/commits', {
    body: {
      memberId: members.a,
      generation: members.generation,
      offsets: [{ topic: 'orders', partition: 0, offset }],
    },
  });
}

/** Member b commits partition 0, which member a owns. */
function commitAsOther(): Promise<Answer> {
  return call('POST', '/v1/groups/g1/commits', {
    body: {
      memberId: members.b,
      generation: members.generation,
      offsets: [{ topic: 'orders', partition: 0, offset: 0 }],
    },
  });
}

/** Member a leaves too, so g1 has no live member and its offsets may be reset. */
async function resetIdleGroup(): Promise<Answer> {
  expect((await call('DELETE', `/v1/groups/g1/members/${members.a}`)).status).toBe(204);
  return call('POST', '/v1/groups/g1/offsets/reset', { body: { to: 'earliest', topics: ['orders'] } });
}

function resolveRef(schema: Schema | undefined): Schema | undefined {
  if (schema?.$ref === undefined) return schema;
  return doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')];
}

function operation(op: string): Operation | undefined {
  const [method = '', path = ''] = op.split(' ');
  return doc.paths[path]?.[method.toLowerCase()];
}

beforeAll(async () => {
  server = await startTestServer({ ownBucket: true, limits: { maxRequestBytes: SMALL_LIMIT } });
  doc = (await call('GET', '/openapi.json', { auth: null })).body as OpenApiDoc;
  const key = await call('POST', '/v1/keys', {
    body: { name: 'stranger', permissions: [{ topics: 'elsewhere.*', actions: ['produce'] }] },
  });
  strangerToken = (key.body as { token: string }).token;
  expect((await call('POST', '/v1/topics', { body: { name: 'orders', partitions: 2 } })).status).toBe(201);
  const small = { name: 'small', config: { maxRecordBytes: 100 } };
  expect((await call('POST', '/v1/topics', { body: small })).status).toBe(201);
  const first = { records: [{ value: 1, partition: 0 }] };
  const once = await call('POST', '/v1/topics/orders/records', {
    body: first,
    headers: { 'idempotency-key': 'once' },
  });
  expect(once.status).toBe(200);
  const github = { topic: 'orders', verify: { scheme: 'github', secret: 'it-is-a-secret' } };
  expect((await call('PUT', '/v1/webhooks/signed', { body: github })).status).toBe(200);

  // a joins alone and reads (its cursor is of generation 1); b joins: the partitions are shared.
  const a = await call('POST', '/v1/groups/g1/members', {
    body: { topics: ['orders'], memberId: 'member-a' },
  });
  expect(a.status).toBe(200);
  const fetched = await call('GET', '/v1/groups/g1/members/member-a/records');
  expect(fetched.status).toBe(200);
  const b = await call('POST', '/v1/groups/g1/members', {
    body: { topics: ['orders'], memberId: 'member-b' },
  });
  expect(b.status).toBe(200);
  const heartbeat = await call('POST', '/v1/groups/g1/members/member-a/heartbeat');
  const owned = (heartbeat.body as { assignments: { partition: number }[] }).assignments;
  expect(owned).toEqual([{ topic: 'orders', partition: 0 }]);
  members = {
    a: 'member-a',
    b: 'member-b',
    gen1Cursor: (fetched.body as { cursor: string }).cursor,
    generation: (heartbeat.body as { generation: number }).generation,
  };
});

afterAll(async () => {
  await server?.close();
});

describe('every status the server answers is declared on its operation', () => {
  for (const c of cases) {
    it(`${c.op} → ${c.status} (${c.what})`, async () => {
      const answer = await c.send();
      expect(answer.status, JSON.stringify(answer.body)).toBe(c.status);
      const declared = operation(c.op);
      expect(declared, `${c.op} is not in the document`).toBeDefined();
      const response = declared?.responses[String(c.status)];
      expect(response, `${c.op} does not declare ${c.status}`).toBeDefined();
      if (c.status >= 400) {
        // An error is problem+json, with a code of the document's enum.
        expect(answer.contentType).toMatch(/^application\/problem\+json/);
        expect(response?.content?.['application/problem+json']).toBeDefined();
        expect(ERROR_CODES).toContain((answer.body as { code: string }).code);
      } else if (answer.contentType !== '') {
        const mediaType = answer.contentType.split(';')[0] ?? '';
        expect(Object.keys(response?.content ?? {})).toContain(mediaType);
      }
    });
  }

  it('calls every operation of the document at least once', () => {
    const called = new Set(cases.map((c) => c.op));
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.filter((op) => !called.has(op))).toEqual([]);
  });
});

describe('the document says what the server requires and returns', () => {
  it('gives every operation a unique operationId', () => {
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((op) => op.operationId));
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('lists servers', () => {
    expect(doc.servers?.length).toBeGreaterThan(0);
  });

  it('enumerates the error codes in Problem.code', () => {
    expect(resolveRef(doc.components.schemas.Problem)?.properties?.code?.enum).toEqual([...ERROR_CODES]);
  });

  it('requires a value on every produced record, as the server does', () => {
    expect(doc.components.schemas.ProduceRecord?.required).toContain('value');
  });

  it("declares the 416 body's logStartOffset and highWatermark", () => {
    const schema = operation('GET /v1/topics/{topic}/partitions/{p}/records')?.responses['416']?.content?.[
      'application/problem+json'
    ]?.schema;
    const parts = resolveRef(schema)?.allOf ?? [];
    const fields = parts.flatMap((part) => Object.keys(resolveRef(part)?.properties ?? {}));
    expect(fields).toEqual(expect.arrayContaining(['code', 'logStartOffset', 'highWatermark']));
  });

  it('bounds maxRecords, maxBytes and waitMs as the server does', () => {
    const params = operation('GET /v1/topics/{topic}/partitions/{p}/records')?.parameters ?? [];
    const bounds = Object.fromEntries(
      params.filter((p) => p.in === 'query').map((p) => [p.name, [p.schema.minimum, p.schema.maximum]]),
    );
    expect(bounds).toMatchObject({
      maxRecords: [1, DEFAULT_LIMITS.maxFetchRecords],
      maxBytes: [1, DEFAULT_LIMITS.maxFetchBytes],
      waitMs: [0, DEFAULT_LIMITS.maxFetchWaitMs],
    });
  });

  it('offers the live tail as text/event-stream on the partition fetch', () => {
    const content =
      operation('GET /v1/topics/{topic}/partitions/{p}/records')?.responses['200']?.content ?? {};
    expect(Object.keys(content)).toEqual(expect.arrayContaining(['application/json', 'text/event-stream']));
  });

  it('describes the body of a webhook delivery', () => {
    expect(operation('POST /v1/webhooks/{source}')?.requestBody?.content).toBeDefined();
  });

  it('gives path parameters examples of their own type', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const op of Object.values(ops)) {
        for (const param of op.parameters ?? []) {
          if (param.in !== 'path' || param.schema.example === undefined) continue;
          const type = param.schema.type === 'integer' ? 'number' : 'string';
          expect(typeof param.schema.example, `${path} {${param.name}}`).toBe(type);
        }
      }
    }
  });
});
