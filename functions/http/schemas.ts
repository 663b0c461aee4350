import { z } from '@hono/zod-openapi';
import { ERROR_CODES, type ErrorCode } from '../../lib/errors.js';
import { DEFAULT_LIMITS } from '../../lib/limits.js';
import { TOPIC_NAME_PATTERN } from '../../lib/log/topics.js';
import { VALUE_FORMATS } from '../../lib/types.js';

/** The zod schemas of the HTTP API: they validate requests and generate /openapi.json. */

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: 'urn:sluice:problem:topic-not-found' }),
    title: z.string().openapi({ example: 'Topic not found' }),
    status: z.number().int().min(400).max(599).openapi({ example: 404 }),
    detail: z.string().openapi({ example: "topic 'orders' does not exist" }),
    code: z.enum(ERROR_CODES).openapi({ example: 'TOPIC_NOT_FOUND' }),
  })
  .openapi('Problem', {
    description: 'An error (RFC 9457 problem details, `application/problem+json`); `code` is the stable part',
  });

/** 416 OFFSET_OUT_OF_RANGE: the bounds of the log, so the reader can move back into them. */
export const OffsetOutOfRangeProblem = ProblemSchema.extend({
  logStartOffset: z.number().int().openapi({ description: 'The first offset still in the log' }),
  highWatermark: z.number().int().openapi({ description: 'The offset the next record will get' }),
}).openapi('OffsetOutOfRangeProblem', {
  description: 'OFFSET_OUT_OF_RANGE, with the bounds of the log: read again from within them',
});

/** 409 FENCED and REBALANCE_IN_PROGRESS: the group's current generation. */
export const GenerationProblem = ProblemSchema.extend({
  generation: z.number().int().openapi({ description: "The group's current generation" }),
}).openapi('GenerationProblem', {
  description: 'FENCED or REBALANCE_IN_PROGRESS, with the generation the group is in now',
});

export const TopicNameParam = z
  .string()
  .regex(TOPIC_NAME_PATTERN)
  .openapi({ param: { name: 'topic', in: 'path' }, example: 'orders' });

/**
 * A resource name in a path. A name that cannot exist (too long, a character outside the pattern) is not
 * found, never a 400 and never a DynamoDB call (SPEC Limits: "a longer or otherwise impossible name in a
 * path is 404"). The app's validation hook answers the issue's `notFound` code.
 */
export function nameInPath(options: {
  param: string;
  pattern: RegExp;
  notFound: ErrorCode;
  what: string;
  example?: string;
}) {
  const { param, pattern, notFound, what, example } = options;
  return z
    .string()
    .refine((name) => pattern.test(name) && name !== '.' && name !== '..', {
      message: `no ${what} can have this name`,
      params: { notFound },
    })
    .openapi({ param: { name: param, in: 'path' }, ...(example !== undefined ? { example } : {}) });
}

/** The `notFound` code a failed `nameInPath` carries, if the validation failed on one. */
export function notFoundCodeOf(
  issues: ReadonlyArray<{ code: string; params?: unknown }>,
): ErrorCode | undefined {
  for (const issue of issues) {
    const params =
      issue.code === 'custom' ? (issue.params as { notFound?: ErrorCode } | undefined) : undefined;
    if (params?.notFound !== undefined) return params.notFound;
  }
  return undefined;
}

export const PartitionParam = z
  .string()
  .regex(/^\d{1,9}$/, 'partition must be a non-negative integer')
  .transform(Number)
  .openapi({ param: { name: 'p', in: 'path' }, type: 'integer', minimum: 0, example: 0 });

const nonNegativeMs = z.number().int().min(0);

export const TopicConfigInput = z
  .object({
    retentionMs: z.number().int().min(-1).optional(),
    retentionBytes: z.number().int().min(-1).optional(),
    cleanupPolicy: z.enum(['delete', 'compact', 'compact,delete']).optional(),
    maxRecordBytes: z.number().int().min(1).optional(),
    deleteRetentionMs: nonNegativeMs.optional(),
    minCompactionLagMs: nonNegativeMs.optional(),
  })
  .strict()
  .openapi('TopicConfigInput');

