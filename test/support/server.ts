import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import { createLog } from '../../functions/deps.js';
import { type AppDeps, createApp } from '../../functions/http/app.js';
import { serveNode } from '../../functions/http/node-serve.js';
import type { Clock } from '../../lib/clock.js';
import type { CrashPoints } from '../../lib/crash-points.js';
import { DynamoDbGroupStore } from '../../lib/groups/dynamodb-group-store.js';
import { DEFAULT_LIMITS, type Limits } from '../../lib/limits.js';
import type { AppenderHooks } from '../../lib/log/appender.js';
import { DEFAULT_LOG_OPTIONS, type Log, type LogOptions } from '../../lib/log/log.js';
import type { MaintenanceHooks, MaintenanceOptions } from '../../lib/maintenance/maintenance.js';
import { DynamoDbKeyStore } from '../../lib/metadata/dynamodb-key-store.js';
import { DynamoDbMetadataStore } from '../../lib/metadata/dynamodb-metadata-store.js';
import { ensureTables } from '../../lib/metadata/dynamodb-schema.js';
import type { LogMetrics } from '../../lib/metrics/metrics.js';
import { S3SegmentStore } from '../../lib/storage/s3-segment-store.js';
import { DynamoDbWebhookSourceStore } from '../../lib/webhooks/dynamodb-source-store.js';
import { makeDynamoClient, makeS3Client, testEndpoints, uniquePrefix } from './env.js';
import type { CallRecorder } from './recording.js';

export interface TestServer {
  url: string;
  /** The segment store the server writes (to look at objects directly). */
  store: S3SegmentStore;
  /** The server's metadata (topics, index), read directly (to hold an index entry across a swap). */
  metadata: DynamoDbMetadataStore;
  /** The server's table-name prefix and bucket (to point another entry point at the same data). */
  tablePrefix: string;
  bucket: string;
  /** The server's consumer-group state, read directly. */
  groups: DynamoDbGroupStore;
  token: string;
  log: Log;
  /** The app the server serves (to drive it through another adapter, e.g. hono/aws-lambda's streamHandle). */
  app: ReturnType<typeof createApp>;
  /** fetch against the server with the admin token (unless `auth: null`) and JSON encoding of `body`. */
  api(
    method: string,
    path: string,
    options?: { body?: unknown; headers?: Record<string, string>; auth?: string | null },
  ): Promise<{ status: number; json: any; text: string; headers: Headers }>;
  close(): Promise<void>;
}

/**
 * A real HTTP server over the emulators (DynamoDB Local and the S3 emulator), with fresh tables per call.
 * Tests talk to it with fetch, exactly as clients do.
 */
