import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { answerClientErrors } from './client-errors.js';
import { problem } from './errors.js';

/** After a 413, at most this much of the refused body is read and thrown away before the connection closes. */
const DRAIN_MAX_BYTES = 64 * 1024 * 1024;
/** ... and for at most this long. */
const DRAIN_MAX_MS = 30_000;

/**
 * Serves a Hono app's fetch on Node's HTTP server (the long-running server and the test servers), so that a
 * body over `maxRequestBytes` is answered 413 in a way ordinary clients receive (SPEC Limits). A client
 * that is still sending when the server answers and then closes gets a TCP reset, and the reset makes its
 * kernel discard the 413 it had not read yet (Node's fetch saw EPIPE). So:
 * - `Expect: 100-continue` with a Content-Length over the limit (curl does this): 413 at once, no
 *   `100 Continue`, so the body is never sent;
 * - a Content-Length over the limit: 413 before the app sees the request;
 * - a chunked body is counted by the app's bodyLimit, which answers 413 once it passes the limit;
 * - in both cases (and whenever the app answers before reading a whole body) the rest of the body is read
 *   and discarded, up to 64 MiB or 30 s, on a connection kept alive: never closed under the client's feet.
 */
export function serveNode(
  options: {
    fetch: (request: Request) => Response | Promise<Response>;
    port: number;
    hostname: string;
    maxRequestBytes: number;
  },
  onListening?: (address: AddressInfo) => void,
): Server {
  // Instead of @hono/node-server's own clean-up, which reads what is left of a body for 500 ms and then closes
  // the connection (too short for a client still sending a few MiB), `drain` below does it.
  const handle = getRequestListener(options.fetch, {
    hostname: options.hostname,
    autoCleanupIncoming: false,
  });
  const tooLarge = (req: IncomingMessage): boolean => {
    const declared = Number(req.headers['content-length'] ?? '0');
    return Number.isFinite(declared) && declared > options.maxRequestBytes;
  };
  const refuse = (res: ServerResponse): void => {
    const body = JSON.stringify(
      problem('REQUEST_TOO_LARGE', `request body is over the limit of ${options.maxRequestBytes} bytes`),
    );
    res.writeHead(413, {
      'content-type': 'application/problem+json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  };
  const server = createServer((req, res) => {
    if (tooLarge(req)) {
      drain(req);
      return refuse(res);
    }
    // Answered without reading all of the body (bodyLimit counting a chunked body, a 401, a 404): the app
    // no longer wants the rest, so its stream stops taking it, and the rest is drained.
    res.once('finish', () => {
      if (req.complete) return;
      req.removeAllListeners('data');
      drain(req);
    });
    void handle(req, res);
  });
  // Without this listener Node sends `100 Continue` to every request that asks for it.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    // A final answer without `100 Continue`: the client does not send the body, Node closes the connection.
    if (tooLarge(req)) return refuse(res);
    res.writeContinue();
    server.emit('request', req, res);
  });
  // What Node's parser refuses (a request head over 16 KiB: 431) is answered as problem+json too.
  answerClientErrors(server);
  server.listen(options.port, options.hostname, () => onListening?.(server.address() as AddressInfo));
  return server;
}

/** Reads and discards a refused body, within bounds; past them, the connection is closed. */
function drain(req: IncomingMessage): void {
  let bytes = 0;
  const stop = (): void => {
    clearTimeout(timer);
    req.off('data', onData);
    if (!req.complete) req.socket.destroy();
  };
  const onData = (chunk: Buffer): void => {
    bytes += chunk.length;
    if (bytes > DRAIN_MAX_BYTES) stop();
  };
  const timer = setTimeout(stop, DRAIN_MAX_MS);
  timer.unref();
  req.on('data', onData);
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