export const TopicConfig = z
  .object({
    retentionMs: z.number().int(),
    retentionBytes: z.number().int(),
    cleanupPolicy: z.enum(['delete', 'compact', 'compact,delete']),
    maxRecordBytes: z.number().int(),
    deleteRetentionMs: z.number().int(),
    minCompactionLagMs: z.number().int(),
  })
  .openapi('TopicConfig');

export const CreateTopicBody = z
  .object({
    name: z.string().openapi({ example: 'orders' }),
    partitions: z.number().int().min(1).max(DEFAULT_LIMITS.maxPartitionsPerTopic).optional(),
    config: TopicConfigInput.optional(),
  })
  .strict()
  .openapi('CreateTopic');

export const PatchTopicBody = z
  .object({
    partitions: z.number().int().min(1).max(DEFAULT_LIMITS.maxPartitionsPerTopic).optional(),
    config: TopicConfigInput.optional(),
  })
  .strict()
  .openapi('PatchTopic');

export const TopicSchema = z
  .object({
    name: z.string(),
    partitions: z.number().int(),
    config: TopicConfig,
    createdAt: z.number().int(),
  })
  .openapi('Topic');

export const TopicListSchema = z
  .object({ topics: z.array(z.object({ name: z.string(), partitions: z.number().int() })) })
  .openapi('TopicList');

export const PartitionsSchema = z
  .object({
    partitions: z.array(
      z.object({
        partition: z.number().int(),
        logStartOffset: z.number().int(),
        highWatermark: z.number().int(),
        segments: z.number().int(),
        sizeBytes: z.number().int(),
      }),
    ),
  })
  .openapi('Partitions');

/** Header names that only webhook ingestion writes, so that a consumer can trust them (SPEC Produce). */
export const RESERVED_HEADER_PREFIX = 'webhook-';

/**
 * A record's headers: an object of string values. Not `z.record`, which copies into a plain object and so
 * drops a header named `__proto__`: the parsed object is passed on as it is (its names are data, SPEC §3).
 */
const RecordHeaders = z
  .custom<Record<string, string>>(
    (headers) =>
      typeof headers === 'object' &&
      headers !== null &&
      !Array.isArray(headers) &&
      Object.values(headers).every((value) => typeof value === 'string'),
    'headers must be an object of string values',
  )
  .refine(
    (headers) => !Object.keys(headers).some((name) => name.toLowerCase().startsWith(RESERVED_HEADER_PREFIX)),
    `header names beginning with '${RESERVED_HEADER_PREFIX}' are reserved for webhook ingestion`,
  )
  .openapi({
    type: 'object',
    additionalProperties: { type: 'string' },
    description: `Header names beginning with '${RESERVED_HEADER_PREFIX}' are reserved for webhook ingestion`,
  });

export const ProduceRecord = z
  .object({
    key: z.string().nullable().optional(),
    value: z
      .unknown()
      .nonoptional('a record needs a value (null for a tombstone)')
      .openapi({ description: 'JSON value, text string, or base64 (see format); null is a tombstone' }),
    headers: RecordHeaders.optional(),
    partition: z.number().int().min(0).optional(),
    timestamp: z.number().int().min(0).optional(),
  })
  .strict()
  .openapi('ProduceRecord');

export const ProduceBody = z
  .object({
    records: z.array(ProduceRecord).min(1).max(DEFAULT_LIMITS.maxRecordsPerRequest),
    format: z.enum(VALUE_FORMATS).optional(),
  })
  .strict()
  .openapi('Produce');

export const ProduceResult = z
  .object({
    offsets: z.array(
      z.object({ partition: z.number().int(), offset: z.number().int(), timestamp: z.number().int() }),
    ),
  })
  .openapi('ProduceResult');

const intString = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,15}$/, `${name} must be a non-negative integer`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `${name} must be from ${min} to ${max}`)
    .openapi({ type: 'integer', minimum: min, maximum: max });

/** What the fetch routes use for a query parameter that is absent (and what the document says they do). */
export const FETCH_DEFAULTS = { maxRecords: 500, maxBytes: 1024 * 1024, waitMs: 0 } as const;

