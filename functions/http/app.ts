import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { DEFAULT_KEY_AUTHENTICATOR_OPTIONS, KeyAuthenticator } from '../../lib/auth/authenticator.js';
import { ACTIONS, authorize, canSee } from '../../lib/auth/permissions.js';
import { type Clock, systemClock } from '../../lib/clock.js';
import { GroupCoordinator, type GroupCoordinatorOptions } from '../../lib/groups/coordinator.js';
import type { GroupStore } from '../../lib/groups/group-store.js';
import type { Limits } from '../../lib/limits.js';
import type { FetchResult, Log } from '../../lib/log/log.js';
import { TOPIC_NAME_PATTERN } from '../../lib/log/topics.js';
import { inProcessRunner, type MaintenanceRunner } from '../../lib/maintenance/runner.js';
import type { KeyStore } from '../../lib/metadata/key-store.js';
import type { Topic } from '../../lib/types.js';
import { WebhookIngestor } from '../../lib/webhooks/ingest.js';
import { MissCachingWebhookSourceStore } from '../../lib/webhooks/miss-caching-source-store.js';
import { SecretBox } from '../../lib/webhooks/secrets.js';
import type { WebhookSourceStore } from '../../lib/webhooks/source-store.js';
import { registerAdminRoutes } from './admin-routes.js';
import { authenticate, bearerToken, principalOf, requireAnyPermission, requirePermission } from './auth.js';
import { problem, problemResponse, toProblem } from './errors.js';
import { registerGroupRoutes } from './groups-routes.js';
import { registerKeyRoutes } from './keys-routes.js';
import {
  anyRouteResponses,
  authResponses,
  CreateTopicBody,
  FETCH_DEFAULTS,
  FetchQuery,
  FetchResultSchema,
  IdempotencyHeaders,
  json,
  jsonBodyResponses,
  nameInPath,
  notFoundCodeOf,
  OffsetOutOfRangeProblem,
  OffsetQuery,
  OffsetResult,
  PartitionParam,
  PartitionsSchema,
  PatchTopicBody,
  ProduceBody,
  ProduceResult,
  problemDoc,
  TopicListSchema,
  TopicSchema,
} from './schemas.js';
import { serializeFetchResult } from './serialize.js';
import {
  DEFAULT_SSE_HEARTBEAT_MS,
  type SseMaxDuration,
  sseCheckTimings,
  streamRecords,
  wantsEventStream,
} from './sse.js';
import { isWebhookDelivery, registerWebhookRoutes } from './webhooks-routes.js';

export interface AppDeps {
  log: Log;
  adminToken: string;
  /** API keys (`/v1/keys`); every other token is looked up here. */
  keys: KeyStore;
  /** How long a warm instance trusts a key it read: the bound on revocation (default 5 s). */
  keyCacheTtlMs?: number;
  /** Key expiry and the key cache; defaults to the system clock. */
  clock?: Clock;
  limits: Limits;
  /** Called with unexpected errors (the 500s); defaults to console.error. */
  logError?: (error: unknown, context: { method: string; path: string }) => void;
  /** Live tails (SSE): a heartbeat comment at least this often while no record arrives; default 15000. */
  sseHeartbeatMs?: number;
  /** Live tails (SSE): end each stream cleanly after this long (Lambda: before the timeout); default none. */
  sseMaxDurationMs?: SseMaxDuration;
  /** Live tails (SSE): abort it on shutdown to end every open stream cleanly (the Node server's Ctrl-C). */
  sseCloseSignal?: AbortSignal;
  /** Webhook sources (`/v1/webhooks`). */
  webhooks: WebhookSourceStore;
  /** Key material for sealing webhook secrets; defaults to the admin token (SLUICE_WEBHOOK_SECRET_KEY). */
  webhookSecretKey?: string | undefined;
  /** Consumer-group state (`/v1/groups`). */
  groups: GroupStore;
  /**
   * Who runs `POST /v1/admin/maintenance/{job}` passes: this process (default), or in AWS the job's own
   * function (functions/lambda-runner.ts).
   */
  maintenanceRunner?: MaintenanceRunner;
  /** The work budget of such a pass; ADMIN_PASS_MAX_MS (20 s) by default. */
  adminPassMaxMs?: number;
  /** Consumer-group tuning (the skew allowance on session expiry); defaults otherwise. */
  groupOptions?: Partial<GroupCoordinatorOptions>;
}

const problemOf = problemDoc;

