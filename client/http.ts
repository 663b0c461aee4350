import { errorFromResponse, SluiceConnectionError } from './errors.js';

/** How the client retries a request that failed in a way worth retrying (see `retriable`). */
export interface RetryOptions {
  /** Retries after the first attempt (default 8). 0 turns retrying off. */
  retries?: number;
  /** The first backoff's upper bound (default 100 ms); each retry doubles it, up to `maxDelayMs`. */
  initialDelayMs?: number;
  /** The largest backoff (default 5,000 ms); a longer `Retry-After` is honoured as it is. */
  maxDelayMs?: number;
}

export interface SluiceOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** An admin token or an API key token (`sk_…`), sent as `Authorization: Bearer`. */
  token?: string;
  /** Retries of 429, 503 and network failures (jittered exponential backoff, honouring `Retry-After`). */
  retry?: RetryOptions;
  /**
   * How long one attempt may take before it is abandoned (and retried where retrying is safe), on top of any
   * long-poll wait it asked for. Default 30,000 ms.
   */
  requestTimeoutMs?: number;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

export interface RequestOptions {
  /** Query parameters; undefined values are left out. */
  query?: Record<string, string | number | boolean | undefined>;
  /** A JSON body. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Aborts the request (and any wait between retries); the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Whether the request may be sent again after a failure that leaves its outcome unknown (a network error,
   * a timeout) or after a 429/503: true for reads and for writes that are idempotent (a produce with an
   * Idempotency-Key, a commit, a heartbeat). Default: true for GET, false otherwise.
   */
  retry?: boolean;
  /** Further statuses worth retrying for this request (e.g. 409 for a produce whose key is in flight). */
  retryStatuses?: readonly number[];
  /** Extra time the server may take on purpose (a long-poll `waitMs`). */
  waitMs?: number;
  /** Statuses that are an answer rather than an error (e.g. 404 for "gone already"). */
  accept?: readonly number[];
}

export interface HttpResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

const RETRIABLE_STATUSES = new Set([429, 502, 503, 504]);

/** Milliseconds a `Retry-After` header asks for (seconds or an HTTP date), or undefined. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Full jitter (AWS's "exponential backoff and jitter"): uniform in [0, min(max, initial·2^attempt)]. */
export function backoffMs(attempt: number, options: Required<RetryOptions>): number {
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** attempt);
  return Math.random() * ceiling;
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** One path segment: every name a caller chooses is data, so it is always percent-encoded. */
export function segment(name: string | number): string {
  return encodeURIComponent(String(name));
}

/** The transport every part of the client shares: base URL, token, timeouts and the retry policy. */
export class HttpClient {
  readonly baseUrl: string;
  readonly retry: Required<RetryOptions>;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(options: SluiceOptions) {
    this.baseUrl = options.url.replace(/\/+$/, '');
    this.token = options.token;
    this.retry = {
      retries: options.retry?.retries ?? 8,
      initialDelayMs: options.retry?.initialDelayMs ?? 100,
      maxDelayMs: options.retry?.maxDelayMs ?? 5_000,
    };
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  url(path: string, query?: RequestOptions['query']): string {
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    return url.toString();
  }

  headers(extra?: Record<string, string>): Record<string, string> {
    return {
      accept: 'application/json',
      ...(this.token !== undefined ? { authorization: `Bearer ${this.token}` } : {}),
      ...extra,
    };
  }

  /**
   * Sends a request and returns its parsed JSON body (undefined for 204), retrying as `options.retry`
   * allows; a non-2xx answer rejects with a SluiceError, a network failure after the retries with a
   * SluiceConnectionError.
   */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<HttpResponse<T>> {
    const mayRetry = options.retry ?? method === 'GET';
    const retryStatuses = new Set([...RETRIABLE_STATUSES, ...(options.retryStatuses ?? [])]);
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers = this.headers({
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    });
    const url = this.url(path, options.query);
    for (let attempt = 0; ; attempt++) {
      const last = !mayRetry || attempt >= this.retry.retries;
      let response: Response;
      try {
        response = await this.attempt(
          url,
          { method, headers, ...(body !== undefined ? { body } : {}) },
          options,
        );
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (last) {
          throw new SluiceConnectionError(
            `${method} ${path}: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          );
        }
        await sleep(backoffMs(attempt, this.retry), options.signal);
        continue;
      }
      if (response.ok || options.accept?.includes(response.status)) {
        const text = response.status === 204 ? '' : await response.text();
        return {
          status: response.status,
          headers: response.headers,
          body: (text === '' ? undefined : JSON.parse(text)) as T,
        };
      }
      if (!last && retryStatuses.has(response.status)) {
        const asked = retryAfterMs(response.headers.get('retry-after'));
        await response.body?.cancel().catch(() => undefined);
        await sleep(asked ?? backoffMs(attempt, this.retry), options.signal);
        continue;
      }
      throw await errorFromResponse(response);
    }
  }

  /** One attempt with its own timeout (the request's wait plus the client's timeout). */
  private async attempt(url: string, init: RequestInit, options: RequestOptions): Promise<Response> {
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`no answer within ${this.timeoutMs + (options.waitMs ?? 0)} ms`)),
      this.timeoutMs + (options.waitMs ?? 0),
    );
    const onAbort = () => controller.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) controller.abort(options.signal.reason);
    try {
      const response = await this.fetchImpl(url, { ...init, signal: controller.signal });
      // Reads the body within the same timeout: a connection cut mid-answer is a network failure too.
      const buffered = await response.arrayBuffer();
      return new Response(response.status === 204 ? null : buffered, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Opens a streaming request (the live tail): no body buffering, no retry (the caller resumes). */
  async stream(path: string, options: RequestOptions & { signal: AbortSignal }): Promise<Response> {
    const response = await this.fetchImpl(this.url(path, options.query), {
      method: 'GET',
      headers: this.headers(options.headers),
      signal: options.signal,
    });
    if (!response.ok) throw await errorFromResponse(response);
    return response;
  }
}
