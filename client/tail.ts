import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { SluiceError } from './errors.js';
import { backoffMs, type HttpClient, segment, sleep } from './http.js';
import type { PartitionRecord } from './types.js';

export interface TailOptions {
  /** Where to start: an offset, `earliest` or `latest` (default `latest`). */
  from?: number | 'earliest' | 'latest';
  /** Ends the tail (as `return()` on its iterator does). */
  signal?: AbortSignal;
  /** Reconnections in a row without a record in between before giving up (default: never give up). */
  maxReconnects?: number;
}

/**
 * A live tail of one partition over server-sent events (`sluice.tail()`): an async iterator of records.
 * After a dropped connection (or the server's end of a stream) it reconnects with `Last-Event-ID` = the
 * last offset it delivered, so every record comes once and in order. A final `error` event (the topic
 * deleted, the key revoked) ends it with a SluiceError. SSE is parsed with eventsource-parser (no Node or
 * DOM dependency: it runs wherever fetch streams bodies).
 */
export async function* tail(
  http: HttpClient,
  topic: string,
  partition: number,
  options: TailOptions = {},
): AsyncGenerator<PartitionRecord, void, undefined> {
  const stop = new AbortController();
  const onAbort = () => stop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) stop.abort(options.signal.reason);
  const path = `/v1/topics/${segment(topic)}/partitions/${segment(partition)}/records`;
  /** The offset of the last record delivered; before any, where the stream said it started. */
  let lastSeen: number | undefined;
  let startAt: number | undefined;
  let failures = 0;
  const decoder = new TextDecoder();
  try {
    while (!stop.signal.aborted) {
      const events: EventSourceMessage[] = [];
      const parser = createParser({
        onEvent: (event) => events.push(event),
        onComment: (comment) => {
          const match = /^\s*from offset (\d+)/.exec(comment);
          if (match && lastSeen === undefined) startAt = Number(match[1]);
        },
      });
      const from = options.from ?? 'latest';
      const query: Record<string, string | number> = {};
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (lastSeen !== undefined) headers['last-event-id'] = String(lastSeen);
      else query.offset = startAt ?? from;
      let response: Response;
      try {
        response = await http.stream(path, { query, headers, signal: stop.signal });
      } catch (error) {
        if (stop.signal.aborted) return;
        const retriable = !(error instanceof SluiceError) || [429, 502, 503, 504].includes(error.status);
        if (!retriable) throw error;
        if (options.maxReconnects !== undefined && failures >= options.maxReconnects) throw error;
        await sleep(backoffMs(failures++, http.retry), stop.signal).catch(() => undefined);
        continue;
      }
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      const seenBefore = lastSeen;
      let broke: unknown;
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parser.feed(decoder.decode(value, { stream: true }));
          while (events.length > 0) {
            const event = events.shift() as EventSourceMessage;
            if (event.event === 'error') {
              throw new SluiceError(JSON.parse(event.data));
            }
            if (event.event !== 'record') continue;
            const record = JSON.parse(event.data) as PartitionRecord;
            if (lastSeen !== undefined && record.offset <= lastSeen) continue;
            lastSeen = record.offset;
            failures = 0;
            yield record;
          }
        }
      } catch (error) {
        if (stop.signal.aborted) return;
        if (error instanceof SluiceError) throw error;
        broke = error; // the connection broke: resume after the last record delivered
      } finally {
        reader.cancel().catch(() => undefined);
      }
      // A broken connection, or a stream the server ended (its maximum duration, a shutdown) without a
      // record: reconnect after a backoff (so a server ending every stream is not hammered); a stream that
      // ended after records reconnects at once.
      if (broke !== undefined || lastSeen === seenBefore) {
        if (options.maxReconnects !== undefined && failures >= options.maxReconnects) {
          if (broke !== undefined) throw broke;
          return;
        }
        await sleep(backoffMs(failures++, http.retry), stop.signal).catch(() => undefined);
      }
    }
  } finally {
    stop.abort();
    options.signal?.removeEventListener('abort', onAbort);
  }
}
