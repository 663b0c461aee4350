import { z } from '@hono/zod-openapi';
import type { ErrorCode } from '../../lib/errors.js';
import { DEFAULT_LIMITS } from '../../lib/limits.js';
import { TOPIC_NAME_PATTERN } from '../../lib/log/topics.js';

/** The zod schemas of the HTTP API: they validate requests and generate /openapi.json. */

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().openapi({ example: 'TOPIC_NOT_FOUND' }),
  })
  .openapi('Problem');

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
  .openapi({ param: { name: 'p', in: 'path' }, type: 'integer', example: '0' });

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
    format: z.enum(['json', 'text', 'binary']).optional(),
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
    .openapi({ type: 'integer' });

export const FetchQuery = z.object({
  offset: z
    .union([
      z.enum(['earliest', 'latest']),
      z.string().regex(/^\d{1,15}$/, 'offset must be an integer, earliest or latest'),
    ])
    .optional()
    .openapi({ description: 'an offset, earliest (default) or latest', example: 'earliest' }),
  maxRecords: intString('maxRecords', 1, DEFAULT_LIMITS.maxFetchRecords).optional(),
  maxBytes: intString('maxBytes', 1, DEFAULT_LIMITS.maxFetchBytes).optional(),
  waitMs: intString('waitMs', 0, DEFAULT_LIMITS.maxFetchWaitMs).optional(),
});

export const FetchedRecordSchema = z
  .object({
    partition: z.number().int(),
    offset: z.number().int(),
    timestamp: z.number().int(),
    key: z.string().nullable(),
    value: z.unknown(),
    format: z.enum(['json', 'text', 'binary']),
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
  timestamp: intString('timestamp', 0, Number.MAX_SAFE_INTEGER),
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
export const problemDoc = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
});

/** What every /v1 route may answer before it looks at the request: no or a bad token, or no permission. */
export const authResponses = {
  401: problemDoc('UNAUTHORIZED: missing, unknown, revoked or expired token'),
  403: problemDoc('FORBIDDEN: the token lacks the permission (checked before whether the topic exists)'),
};
