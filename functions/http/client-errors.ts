import type { Duplex } from 'node:stream';
import { problem } from './errors.js';

interface ClientErrorSource {
  on(event: 'clientError', listener: (error: Error & { code?: string }, socket: Duplex) => void): unknown;
}

/**
 * Answers what Node's HTTP parser refuses before the app sees a request as problem+json, instead of
 * Node's default bare status line with an empty body: a request head over Node's limit (16 KiB by
 * default: a huge cursor or header) is 431 with code REQUEST_TOO_LARGE, anything else 400
 * INVALID_REQUEST. The connection is closed after the answer (the parser cannot go on).
 */
export function answerClientErrors(server: ClientErrorSource): void {
  server.on('clientError', (error, socket) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? 431 : 400;
    const body = JSON.stringify({
      ...(tooLarge
        ? problem(
            'REQUEST_TOO_LARGE',
            'the request line and headers are over the server limit (16 KiB): send a long cursor in the ' +
              'Sluice-Cursor header, not in both places, and keep other headers short',
          )
        : problem('INVALID_REQUEST', 'the request is not valid HTTP')),
      status,
    });
    const reason = tooLarge ? 'Request Header Fields Too Large' : 'Bad Request';
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/problem+json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
}
