import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { type ErrorCode, SluiceError } from '../../lib/errors.js';

/** The one place where contract error codes become HTTP status codes (SPEC.md §2). */
export const STATUS_BY_CODE: Record<ErrorCode, ContentfulStatusCode> = {
  INVALID_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  TOPIC_NOT_FOUND: 404,
  GROUP_NOT_FOUND: 404,
  TOPIC_EXISTS: 409,
  PARTITION_NOT_FOUND: 404,
  RECORD_TOO_LARGE: 413,
  REQUEST_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  OFFSET_OUT_OF_RANGE: 416,
  UNKNOWN_MEMBER: 404,
  FENCED: 409,
  REBALANCE_IN_PROGRESS: 409,
  IDEMPOTENCY_KEY_REUSED: 422,
  CONFLICT: 409,
  THROTTLED: 429,
  WEBHOOK_SIGNATURE_INVALID: 401,
  WEBHOOK_NOT_FOUND: 404,
  INTERNAL: 500,
};

const TITLES: Record<ErrorCode, string> = {
  INVALID_REQUEST: 'Invalid request',
  UNAUTHORIZED: 'Unauthorized',
  FORBIDDEN: 'Forbidden',
  NOT_FOUND: 'Not found',
  TOPIC_NOT_FOUND: 'Topic not found',
  GROUP_NOT_FOUND: 'Group not found',
  TOPIC_EXISTS: 'Topic already exists',
  PARTITION_NOT_FOUND: 'Partition not found',
  RECORD_TOO_LARGE: 'Record too large',
  REQUEST_TOO_LARGE: 'Request too large',
  UNSUPPORTED_MEDIA_TYPE: 'Unsupported media type',
  OFFSET_OUT_OF_RANGE: 'Offset out of range',
  UNKNOWN_MEMBER: 'Unknown member',
  FENCED: 'Fenced',
  REBALANCE_IN_PROGRESS: 'Rebalance in progress',
  IDEMPOTENCY_KEY_REUSED: 'Idempotency key reused',
  CONFLICT: 'Conflict',
  THROTTLED: 'Throttled',
  WEBHOOK_SIGNATURE_INVALID: 'Webhook signature invalid',
  WEBHOOK_NOT_FOUND: 'Webhook not found',
  INTERNAL: 'Internal error',
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  [extra: string]: unknown;
}

export function problem(code: ErrorCode, detail: string, extra: Record<string, unknown> = {}): Problem {
  return {
    ...extra,
    type: `urn:sluice:problem:${code.toLowerCase().replaceAll('_', '-')}`,
    title: TITLES[code],
    status: STATUS_BY_CODE[code],
    detail,
    code,
  };
}

export function problemResponse(c: Context, body: Problem): Response {
  const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
  if (body.code === 'THROTTLED') headers['retry-after'] = '1';
  if (body.code === 'UNAUTHORIZED') headers['www-authenticate'] = 'Bearer';
  return c.body(JSON.stringify(body), body.status as ContentfulStatusCode, headers);
}

/** Hono onError: every thrown error becomes problem+json. Internal details are logged, never returned. */
export function toProblem(error: unknown): Problem {
  if (error instanceof SluiceError) {
    if (error.code === 'INTERNAL') return problem('INTERNAL', 'internal error; see the server log');
    return problem(error.code, error.message, error.details);
  }
  if (error instanceof HTTPException) {
    const status = error.status;
    if (status === 413) return problem('REQUEST_TOO_LARGE', error.message || 'request body too large');
    if (status === 401) return problem('UNAUTHORIZED', error.message || 'unauthorized');
    if (status === 404) return problem('NOT_FOUND', error.message || 'not found');
    if (status === 415) return problem('UNSUPPORTED_MEDIA_TYPE', error.message || 'unsupported media type');
    if (status >= 400 && status < 500) return problem('INVALID_REQUEST', error.message || 'invalid request');
  }
  return problem('INTERNAL', 'internal error; see the server log');
}
