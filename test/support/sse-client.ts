import type { TestServer } from './server.js';

/** Server-sent events as a client reads them, for tests of live tails (functions/http/sse.ts). */

export interface SseMessage {
  /** 'comment' for `:` lines (heartbeats), else the event type ('message' when none was given). */
  event: string;
  id: string | undefined;
  data: string;
}

/** Parses an SSE byte stream as the EventSource algorithm does (blocks separated by a blank line). */
export function parseSse(text: string): { messages: SseMessage[]; rest: string } {
  const messages: SseMessage[] = [];
  const blocks = text.replaceAll('\r\n', '\n').split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    let comment: string | undefined;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        comment = line.slice(1).trim();
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'id') id = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length > 0) messages.push({ event, id, data: data.join('\n') });
    else if (comment !== undefined) messages.push({ event: 'comment', id: undefined, data: comment });
  }
  return { messages, rest };
}

/** An open SSE response, read in the background; `until` waits for a condition on what arrived so far. */
export interface Tail {
  status: number;
  headers: Headers;
  messages: SseMessage[];
  records(): Array<{ id: string | undefined; record: Record<string, unknown> }>;
  until(predicate: (messages: SseMessage[]) => boolean, timeoutMs?: number): Promise<void>;
  /** Resolves when the server ends the stream, with the time it did (Date.now()). */
  ended: Promise<number>;
  abort(): void;
}

export async function openTail(
  server: TestServer,
  path: string,
  headers: Record<string, string> = {},
): Promise<Tail> {
  const controller = new AbortController();
  const response = await fetch(`${server.url}${path}`, {
    headers: { authorization: `Bearer ${server.token}`, accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  const messages: SseMessage[] = [];
  const reader = response.body?.getReader();
  if (!reader) throw new Error('no body');
  const decoder = new TextDecoder();
  let buffer = '';
  const ended = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return Date.now();
        buffer += decoder.decode(value, { stream: true });
        const parsed = parseSse(buffer);
        buffer = parsed.rest;
        messages.push(...parsed.messages);
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
      return Date.now();
    }
  })();
  return {
    status: response.status,
    headers: response.headers,
    messages,
    records: () =>
      messages
        .filter((m) => m.event === 'record')
        .map((m) => ({ id: m.id, record: JSON.parse(m.data) as Record<string, unknown> })),
    async until(predicate, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(messages)) {
        if (Date.now() > deadline) {
          throw new Error(`timed out; received so far: ${JSON.stringify(messages)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    ended,
    abort: () => controller.abort(),
  };
}

/**
 * Waits up to `timeoutMs` (counted from this call) for the server to end the stream: when it ended
 * (Date.now(), possibly before this call), or undefined.
 */
export async function endedWithin(tail: Tail, timeoutMs: number): Promise<number | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  try {
    return await Promise.race([tail.ended, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