/** The Hono app behind every entry point (Node server, Lambda). All routes and their schemas live here. */
export function createApp(deps: AppDeps): OpenAPIHono {
  const { log, limits } = deps;
  const logError =
    deps.logError ?? ((error, ctx) => console.error(`${ctx.method} ${ctx.path} failed`, error));

  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) {
        const detail = result.error.issues
          .map((issue) => `${[result.target, ...issue.path.map(String)].join('.')}: ${issue.message}`)
          .join('; ');
        // A name in the path that no resource can have: not found (SPEC Limits), whoever asks.
        const notFound = result.target === 'param' ? notFoundCodeOf(result.error.issues) : undefined;
        return problemResponse(c, problem(notFound ?? 'INVALID_REQUEST', detail));
      }
      return undefined;
    },
  });

  app.onError((error, c) => {
    const body = toProblem(error);
    if (body.status >= 500) logError(error, { method: c.req.method, path: c.req.path });
    return problemResponse(c, body);
  });
  app.notFound((c) => problemResponse(c, problem('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`)));

  // Whatever the request counted is written out when it ends, inside the Lambda invocation that served it
  // (a live tail publishes again when its stream ends: it counts after its response has been returned).
  app.use('*', async (_c, next) => {
    try {
      await next();
    } finally {
      log.metrics.publish();
    }
  });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/healthz',
      operationId: 'getHealth',
      tags: ['Service'],
      summary: 'Liveness: the process serves requests (no token; touches no backend)',
      security: [],
      responses: {
        ...anyRouteResponses,
        200: {
          description: 'Serving',
          ...json(z.object({ status: z.literal('ok') }).openapi('Health')),
        },
      },
    }),
    (c) => c.json({ status: 'ok' as const }, 200),
  );
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Sluice',
      version: '1.0.0',
      description:
        'A serverless, Kafka-style event log on S3 and DynamoDB. Errors are application/problem+json. ' +
        'The reference with examples, every limit and every error code is docs/API.md in the repository.',
    },
    servers: [
      // Relative: the API is served at the origin this document was fetched from (any deployment).
      { url: '/', description: 'The server that served this document' },
      { url: 'http://127.0.0.1:8080', description: 'The local server (npm start), by default' },
    ],
    security: [{ bearer: [] }],
    tags: API_TAGS,
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApiDocument',
    tags: ['Service'],
    summary: 'This OpenAPI 3.1 document (no token)',
    security: [],
    responses: {
      ...anyRouteResponses,
      200: { description: 'The document', content: { 'application/json': { schema: { type: 'object' } } } },
    },
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'The admin token (SLUICE_ADMIN_TOKEN) or an API key (`sk_<id>_<secret>`)',
  });

  const keyAuthenticator = new KeyAuthenticator(
    deps.keys,
    deps.clock ?? systemClock,
    deps.keyCacheTtlMs !== undefined ? { cacheTtlMs: deps.keyCacheTtlMs } : {},
  );
  // Webhook deliveries carry no bearer token: their signature is checked by the route itself.
  const auth = authenticate({ adminToken: deps.adminToken, keys: keyAuthenticator });
  app.use('/v1/*', (c, next) => (isWebhookDelivery(c) ? next() : auth(c, next)));
  // Live tails re-check their key with a fresher read than the cache's TTL, so they end within that bound.
  const sseChecks = sseCheckTimings(deps.keyCacheTtlMs ?? DEFAULT_KEY_AUTHENTICATOR_OPTIONS.cacheTtlMs);
  const keyStillAllowed = async (token: string | undefined, topic: string): Promise<boolean> => {
    const again =
      token === undefined
        ? undefined
        : await keyAuthenticator.authenticate(token, { maxAgeMs: sseChecks.keyMaxAgeMs });
    return again !== undefined && authorize(again, 'consume', topic);
  };
  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: limits.maxRequestBytes,
      onError: (c) =>
        problemResponse(
          c,
          problem('REQUEST_TOO_LARGE', `request body is over the limit of ${limits.maxRequestBytes} bytes`),
        ),
    }),
  );
  app.use('/v1/*', async (c, next) => {
    // A request without a body (a heartbeat) needs no content type.
    const hasBody =
      (c.req.header('content-length') ?? '0') !== '0' || c.req.header('transfer-encoding') !== undefined;
    if (hasBody && ['POST', 'PUT', 'PATCH'].includes(c.req.method) && !isWebhookDelivery(c)) {
      const type = c.req.header('content-type') ?? '';
      if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
        return problemResponse(
          c,
          problem(
            'UNSUPPORTED_MEDIA_TYPE',
            `send a JSON body with Content-Type: application/json (got '${type}')`,
          ),
        );
      }
    }
    await next();
    return undefined;
  });

  registerKeyRoutes(app, {
    keys: keyAuthenticator.forgettingMissesOn(deps.keys),
    clock: deps.clock ?? systemClock,
  });
  registerAdminRoutes(app, deps.maintenanceRunner ?? inProcessRunner(log), deps.adminPassMaxMs);
  const box = new SecretBox(deps.webhookSecretKey ?? deps.adminToken);
  // Deliveries carry no token: a miss is remembered briefly, so unknown sources cost few store reads.
  const webhookSources = new MissCachingWebhookSourceStore(deps.webhooks, deps.clock ?? systemClock);
  const ingestor = new WebhookIngestor(
    { log, sources: webhookSources, box, clock: deps.clock ?? systemClock },
    { maxJsonDepth: limits.maxJsonDepth },
  );
  registerWebhookRoutes(app, {
    sources: webhookSources,
    ingestor,
    box,
    clock: deps.clock ?? systemClock,
    topics: log.topics,
  });
  registerGroupRoutes(
    app,
    new GroupCoordinator(deps.groups, log, deps.clock ?? systemClock, deps.groupOptions),
  );

  // ---- topics ---------------------------------------------------------------------------------------------

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/topics',
      operationId: 'createTopic',
      tags: ['Topics'],
      summary: 'Create a topic',
      request: { body: { ...json(CreateTopicBody), required: true } },
      responses: {
        ...authResponses,
        ...jsonBodyResponses,
        201: { description: 'Created', ...json(TopicSchema) },
        400: problemOf('INVALID_REQUEST: invalid name, partitions or config'),
        409: problemOf('TOPIC_EXISTS'),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      requirePermission(c, 'admin', body.name);
      const topic = await log.topics.create({
        name: body.name,
        ...(body.partitions !== undefined ? { partitions: body.partitions } : {}),
        ...(body.config !== undefined ? { config: body.config } : {}),
      });
      return c.json(topicView(topic), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/topics',
      operationId: 'listTopics',
      tags: ['Topics'],
      summary: 'List the topics the caller may see',
      responses: {
        ...authResponses,
        200: { description: 'Topics', ...json(TopicListSchema) },
      },
    }),
    async (c) => {
      const principal = principalOf(c);
      const topics = (await log.topics.list()).filter((t) => canSee(principal, t.name));
      return c.json({ topics }, 200);
    },
  );

  const topicParams = { params: TopicParams() };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/topics/{topic}',
      operationId: 'describeTopic',
      tags: ['Topics'],
      summary: 'Describe a topic',
      request: topicParams,
      responses: {
        ...authResponses,
        200: { description: 'The topic', ...json(TopicSchema) },
        404: problemOf('TOPIC_NOT_FOUND'),
      },
    }),
    async (c) => {
      const { topic } = c.req.valid('param');
      requireAnyPermission(c, ACTIONS, topic);
      return c.json(topicView(await log.topics.getFresh(topic)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/topics/{topic}',
      operationId: 'updateTopic',
      tags: ['Topics'],
      summary: 'Add partitions or change config',
      request: { ...topicParams, body: { ...json(PatchTopicBody), required: true } },
      responses: {
        ...authResponses,
        ...jsonBodyResponses,
        200: { description: 'The updated topic', ...json(TopicSchema) },
        400: problemOf('INVALID_REQUEST: partitions may only grow; invalid config'),
        404: problemOf('TOPIC_NOT_FOUND'),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      requirePermission(c, 'admin', c.req.valid('param').topic);
      const topic = await log.topics.update(c.req.valid('param').topic, {
        ...(body.partitions !== undefined ? { partitions: body.partitions } : {}),
        ...(body.config !== undefined ? { config: body.config } : {}),
      });
      return c.json(topicView(topic), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/topics/{topic}',
      operationId: 'deleteTopic',
      tags: ['Topics'],
      summary: 'Delete a topic (its data is removed in the background)',
      request: topicParams,
      responses: {
        ...authResponses,
        204: { description: 'Deleted' },
        404: problemOf('TOPIC_NOT_FOUND'),
      },
    }),
    async (c) => {
      const { topic } = c.req.valid('param');
      requirePermission(c, 'admin', topic);
      await log.topics.delete(topic);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/topics/{topic}/partitions',
      operationId: 'listPartitions',
      tags: ['Topics'],
      summary: 'Partitions with log start, high watermark, segments and size',
      request: topicParams,
      responses: {
        ...authResponses,
        200: { description: 'Partitions', ...json(PartitionsSchema) },
        404: problemOf('TOPIC_NOT_FOUND'),
      },
    }),
    async (c) => {
      const { topic } = c.req.valid('param');
      requireAnyPermission(c, ACTIONS, topic);
      return c.json({ partitions: await log.partitions(topic) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/topics/{topic}/partitions/{p}/offsets',
      operationId: 'offsetForTimestamp',
      tags: ['Records'],
      summary: 'The first offset whose timestamp is at or after the given time',
      request: { params: TopicParams().extend({ p: PartitionParam }), query: OffsetQuery },
      responses: {
        ...authResponses,
        200: {
          description: 'The offset (the high watermark when no record is that recent)',
          ...json(OffsetResult),
        },
        400: problemOf('INVALID_REQUEST: timestamp or partition missing or not a non-negative integer'),
        404: problemOf('TOPIC_NOT_FOUND or PARTITION_NOT_FOUND'),
      },
    }),
    async (c) => {
      const { topic, p } = c.req.valid('param');
      requireAnyPermission(c, ['consume', 'admin'], topic);
      const offset = await log.offsetForTimestamp(topic, p, c.req.valid('query').timestamp);
      return c.json({ offset }, 200);
    },
  );

  // ---- records --------------------------------------------------------------------------------------------

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/topics/{topic}/records',
      operationId: 'produce',
      tags: ['Records'],
      summary: 'Produce records (atomically: all become visible together, or none)',
      request: {
        ...topicParams,
        headers: IdempotencyHeaders,
        body: { ...json(ProduceBody), required: true },
      },
      responses: {
        ...authResponses,
        ...jsonBodyResponses,
        200: {
          description:
            'Offsets, one per record, in request order (a retry with the same Idempotency-Key and body returns ' +
            'the first response, with the header Idempotent-Replayed: true, and appends nothing)',
          ...json(ProduceResult),
        },
        400: problemOf(
          'INVALID_REQUEST: a bad body or Idempotency-Key, a lone surrogate in a key, text value or header, ' +
            'a reserved `webhook-` header, JSON nested deeper than 64, too many records, headers or partitions',
        ),
        404: problemOf('TOPIC_NOT_FOUND or PARTITION_NOT_FOUND'),
        409: problemOf('CONFLICT: a request with this Idempotency-Key is still in flight'),
        413: problemOf('RECORD_TOO_LARGE or REQUEST_TOO_LARGE'),
        422: problemOf('IDEMPOTENCY_KEY_REUSED: the key was used with a different body'),
        429: problemOf('THROTTLED: too much contention, retry'),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const { topic } = c.req.valid('param');
      const principal = requirePermission(c, 'produce', topic);
      const key = c.req.valid('header')['idempotency-key'];
      // Idempotency keys are scoped per API key, or per topic for the admin token.
      const scope = principal.kind === 'key' ? `key:${principal.keyId}` : `topic:${topic}`;
      const result = await log.produce(topic, body, key === undefined ? {} : { idempotency: { scope, key } });
      if (result.replayed) c.header('idempotent-replayed', 'true');
      return c.json({ offsets: result.offsets }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/topics/{topic}/partitions/{p}/records',
      operationId: 'fetchPartition',
      tags: ['Records'],
      summary: 'Fetch records of one partition (long-poll with waitMs), or tail it live (SSE)',
      description:
        'With `Accept: text/event-stream` the records are streamed as server-sent events as they are committed: ' +
        'one `record` event per record (`id` = offset, `data` = the record as in the JSON response), a ' +
        '`: heartbeat` comment at least every 15 s while nothing arrives, and an `error` event (problem JSON) ' +
        'if the log fails mid-stream. The start is `Last-Event-ID` + 1 when that header is sent (resume), else ' +
        '`offset` (default `earliest`, as for JSON; use `offset=latest` to see only new records). `waitMs` is ' +
        'ignored. Errors before the stream starts (404, 416, 400) are problem+json. In AWS Lambda a stream ends ' +
        'shortly before the function timeout: reconnect with `Last-Event-ID` (EventSource does so by itself).',
      request: {
        params: TopicParams().extend({ p: PartitionParam }),
        query: FetchQuery,
        headers: SseHeaders,
      },
      responses: {
        ...authResponses,
        200: {
          description: 'Records from the offset on (JSON), or a live stream of them (text/event-stream)',
          content: {
            'application/json': { schema: FetchResultSchema },
            'text/event-stream': {
              schema: z.string().openapi({
                description:
                  'Server-sent events: `record` events (`id` = offset, `data` = a Record as JSON), ' +
                  '`: heartbeat` comments, and a final `error` event whose data is a Problem',
                example:
                  ': from offset 0\n\nid: 0\nevent: record\ndata: {"partition":0,"offset":0,' +
                  '"timestamp":1767225600000,"key":"c-7","value":{"id":1},"format":"json","headers":{}}\n\n',
              }),
            },
          },
        },
        400: problemOf('INVALID_REQUEST: a bad query parameter, or a Last-Event-ID that is not an offset'),
        404: problemOf('TOPIC_NOT_FOUND or PARTITION_NOT_FOUND'),
        416: problemOf(
          'OFFSET_OUT_OF_RANGE: the offset is below the log start or above the high watermark',
          OffsetOutOfRangeProblem,
        ),
      },
    }),
    async (c) => {
      const { topic, p } = c.req.valid('param');
      const principal = requirePermission(c, 'consume', topic);
      const query = c.req.valid('query');
      const offset =
        query.offset === undefined || query.offset === 'earliest'
          ? 'earliest'
          : query.offset === 'latest'
            ? 'latest'
            : Number(query.offset);
      if (wantsEventStream(c.req.header('accept'))) {
        const response = await streamRecords(
          c,
          log,
          {
            topic,
            partition: p,
            offset,
            maxRecords: query.maxRecords ?? FETCH_DEFAULTS.maxRecords,
            maxBytes: query.maxBytes ?? FETCH_DEFAULTS.maxBytes,
          },
          {
            heartbeatMs: deps.sseHeartbeatMs ?? DEFAULT_SSE_HEARTBEAT_MS,
            checkEveryMs: sseChecks.checkEveryMs,
            maxDurationMs: deps.sseMaxDurationMs,
            closeSignal: deps.sseCloseSignal,
            logError,
            stillAllowed: principal.kind === 'key' ? () => keyStillAllowed(bearerToken(c), topic) : undefined,
          },
        );
        return response as never;
      }
      const result = await log.fetch(topic, p, {
        offset,
        maxRecords: query.maxRecords ?? FETCH_DEFAULTS.maxRecords,
        maxBytes: query.maxBytes ?? FETCH_DEFAULTS.maxBytes,
        waitMs: query.waitMs ?? FETCH_DEFAULTS.waitMs,
        signal: c.req.raw.signal,
      });
      // Typed as the route's JSON response: the hand-serialised body has exactly FetchResultSchema's shape.
      return rawJson(c, result) as never;
    },
  );

  return app;
}

