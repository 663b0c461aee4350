import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { authorize, describePrincipal, type Principal } from '../../lib/auth/permissions.js';
import type { Clock } from '../../lib/clock.js';
import { InvalidRequestError } from '../../lib/errors.js';
import type { TopicService } from '../../lib/log/topics.js';
import type { WebhookIngestor } from '../../lib/webhooks/ingest.js';
import type { SecretBox } from '../../lib/webhooks/secrets.js';
import {
  WebhookNotFoundError,
  type WebhookSource,
  type WebhookSourceStore,
} from '../../lib/webhooks/source-store.js';
import { secretProblem } from '../../lib/webhooks/verify.js';
import { ForbiddenError, principalOf, requirePermission } from './auth.js';
import {
  anyRouteResponses,
  authResponses,
  json,
  jsonBodyResponses,
  nameInPath,
  problemDoc,
} from './schemas.js';

export const WEBHOOK_SOURCE_PATTERN = /^[a-zA-Z0-9._-]{1,249}$/;
const DAY = 24 * 60 * 60 * 1000;

/** `PUT` creates the source: an impossible name is a 400 there (SPEC Limits). */
const NewSourceParam = z.object({
  source: z
    .string()
    .regex(WEBHOOK_SOURCE_PATTERN, 'a source name is 1–249 of [a-zA-Z0-9._-]')
    .openapi({ param: { name: 'source', in: 'path' }, example: 'github-main' }),
});
/** Everywhere else an impossible name is simply not found (404), before any lookup. */
const SourceParam = z.object({
  source: nameInPath({
    param: 'source',
    pattern: WEBHOOK_SOURCE_PATTERN,
    notFound: 'WEBHOOK_NOT_FOUND',
    what: 'webhook source',
    example: 'github-main',
  }),
});

const HeaderName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'not an HTTP header name')
  .transform((s) => s.toLowerCase());

export const PutSourceBody = z
  .object({
    topic: z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'not a topic name'),
    verify: z
      .object({
        scheme: z.enum(['standard-webhooks', 'github', 'stripe', 'hmac-sha256', 'none']),
        secret: z
          .union([z.string().min(1).max(1024), z.array(z.string().min(1).max(1024)).min(1).max(2)])
          .optional()
          .openapi({ description: 'The signing secret, or two of them while rotating (either verifies)' }),
        header: HeaderName.optional().openapi({ description: "hmac-sha256: the signature's header" }),
        toleranceSec: z.number().int().min(1).max(3600).default(300),
      })
      .strict(),
    key: z
      .string()
      .regex(
        /^(header:[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}|json:[^.\s]+(\.[^.\s]+)*)$/,
        'key is header:<name> or json:<dot.path>',
      )
      .optional(),
    headers: z
      .array(HeaderName)
      .max(20)
      .default([])
      .openapi({ description: 'Request headers copied onto records' }),
    dedupeWindowMs: z
      .number()
      .int()
      .min(60 * 60 * 1000)
      .max(30 * DAY)
      .default(3 * DAY)
      .openapi({
        description: 'How long a delivery id is remembered (default 3 days: senders retry for days)',
      }),
  })
  .strict()
  .openapi('WebhookSourceConfig');

const CountersSchema = z.object({
  accepted: z.number().int(),
  duplicate: z.number().int(),
  rejected: z.record(z.string(), z.number().int()),
});

export const SourceView = z
  .object({
    source: z.string(),
    topic: z.string(),
    verify: z.object({
      scheme: z.string(),
      header: z.string().optional(),
      toleranceSec: z.number().int(),
      secrets: z.number().int().openapi({ description: 'How many secrets are configured (never shown)' }),
    }),
    key: z.string().optional(),
    headers: z.array(z.string()),
    dedupeWindowMs: z.number().int(),
    createdAt: z.number().int(),
    updatedAt: z.number().int(),
    counters: CountersSchema,
  })
  .openapi('WebhookSource');

export const SourceListView = z.object({ sources: z.array(SourceView) }).openapi('WebhookSourceList');

/** The signature and delivery-id headers of the schemes (each scheme reads its own; all optional here). */
const DeliveryHeaders = z.object({
  'webhook-id': z.string().optional().openapi({ description: 'standard-webhooks: the delivery id' }),
  'webhook-timestamp': z.string().optional().openapi({ description: 'standard-webhooks: epoch seconds' }),
  'webhook-signature': z.string().optional().openapi({ description: 'standard-webhooks: `v1,<base64>`' }),
  'x-hub-signature-256': z.string().optional().openapi({ description: 'github: `sha256=<hex>`' }),
  'x-github-delivery': z.string().optional().openapi({ description: 'github: the delivery id' }),
  'stripe-signature': z.string().optional().openapi({ description: 'stripe: `t=<seconds>,v1=<hex>`' }),
  'x-delivery-id': z
    .string()
    .optional()
    .openapi({ description: 'hmac-sha256 and none: a delivery id (as is Idempotency-Key)' }),
});

const DeliveryResult = z
  .object({
    duplicate: z.boolean().optional(),
    topic: z.string(),
    partition: z.number().int(),
    offset: z.number().int(),
  })
  .openapi('WebhookDelivery');