export const FetchQuery = z.object({
  offset: z
    .union([
      z.enum(['earliest', 'latest']),
      z.string().regex(/^\d{1,15}$/, 'offset must be an integer, earliest or latest'),
    ])
    .optional()
    .openapi({
      description: 'Where to start: an offset, `earliest` (the log start) or `latest` (the high watermark)',
      default: 'earliest',
      example: 'earliest',
    }),
  maxRecords: intString('maxRecords', 1, DEFAULT_LIMITS.maxFetchRecords)
    .optional()
    .openapi({ description: 'At most this many records', default: FETCH_DEFAULTS.maxRecords }),
  maxBytes: intString('maxBytes', 1, DEFAULT_LIMITS.maxFetchBytes).optional().openapi({
    description: "At most about this many bytes of records (at least one record is returned if there's one)",
    default: FETCH_DEFAULTS.maxBytes,
  }),
  waitMs: intString('waitMs', 0, DEFAULT_LIMITS.maxFetchWaitMs).optional().openapi({
    description: 'Long-poll: wait up to this long for a record when none is there yet',
    default: FETCH_DEFAULTS.waitMs,
  }),
});

export const FetchedRecordSchema = z
  .object({
    partition: z.number().int(),
    offset: z.number().int(),
    timestamp: z.number().int(),
    key: z.string().nullable(),
    value: z.unknown(),
    format: z.enum(VALUE_FORMATS),
    headers: z.record(z.string(), z.string()),
  })
  .openapi('Record');

export const FetchResultSchema = z
  .object({
    records: z.array(FetchedRecordSchema),
    nextOffset: z.number().int(),
    highWatermark: z.number().int(),
    logStartOffset: z.number().int(),
  })
  .openapi('FetchResult');

export const OffsetQuery = z.object({
  timestamp: intString('timestamp', 0, Number.MAX_SAFE_INTEGER).openapi({
    description: 'Epoch milliseconds',
    example: 1767225600000,
  }),
});

export const OffsetResult = z.object({ offset: z.number().int() }).openapi('OffsetForTimestamp');

export const IdempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/, 'Idempotency-Key must be 1–255 printable ASCII characters without spaces')
    .optional()
    .openapi({
      description:
        'Makes the produce safe to retry for 24 h: the same key and body return the first response',
      example: '7f3c1a52-0d3e-4f1e-9a51-5c1f3b2a9e10',
    }),
});

/** A JSON body or response of the OpenAPI document. */
export const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });

/** An error response of the OpenAPI document. */
export const problemDoc = (description: string, schema: z.ZodType = ProblemSchema) => ({
  description,
  content: { 'application/problem+json': { schema } },
});

/**
 * What any route may answer whatever it is: headers over the HTTP server's limit (Node: 16 KiB; the body
 * may be empty), and an unexpected failure (never caused by input; see the server log).
 */
export const anyRouteResponses = {
  431: { description: 'Request header fields too large (the HTTP server refuses them before Sluice runs)' },
  500: problemDoc('INTERNAL: an unexpected failure (never the result of bad input); see the server log'),
};

/** What every /v1 route may answer before it looks at the request: no or a bad token, or no permission. */
export const authResponses = {
  ...anyRouteResponses,
  401: problemDoc('UNAUTHORIZED: missing, unknown, revoked or expired token'),
  403: problemDoc('FORBIDDEN: the token lacks the permission (checked before whether the topic exists)'),
};

/**
 * What a /v1 route that takes a JSON body may answer before its handler runs: a body that is not valid
 * JSON or not of the route's shape, over the request limit, or not declared as JSON.
 */
export const jsonBodyResponses = {
  400: problemDoc('INVALID_REQUEST: the body is not JSON or not of this shape (the detail says where)'),
  413: problemDoc('REQUEST_TOO_LARGE: the body is over the request limit (6 MiB by default)'),
  415: problemDoc('UNSUPPORTED_MEDIA_TYPE: the body is not sent as Content-Type: application/json'),
};
