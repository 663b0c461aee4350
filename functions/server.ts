import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadConfig } from './config.js';
import {
  createGroupStore,
  createKeyStore,
  createMaintenanceRunner,
  createRuntime,
  createWebhookStore,
} from './deps.js';
import { createApp } from './http/app.js';
import { serveNode } from './http/node-serve.js';
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
  const generated = config.adminToken === undefined;
  const adminToken = config.adminToken ?? (await localAdminToken(resolve(config.dataDir)));
  const runtime = await createRuntime(config, { onLog: (m) => console.log(`[sluice] ${m}`) });
  // Aborted on Ctrl-C: live tails (SSE) end cleanly, so that server.close() does not wait for them.
  const closing = new AbortController();
  const app = createApp({
    sseCloseSignal: closing.signal,
    log: runtime.log,
    adminToken,
    keys: createKeyStore({ dynamodb: runtime.clients.dynamodb, tablePrefix: config.tablePrefix }),
    groups: createGroupStore({ dynamodb: runtime.clients.dynamodb, tablePrefix: config.tablePrefix }),
    webhooks: createWebhookStore({ dynamodb: runtime.clients.dynamodb, tablePrefix: config.tablePrefix }),
    webhookSecretKey: config.webhookSecretKey,
    keyCacheTtlMs: config.keyCacheTtlMs,
    limits: config.limits,
    groupOptions: config.groups,
    maintenanceRunner: createMaintenanceRunner(config, runtime.log),
  });
  const server = serveNode(
    {
      fetch: app.fetch,
      port: config.port,
      hostname: config.host,
      maxRequestBytes: config.limits.maxRequestBytes,
    },
    (info) => {
      const url = `http://${config.host}:${info.port}`;
      console.log(`[sluice] backed by ${runtime.description}`);
      console.log(`[sluice] listening on ${url}`);
      if (generated) {
        console.log(
          `[sluice] SLUICE_ADMIN_TOKEN is not set; using the generated admin token kept in ${join(resolve(config.dataDir), 'admin-token')}:`,
        );
        console.log(`\n    export SLUICE_ADMIN_TOKEN=${adminToken}\n`);
      } else {
        console.log('[sluice] admin token: the value of SLUICE_ADMIN_TOKEN');
      }
      console.log(`[sluice] try: curl -H "Authorization: Bearer $SLUICE_ADMIN_TOKEN" ${url}/v1/topics`);
    },
  );

  const maintenance =
    config.maintenanceIntervalMs > 0
      ? startMaintenanceTimer(runtime.log, config.maintenanceIntervalMs, (error) =>
          console.error('[sluice] maintenance pass failed', error),
        )
      : undefined;

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`[sluice] ${signal}: stopping`);
    closing.abort();
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await maintenance?.stop();
    await runtime.close();
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
