/**
 * An in-memory S3 emulator (fauxqs) running inside this Node process.
 *
 * Clients must use path-style addressing (`forcePathStyle: true`) against the returned endpoint
 * (`http://127.0.0.1:<port>`); any region and any credentials are accepted.
 */
import { buildApp } from 'fauxqs';

/** fauxqs caps request bodies at 11 MiB; Sluice segments can be larger. */
const DEFAULT_BODY_LIMIT = 256 * 1024 * 1024;

export interface S3EmulatorOptions {
  /** 0 or undefined: pick a free port. */
  port?: number;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Largest accepted request body in bytes; default 256 MiB. */
  bodyLimit?: number;
}

export interface S3Emulator {
  /** e.g. `http://127.0.0.1:43121`; use with `forcePathStyle: true`. */
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

function endpointHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

export async function startS3Emulator(options: S3EmulatorOptions = {}): Promise<S3Emulator> {
  const host = options.host ?? '127.0.0.1';
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const app = buildApp({ logger: false });

  // Re-register fauxqs's catch-all parser (used for every S3 body) with a larger limit. Fastify replaces the
  // wildcard parser when it is added again.
  const rawBody = (_req: unknown, body: Buffer | string, done: (err: Error | null, body?: unknown) => void) =>
    done(null, body);
  try {
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, rawBody);
  } catch {
    // A Fastify that refuses to replace it: rebuild the three parsers fauxqs registers (SQS JSON, SNS form, S3 raw).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/x-amz-json-1.0', { parseAs: 'string' }, (_req, body, done) => {
      try {
        done(null, JSON.parse(String(body)));
      } catch (err) {
        done(err as Error);
      }
    });
    app.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_req, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(String(body))));
      },
    );
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, rawBody);
  }

  await app.listen({ port: options.port ?? 0, host });
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) {
    await app.close();
    throw new Error(`S3 emulator: could not read the listening address (${String(address)})`);
  }
  const port = address.port;
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://${endpointHost(host)}:${port}`,
    port,
    stop: () => {
      stopped ??= app.close().then(() => undefined);
      return stopped;
    },
  };
}