export async function startTestServer(
  options: {
    log?: Partial<LogOptions>;
    limits?: Partial<Limits>;
    hooks?: AppenderHooks;
    clock?: Clock;
    /** How long the app trusts an API key it read (the revocation bound); the app's default otherwise. */
    keyCacheTtlMs?: number;
    /**
     * A bucket of its own (created here). Garbage collection deletes every object of its bucket that its
     * own index does not reference, so a server that runs GC must not share the suite's bucket.
     */
    ownBucket?: boolean;
    /**
     * Another app instance of the same deployment: serve the tables, bucket and admin token of `server`
     * instead of fresh ones (two instances on the same backends, each with its own caches).
     */
    shareBackendsWith?: TestServer;
    /** Maintenance thresholds and crash hooks. */
    maintenance?: Partial<MaintenanceOptions>;
    maintenanceHooks?: MaintenanceHooks;
    /** Records the calls the server's SDK clients make once it is set up (test/infra/grants.test.ts). */
    recorder?: CallRecorder;
    /** What the Log counts (produce/fetch metrics); none otherwise. */
    metrics?: LogMetrics;
    /** Named crash points of the write path and the jobs (lib/crash-points.ts); none otherwise. */
    crashPoints?: CrashPoints;
    /** Adds middleware to the server's DynamoDB client (fault injection at the port, never a mock). */
    dynamodbMiddleware?: (client: ReturnType<typeof makeDynamoClient>) => void;
    /** Consumer-group tuning (for example no skew allowance, with a manual clock). */
    groupOptions?: AppDeps['groupOptions'];
    /** Passed through to createApp (for example a short SSE heartbeat, or a logError that records). */
    app?: Pick<
      AppDeps,
      | 'sseHeartbeatMs'
      | 'sseMaxDurationMs'
      | 'sseCloseSignal'
      | 'logError'
      | 'maintenanceRunner'
      | 'adminPassMaxMs'
    >;
  } = {},
): Promise<TestServer> {
  const dynamodb = makeDynamoClient();
  const s3 = makeS3Client();
  options.dynamodbMiddleware?.(dynamodb);
  const shared = options.shareBackendsWith;
  const prefix = shared?.tablePrefix ?? uniquePrefix('http');
  const tables = await ensureTables(dynamodb, prefix);
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  let bucket = shared?.bucket ?? testEndpoints().bucket;
  if (options.ownBucket && !shared) {
    bucket = `sluice-own-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  }
  const store = new S3SegmentStore(s3, bucket);
  if (options.recorder) {
    options.recorder.attach(dynamodb);
    options.recorder.attach(s3);
  }
  const log = createLog({
    dynamodb,
    store,
    tablePrefix: prefix,
    log: { ...DEFAULT_LOG_OPTIONS, pollIntervalMs: 50, ...options.log },
    limits,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.hooks ? { hooks: options.hooks } : {}),
    ...(options.maintenance ? { maintenance: options.maintenance } : {}),
    maintenanceHooks: { onReport: () => undefined, ...options.maintenanceHooks },
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.crashPoints ? { crashPoints: options.crashPoints } : {}),
  });
  const groups = new DynamoDbGroupStore(dynamodb, tables);
  const token = shared?.token ?? `test-admin-token-${Math.random().toString(36).slice(2)}`;
  const app = createApp({
    log,
    adminToken: token,
    keys: new DynamoDbKeyStore(dynamodb, tables),
    groups,
    webhooks: new DynamoDbWebhookSourceStore(dynamodb, tables),
    // Tests form no group window unless they ask for one (initial rebalance delay 0).
    groupOptions: { initialRebalanceDelayMs: 0, ...options.groupOptions },
    limits,
    logError: () => undefined,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.keyCacheTtlMs !== undefined ? { keyCacheTtlMs: options.keyCacheTtlMs } : {}),
    ...options.app,
  });
  const server = serveNode({
    fetch: app.fetch,
    port: 0,
    hostname: '127.0.0.1',
    maxRequestBytes: limits.maxRequestBytes,
  });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    store,
    metadata: new DynamoDbMetadataStore(dynamodb, tables),
    groups,
    tablePrefix: prefix,
    bucket,
    token,
    log,
    app,
    async api(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      const auth = opts.auth === undefined ? token : opts.auth;
      if (auth !== null) headers.authorization = `Bearer ${auth}`;
      let body: string | Uint8Array | undefined;
      if (opts.body !== undefined) {
        body =
          typeof opts.body === 'string' || opts.body instanceof Uint8Array
            ? opts.body
            : JSON.stringify(opts.body);
        headers['content-type'] ??= 'application/json';
      }
      const response = await fetch(`${url}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
      });
      const text = await response.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, json, text, headers: response.headers };
    },
    async close() {
      await log.flush();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      dynamodb.destroy();
      s3.destroy();
    },
  };
}

/**
 * Two app instances of one deployment (the same tables, bucket and admin token, each with its own caches),
 * started before a test file's tests and closed after them; `use` receives them once both are up.
 */
export function useTwoInstances(
  options: Omit<Parameters<typeof startTestServer>[0], 'shareBackendsWith'>,
  use: (a: TestServer, b: TestServer) => void,
): void {
  let a: TestServer | undefined;
  let b: TestServer | undefined;
  beforeAll(async () => {
    a = await startTestServer(options);
    b = await startTestServer({ ...options, shareBackendsWith: a });
    use(a, b);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });
}