/** Is this the unauthenticated delivery route (no bearer token; any content type)? */
export function isWebhookDelivery(c: Context): boolean {
  return c.req.method === 'POST' && /^\/v1\/webhooks\/[^/]+\/?$/.test(c.req.path);
}

/**
 * Who may administer a source: a caller with `admin` on its target topic. That topic is only known once the
 * source is read, so the answer is made so that a refused caller learns nothing (SPEC Auth): a caller with
 * no `admin` anywhere is refused before any lookup; otherwise an existing source it may not administer and
 * a missing source get the same 403, naming only the source. Only a caller that administers every topic
 * (the admin token, or `admin` on `*`), which no existing source could refuse, is told 404.
 */
function sourceAccess(principal: Principal) {
  const adminSomewhere =
    principal.kind === 'admin' || principal.permissions.some((p) => p.actions.includes('admin'));
  const adminEverywhere =
    principal.kind === 'admin' ||
    principal.permissions.some(
      (p) =>
        p.actions.includes('admin') &&
        'topics' in p &&
        typeof p.topics === 'string' &&
        /^\*+$/.test(p.topics),
    );
  const refuse = (source: string) =>
    new ForbiddenError(
      `${describePrincipal(principal)} may not administer webhook source '${source}' ` +
        "(that needs 'admin' on the topic it delivers to)",
    );
  return {
    /** Throws before the lookup when nothing the caller could ask about is theirs. */
    beforeLookup(source: string): void {
      if (!adminSomewhere) throw refuse(source);
    },
    /** The stored source, or the 403 (or, for a caller who administers every topic, the 404). */
    afterLookup<T extends WebhookSource>(source: string, stored: T | undefined): T {
      if (stored === undefined) throw adminEverywhere ? new WebhookNotFoundError(source) : refuse(source);
      if (!authorize(principal, 'admin', stored.topic)) throw refuse(source);
      return stored;
    },
  };
}

