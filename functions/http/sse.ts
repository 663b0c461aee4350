import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { InvalidRequestError, TopicNotFoundError } from '../../lib/errors.js';
import type { FetchRequest, FetchResult, Log } from '../../lib/log/log.js';
import { type Problem, problem, toProblem } from './errors.js';
import { serializeRecord } from './serialize.js';

/** Heartbeat comments are sent at least this often while no record arrives (SPEC: at least every 15 s). */
export const DEFAULT_SSE_HEARTBEAT_MS = 15_000;

/** How long one stream may last: a number of ms, or a function of the request (for Lambda's time left). */
export type SseMaxDuration = number | ((c: Context) => number | undefined);

/**
 * How often an open stream re-checks its key and its topic (`checkEveryMs`: no long-poll waits longer), and
 * how long ago the key it re-checks may have been read (`keyMaxAgeMs`). A revocation is then seen within
 * keyMaxAgeMs + checkEveryMs = 3/4 of the key cache's bound, and expiry (exact on every check) or a
 * topic's deletion within checkEveryMs (+ the topic cache's 1 s): every stream ends within the bound.
 */
export function sseCheckTimings(keyCacheTtlMs: number): { checkEveryMs: number; keyMaxAgeMs: number } {
  return {
    checkEveryMs: Math.max(100, Math.floor(keyCacheTtlMs / 4)),
    keyMaxAgeMs: Math.max(0, Math.floor(keyCacheTtlMs / 2)),
  };
}

export interface SseOptions {
  heartbeatMs: number;
  /** Re-check the key and the topic's incarnation at least this often (sseCheckTimings). */
  checkEveryMs: number;
  /** Undefined: the stream lasts until the client goes away. */
  maxDurationMs: SseMaxDuration | undefined;
  /** Aborted when the server shuts down: every stream then ends cleanly (the Node server waits for them). */
  closeSignal: AbortSignal | undefined;
  logError: (error: unknown, context: { method: string; path: string }) => void;
  /**
   * Checked before every batch of records is written and at least every `checkEveryMs`: an API key revoked,
   * expired or stripped of `consume` ends the stream with a FORBIDDEN `error` event (within the key cache's
   * bound), instead of tailing until the client goes away.
   */
  stillAllowed?: (() => Promise<boolean>) | undefined;
}

export interface TailRequest {
  topic: string;
  partition: number;
  /** From the `offset` query parameter; a valid `Last-Event-ID` header takes precedence. */
  offset: FetchRequest['offset'];
  maxRecords: number;
  maxBytes: number;
}

/**
 * True when the client asks for server-sent events: `text/event-stream` is listed explicitly (wildcards do
 * not count) with q > 0, and `application/json` is not preferred over it.
 */
export function wantsEventStream(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  let sse = 0;
  let json = 0;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    const qParam = params.find((param) => param.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q)) continue;
    if (type === 'text/event-stream') sse = Math.max(sse, q);
    else if (type === 'application/json') json = Math.max(json, q);
  }
  return sse > 0 && sse >= json;
}

/**
 * Live tail of one partition as server-sent events: one `record` event per record (`id` = offset, `data` =
 * the record exactly as the JSON fetch returns it), a `: heartbeat` comment whenever `heartbeatMs` pass
 * without a record, and an `error` event (problem JSON) if the log fails mid-stream, after which the stream
 * ends. The start is validated by a first fetch BEFORE the stream opens, so a missing topic or partition,
 * an offset out of range or a bad `Last-Event-ID` is an ordinary problem+json response (404/416/400).
 * The stream is pinned to the topic incarnation it started on: once that topic is deleted (or deleted and
 * created again) it ends with TOPIC_NOT_FOUND, and never delivers a record of a later incarnation.
 */
