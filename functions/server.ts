import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ensureTables } from '../lib/metadata/dynamodb-schema.js';
import { createConfiguredApp } from './app-wiring.js';
import { type Config, loadConfig } from './config.js';
import { createAwsClients, createRuntime } from './deps.js';
import { serveNode } from './http/node-serve.js';
import { createLambdaApp, LAMBDA_API_TIMEOUT_MS, SSE_TIMEOUT_MARGIN_MS } from './lambda-app.js';
import { startMaintenanceTimer } from './local/maintenance-timer.js';

/**
 * The long-running server (agent mode): `npm start`. It batches concurrent produce calls into one segment
 * per flush. Ctrl-C answers in-flight requests, flushes, and stops everything it started.
 */
async function main(): Promise<void> {
  // The SDK is pinned to releases that run on Node 20 (package.json); its notice that *later* releases
  // will need Node 22 is noise in the start banner. Set the variable to 'false' to see it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // Whatever this server and the DynamoDB Local it starts create under `.sluice/` is owner-only (SPEC §4).
  process.umask(0o077);
  const config = loadConfig();
  if (config.mode === 'lambda') return await serveLambdaWiring(config);
  const generated = config.adminToken === undefined;
  const adminToken = config.adminToken ?? (await localAdminToken(resolve(config.dataDir)));
  const runtime = await createRuntime(config, { onLog: (m) => console.log(`[sluice] ${m}`) });
  // Aborted on Ctrl-C: live tails (SSE) end cleanly, so that server.close() does not wait for them.
  const closing = new AbortController();
  const app = createConfiguredApp(config, runtime.clients, runtime.log, {
    adminToken,
    sseCloseSignal: closing.signal,
  });
  const maintenance =
    config.maintenanceIntervalMs > 0
      ? startMaintenanceTimer(runtime.log, config.maintenanceIntervalMs, (error) =>
          console.error('[sluice] maintenance pass failed', error),
        )
      : undefined;
  serveUntilStopped(config, app, closing, {
    banner: (url) => [
      `backed by ${runtime.description}`,
      `listening on ${url}`,
      ...(generated
        ? [
            `SLUICE_ADMIN_TOKEN is not set; using the generated admin token kept in ${join(resolve(config.dataDir), 'admin-token')}:`,
            `\n    export SLUICE_ADMIN_TOKEN=${adminToken}\n`,
          ]
        : ['admin token: the value of SLUICE_ADMIN_TOKEN']),
      `try: curl -H "Authorization: Bearer $SLUICE_ADMIN_TOKEN" ${url}/v1/topics`,
    ],
    cleanup: async () => {
      await maintenance?.stop();
      await runtime.close();
    },
  });
}

/**
 * `SLUICE_MODE=lambda npm start`: the Lambda function's wiring (functions/lambda-app.ts: no linger, no tail
 * cache, no maintenance timer, live tails bounded as in the deployed function) served over HTTP, so that
 * several Lambda-shaped instances can run side by side on shared endpoints (`npm run emulators`).
 */
async function serveLambdaWiring(config: Config): Promise<void> {
  if (
    config.bucket === undefined ||
    config.endpoints.s3 === undefined ||
    config.endpoints.dynamodb === undefined
  ) {
    throw new Error(
      'SLUICE_MODE=lambda needs SLUICE_BUCKET, AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_DYNAMODB (or AWS_ENDPOINT_URL): ' +
        'lambda mode is for several instances on shared emulators, not the embedded default. ' +
        'Run `npm run emulators` and paste the export lines it prints.',
    );
  }
  if (config.adminToken === undefined) {
    throw new Error(
      'SLUICE_MODE=lambda needs SLUICE_ADMIN_TOKEN (the same for every instance; `npm run emulators` suggests one)',
    );
  }
  const clients = createAwsClients(config);
  // The deployed stack creates the tables; on emulators the first instance does (race-safe).
  await ensureTables(clients.dynamodb, config.tablePrefix);
  const closing = new AbortController();
  const sseBudgetMs = LAMBDA_API_TIMEOUT_MS - SSE_TIMEOUT_MARGIN_MS;
  const { app, log } = createLambdaApp(config, clients, {
    adminToken: config.adminToken,
    // Over HTTP there is no invocation clock: a live tail gets what it gets in the deployed function, the
    // API function's timeout less the same margin.
    sseMaxDurationMs: sseBudgetMs,
    sseCloseSignal: closing.signal,
  });
  serveUntilStopped(config, app, closing, {
    banner: (url) => [
      "lambda mode: the Lambda function's wiring (no linger, no tail cache, no maintenance timer, " +
        `live tails end after ${sseBudgetMs / 1000} s)`,
      `backed by S3 bucket ${config.bucket} at ${config.endpoints.s3}, DynamoDB tables ${config.tablePrefix}* at ${config.endpoints.dynamodb}`,
      `listening on ${url}`,
      'admin token: the value of SLUICE_ADMIN_TOKEN',
    ],
    cleanup: async () => {
      await log.flush();
      clients.s3.destroy();
      clients.dynamodb.destroy();
    },
  });
}

/**
 * Serves `app` (both modes) and prints the banner once listening. On SIGINT or SIGTERM: live tails end
 * (`closing`), the server answers what is in flight and closes, `cleanup` runs, and the process exits (forced
 * after 10 s).
 */
function serveUntilStopped(
  config: Config,
  app: { fetch: (request: Request) => Response | Promise<Response> },
  closing: AbortController,
  options: { banner: (url: string) => string[]; cleanup: () => Promise<void> },
): void {
  const server = serveNode(
    {
      fetch: app.fetch,
      port: config.port,
      hostname: config.host,
      maxRequestBytes: config.limits.maxRequestBytes,
    },
    (info) => {
      for (const line of options.banner(`http://${config.host}:${info.port}`)) {
        console.log(line.startsWith('\n') ? line : `[sluice] ${line}`);
      }
    },
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`[sluice] ${signal}: stopping`);
    closing.abort();
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await options.cleanup();
    clearTimeout(force);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

/**
 * The admin token of a local server started without SLUICE_ADMIN_TOKEN: generated once and kept (owner-only)
 * in the data directory, so a restart does not invalidate the token a user already exported.
 */
async function localAdminToken(dataDir: string): Promise<string> {
  const path = join(dataDir, 'admin-token');
  const existing = (await readFile(path, 'utf8').catch(() => '')).trim();
  if (existing.length >= 16) return existing;
  const token = `sl_admin_${randomBytes(24).toString('base64url')}`;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await writeFile(path, `${token}\n`, { mode: 0o600 });
  return token;
}

main().catch((error: unknown) => {
  console.error(`[sluice] failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