/** `/v1/webhooks/{source}`: configuration (admin on the target topic) and deliveries (signed, no token). */
export function registerWebhookRoutes(
  app: OpenAPIHono,
  deps: {
    sources: WebhookSourceStore;
    ingestor: WebhookIngestor;
    box: SecretBox;
    clock: Clock;
    /** The target topic of a `PUT` must exist (404 TOPIC_NOT_FOUND otherwise). */
    topics: Pick<TopicService, 'getFresh'>;
  },
): void {
  const { sources, ingestor, box, clock, topics } = deps;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/webhooks',
      operationId: 'listWebhookSources',
      tags: ['Webhooks'],
      summary: 'The webhook sources the caller may administer (admin on their target topics)',
      responses: {
        ...authResponses,
        200: { description: 'Sources (secrets are never shown)', ...json(SourceListView) },
      },
    }),
    async (c) => {
      const principal = principalOf(c);
      if (principal.kind === 'key' && !principal.permissions.some((p) => p.actions.includes('admin'))) {
        return c.json({ sources: [] }, 200);
      }
      const all = await sources.list();
      return c.json({ sources: all.filter((s) => authorize(principal, 'admin', s.topic)).map(view) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/webhooks/{source}',
      operationId: 'putWebhookSource',
      tags: ['Webhooks'],
      summary: 'Configure a webhook source: target topic, signature scheme and secret(s), key, headers',
      request: { params: NewSourceParam, body: { ...json(PutSourceBody), required: true } },
      responses: {
        ...authResponses,
        ...jsonBodyResponses,
        200: { description: 'The source (secrets are never shown)', ...json(SourceView) },
        400: problemDoc('INVALID_REQUEST: a bad body, or a secret that does not fit the scheme'),
        404: problemDoc('TOPIC_NOT_FOUND: the target topic does not exist'),
      },
    }),
    async (c) => {
      const { source } = c.req.valid('param');
      const body = c.req.valid('json');
      const principal = requirePermission(c, 'admin', body.topic);
      const previous = await sources.get(source);
      // Replacing a source takes admin on the topic it delivers to now, too (the 403 names only the source).
      if (previous) sourceAccess(principal).afterLookup(source, previous);
      const secrets = body.verify.secret === undefined ? [] : [body.verify.secret].flat();
      if (body.verify.scheme === 'none' && secrets.length > 0) {
        throw new InvalidRequestError("verify.secret: scheme 'none' takes no secret");
      }
      if (body.verify.scheme !== 'none' && secrets.length === 0) {
        throw new InvalidRequestError(`verify.secret: scheme '${body.verify.scheme}' needs a secret`);
      }
      if (body.verify.scheme === 'hmac-sha256' && body.verify.header === undefined) {
        throw new InvalidRequestError(
          "verify.header: scheme 'hmac-sha256' needs the signature's header name",
        );
      }
      for (const secret of secrets) {
        const problem = secretProblem(body.verify.scheme, secret);
        if (problem) throw new InvalidRequestError(`verify.secret: ${problem}`);
      }
      await topics.getFresh(body.topic); // TopicNotFoundError: 404 TOPIC_NOT_FOUND
      const now = clock.now();
      const config: WebhookSource = {
        source,
        topic: body.topic,
        scheme: body.verify.scheme,
        sealedSecrets: secrets.map((s) => box.seal(s)),
        ...(body.verify.header !== undefined ? { header: body.verify.header } : {}),
        toleranceSec: body.verify.toleranceSec,
        ...(body.key !== undefined ? { key: body.key } : {}),
        passHeaders: body.headers,
        dedupeWindowMs: body.dedupeWindowMs,
        createdAt: previous?.createdAt ?? now,
        updatedAt: now,
      };
      await sources.put(config);
      ingestor.invalidate(source);
      const stored = await sources.get(source);
      if (!stored) throw new WebhookNotFoundError(source);
      return c.json(view(stored), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/webhooks/{source}',
      operationId: 'getWebhookSource',
      tags: ['Webhooks'],
      summary: 'A webhook source: configuration without secrets, and its counters',
      request: { params: SourceParam },
      responses: {
        ...authResponses,
        200: { description: 'The source', ...json(SourceView) },
        404: problemDoc('WEBHOOK_NOT_FOUND'),
      },
    }),
    async (c) => {
      const { source } = c.req.valid('param');
      const access = sourceAccess(principalOf(c));
      access.beforeLookup(source);
      const stored = access.afterLookup(source, await sources.get(source));
      return c.json(view(stored), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/webhooks/{source}',
      operationId: 'deleteWebhookSource',
      tags: ['Webhooks'],
      summary: 'Remove a webhook source (its records stay in the topic)',
      request: { params: SourceParam },
      responses: { ...authResponses, 204: { description: 'Removed' }, 404: problemDoc('WEBHOOK_NOT_FOUND') },
    }),
    async (c) => {
      const { source } = c.req.valid('param');
      const access = sourceAccess(principalOf(c));
      access.beforeLookup(source);
      access.afterLookup(source, await sources.get(source));
      await sources.delete(source);
      ingestor.invalidate(source);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/webhooks/{source}',
      operationId: 'deliverWebhook',
      tags: ['Webhooks'],
      summary: 'A delivery from the third party (no bearer token: the signature is the authentication)',
      description:
        'The body is any content type and is verified over its raw bytes. 202 once the record is durable; ' +
        '200 with duplicate: true for a delivery id seen before (the original offset; nothing appended).',
      security: [],
      request: {
        params: SourceParam,
        headers: DeliveryHeaders,
        body: {
          description:
            'The payload exactly as the sender signed it, in any content type. It becomes the record value: ' +
            'JSON (format json) when it is JSON, else text or binary',
          required: true,
          content: {
            '*/*': {
              schema: { description: 'The raw bytes of the delivery' },
              example: { id: 'evt_1', type: 'invoice.paid' },
            },
          },
        },
      },
      responses: {
        ...anyRouteResponses,
        200: { description: 'A duplicate delivery: the offset of the first', ...json(DeliveryResult) },
        202: { description: 'Accepted and durable', ...json(DeliveryResult) },
        400: problemDoc('INVALID_REQUEST: a JSON body nested deeper than 64 levels'),
        401: problemDoc('WEBHOOK_SIGNATURE_INVALID: a missing, bad or expired signature'),
        404: problemDoc('WEBHOOK_NOT_FOUND, or TOPIC_NOT_FOUND when the target topic was deleted'),
        409: problemDoc('CONFLICT: the same delivery id is still being written by a concurrent request'),
        413: problemDoc('REQUEST_TOO_LARGE (body over the request limit) or RECORD_TOO_LARGE'),
        422: problemDoc('IDEMPOTENCY_KEY_REUSED: this delivery id came before with a different body'),
        429: problemDoc('THROTTLED: too much contention on the partition; retry'),
      },
    }),
    async (c) => {
      const { source } = c.req.valid('param');
      const body = Buffer.from(await c.req.arrayBuffer());
      // Null prototype: a header named `__proto__` is a header like any other.
      const headers: Record<string, string> = Object.create(null);
      c.req.raw.headers.forEach((value, name) => {
        headers[name.toLowerCase()] = value;
      });
      const result = await ingestor.deliver(source, headers, body);
      if (result.duplicate) return c.json(result, 200);
      const { duplicate: _d, ...accepted } = result;
      return c.json(accepted, 202);
    },
  );
}

function view(
  stored: WebhookSource & {
    counters: { accepted: number; duplicate: number; rejected: Record<string, number> };
  },
) {
  return {
    source: stored.source,
    topic: stored.topic,
    verify: {
      scheme: stored.scheme,
      ...(stored.header !== undefined ? { header: stored.header } : {}),
      toleranceSec: stored.toleranceSec,
      secrets: stored.sealedSecrets.length,
    },
    ...(stored.key !== undefined ? { key: stored.key } : {}),
    headers: stored.passHeaders,
    dedupeWindowMs: stored.dedupeWindowMs,
    createdAt: stored.createdAt,
    updatedAt: stored.updatedAt,
    counters: stored.counters,
  };
}