export async function streamRecords(
  c: Context,
  log: Log,
  request: TailRequest,
  options: SseOptions,
): Promise<Response> {
  const { topic, partition, maxRecords, maxBytes } = request;
  const startedAt = Date.now();
  const maxDuration =
    typeof options.maxDurationMs === 'function' ? options.maxDurationMs(c) : options.maxDurationMs;
  const deadline =
    maxDuration === undefined ? Number.POSITIVE_INFINITY : startedAt + Math.max(0, maxDuration);
  const offset = resumeOffset(c.req.header('last-event-id')) ?? request.offset;

  // Throws (→ problem+json through app.onError) while no byte of the stream has been sent.
  const { topicId } = await log.topics.get(topic);
  const first = await log.fetch(topic, partition, {
    offset,
    maxRecords,
    maxBytes,
    waitMs: 0,
    signal: c.req.raw.signal,
    topicId,
  });
  /** Why the stream may not go on (its key, or its topic's incarnation), or undefined. */
  const refusal = async (): Promise<Problem | undefined> => {
    if (options.stillAllowed && !(await options.stillAllowed())) {
      return problem('FORBIDDEN', 'the token of this stream was revoked, expired or lost its permission');
    }
    const current = await log.topics.get(topic).catch((error: unknown) => {
      if (error instanceof TopicNotFoundError) return undefined;
      throw error;
    });
    if (current?.topicId === topicId) return undefined;
    return problem(
      'TOPIC_NOT_FOUND',
      `topic '${topic}' was deleted while this stream read it` +
        (current ? ' (a topic created again under its name is a new, empty topic)' : ''),
    );
  };

  return streamSSE(c, async (stream) => {
    // Any of these ends the loop: the request's signal (the Node server aborts it when the client
    // disconnects), the stream's own (the response body was cancelled), or the server shutting down.
    const gone = new AbortController();
    const onGone = () => gone.abort();
    const closing = options.closeSignal;
    c.req.raw.signal.addEventListener('abort', onGone, { once: true });
    closing?.addEventListener('abort', onGone, { once: true });
    if (closing?.aborted) gone.abort();
    stream.onAbort(onGone);
    const { signal } = gone;
    const shutdownNotice = ': server shutting down; reconnect with Last-Event-ID to resume\n\n';
    try {
      await stream.write(`: from offset ${first.records[0]?.offset ?? first.nextOffset}\n\n`);
      let result: FetchResult = first;
      let lastWriteAt = Date.now();
      for (;;) {
        if (signal.aborted) {
          if (closing?.aborted) await stream.write(shutdownNotice);
          return;
        }
        // Before any record is written, and at least every checkEveryMs (no wait below is longer): a key
        // revoked or expired, or a topic deleted, ends the stream before another record goes out.
        const refused = await refusal();
        if (refused) {
          await stream.writeSSE({ event: 'error', data: JSON.stringify(refused) });
          return;
        }
        for (const record of result.records) {
          await stream.writeSSE({
            id: String(record.offset),
            event: 'record',
            data: serializeRecord(record),
          });
        }
        if (result.records.length > 0) lastWriteAt = Date.now();
        else if (Date.now() - lastWriteAt >= options.heartbeatMs) {
          await stream.write(': heartbeat\n\n');
          lastWriteAt = Date.now();
        }
        const remaining = deadline - Date.now();
        if (remaining <= 0) {
          await stream.write(': max duration reached; reconnect with Last-Event-ID to resume\n\n');
          return;
        }
        const untilHeartbeat = lastWriteAt + options.heartbeatMs - Date.now();
        const waitMs = Math.max(1, Math.min(options.checkEveryMs, untilHeartbeat, remaining));
        result = await log.fetch(topic, partition, {
          offset: result.nextOffset,
          maxRecords,
          maxBytes,
          waitMs,
          signal,
          topicId,
        });
      }
    } catch (error) {
      // The client went away (nobody to tell), or the server is shutting down (its stores may be closing).
      if (signal.aborted) {
        if (closing?.aborted) await stream.write(shutdownNotice);
        return;
      }
      const body = toProblem(error);
      if (body.status >= 500) options.logError(error, { method: c.req.method, path: c.req.path });
      await stream.writeSSE({ event: 'error', data: JSON.stringify(body) });
    } finally {
      c.req.raw.signal.removeEventListener('abort', onGone);
      closing?.removeEventListener('abort', onGone);
      log.metrics.publish();
    }
  });
}

/** `Last-Event-ID` is the offset of the last record the client saw: resume right after it. */
function resumeOffset(lastEventId: string | undefined): number | undefined {
  if (lastEventId === undefined || lastEventId.trim() === '') return undefined;
  const id = lastEventId.trim();
  if (!/^\d{1,15}$/.test(id)) {
    throw new InvalidRequestError(
      `Last-Event-ID must be a record offset (a non-negative integer), got '${id}'`,
    );
  }
  return Number(id) + 1;
}

/**
 * For Lambda: the stream ends `marginMs` before the invocation's time runs out, so it closes cleanly instead
 * of being cut off. hono/aws-lambda passes the Lambda context as `c.env.context` (streamHandle) or
 * `c.env.lambdaContext` (handle). Undefined outside Lambda.
 */
export function lambdaStreamBudget(marginMs: number): (c: Context) => number | undefined {
  return (c) => {
    const env: unknown = c.env;
    if (typeof env !== 'object' || env === null) return undefined;
    const { context, lambdaContext } = env as { context?: unknown; lambdaContext?: unknown };
    const lambda = context ?? lambdaContext;
    if (typeof lambda !== 'object' || lambda === null) return undefined;
    const remaining = (lambda as { getRemainingTimeInMillis?: unknown }).getRemainingTimeInMillis;
    if (typeof remaining !== 'function') return undefined;
    const left = Number(remaining.call(lambda));
    return Number.isFinite(left) ? Math.max(0, left - marginMs) : undefined;
  };
}
