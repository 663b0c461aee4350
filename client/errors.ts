import type { z } from '@hono/zod-openapi';
import type { ProblemSchema } from '../functions/http/schemas.js';

/** A problem the server answered (`application/problem+json`, RFC 9457), as its zod schema types it. */
export type Problem = z.infer<typeof ProblemSchema> & { readonly [extra: string]: unknown };

/** The server's stable error codes (SPEC §2): what to program against. */
export type ErrorCode = Problem['code'];

/**
 * An error the server answered, typed by its `code`. Carries the problem's `status`, `code`, `detail`,
 * `title`, `type` and any other member it had (`generation` on FENCED and REBALANCE_IN_PROGRESS,
 * `logStartOffset` and `highWatermark` on OFFSET_OUT_OF_RANGE) in `problem`.
 */
export class SluiceError extends Error {
  override readonly name = 'SluiceError';
  readonly status: number;
  readonly code: ErrorCode;
  readonly detail: string;
  readonly title: string;
  readonly type: string;
  /** The whole problem body, with its extra members. */
  readonly problem: Problem;

  constructor(problem: Problem, options?: { cause?: unknown }) {
    super(`${problem.status} ${problem.code}: ${problem.detail}`, options);
    this.problem = problem;
    this.status = problem.status;
    this.code = problem.code;
    this.detail = problem.detail;
    this.title = problem.title;
    this.type = problem.type;
  }

  /** A member of the problem other than the standard ones, e.g. `generation` or `highWatermark`. */
  get(member: string): unknown {
    return Object.hasOwn(this.problem, member) ? this.problem[member] : undefined;
  }
}

/** The code a status stands for when the answer carried no problem body (e.g. a proxy's 502). */
function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return 'INVALID_REQUEST';
    case 401:
      return 'UNAUTHORIZED';
    case 403:
      return 'FORBIDDEN';
    case 404:
      return 'NOT_FOUND';
    case 409:
      return 'CONFLICT';
    case 413:
      return 'REQUEST_TOO_LARGE';
    case 415:
      return 'UNSUPPORTED_MEDIA_TYPE';
    case 429:
    case 503:
      return 'THROTTLED';
    default:
      return status >= 500 ? 'INTERNAL' : 'INVALID_REQUEST';
  }
}

function isProblem(body: unknown): body is Problem {
  if (typeof body !== 'object' || body === null) return false;
  const b = body as Record<string, unknown>;
  return typeof b.code === 'string' && typeof b.status === 'number' && typeof b.detail === 'string';
}

/** The SluiceError of a non-2xx answer: its problem body, or one made up from the status. */
export async function errorFromResponse(response: Response): Promise<SluiceError> {
  const text = await response.text().catch(() => '');
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (isProblem(body)) return new SluiceError(body);
  const code = codeForStatus(response.status);
  return new SluiceError({
    type: 'about:blank',
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    detail: text.slice(0, 500) || `the server answered ${response.status} without a problem body`,
    code,
  });
}

/**
 * The server could not be reached, or the connection broke before an answer arrived, after every retry:
 * the request may or may not have been applied (for a produce, retrying with the same Idempotency-Key is
 * safe, which the producer does by itself).
 */
export class SluiceConnectionError extends Error {
  override readonly name = 'SluiceConnectionError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