/** The tags that group the operations of /openapi.json. */
const API_TAGS = [
  { name: 'Topics', description: 'Create, describe, change and delete topics' },
  { name: 'Records', description: 'Produce, fetch and tail records' },
  { name: 'Consumer groups', description: 'Members share partitions and commit offsets' },
  { name: 'Webhooks', description: 'Signed deliveries from third parties, straight into a topic' },
  { name: 'API keys', description: 'Tokens scoped by topic and group patterns and actions (admin token)' },
  { name: 'Maintenance', description: 'Run a compaction, retention or GC pass now (admin token)' },
  { name: 'Service', description: 'Health and this document (no token)' },
];

/** Live tail (SSE) request headers; `Accept: text/event-stream` selects the stream. */
const SseHeaders = z.object({
  'last-event-id': z.string().optional().openapi({
    description:
      'SSE only: resume right after this offset (the id of the last event received); wins over offset',
    example: '41',
  }),
});

/** A topic name in a path that no topic can have is not found (404), before any lookup. */
function TopicParams() {
  return z.object({
    topic: nameInPath({
      param: 'topic',
      pattern: TOPIC_NAME_PATTERN,
      notFound: 'TOPIC_NOT_FOUND',
      what: 'topic',
      example: 'orders',
    }),
  });
}

function topicView(topic: Topic) {
  return { name: topic.name, partitions: topic.partitions, config: topic.config, createdAt: topic.createdAt };
}

/** Fetch responses are serialised by hand so that stored JSON values are spliced in without a re-parse. */
function rawJson(c: Context, result: FetchResult): Response {
  return c.body(serializeFetchResult(result), 200, { 'content-type': 'application/json' });
}
