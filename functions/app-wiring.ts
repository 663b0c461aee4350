import type { Log } from '../lib/log/log.js';
import type { Config } from './config.js';
import {
  type AwsClients,
  createGroupStore,
  createKeyStore,
  createMaintenanceRunner,
  createWebhookStore,
} from './deps.js';
import { createApp } from './http/app.js';
import type { SseMaxDuration } from './http/sse.js';

/**
 * The API over a built Log, with everything else from the configuration: the key, group and webhook
 * stores, the webhook secret key, the key cache bound, the limits, the group options, and who runs
 * admin-requested maintenance passes (the job's own function when configured, else this process). One
 * function for every wiring — the server (agent mode), the Lambda function (lambda-app.ts) and the fault
 * suite's instances — so they cannot drift.
 */
export function createConfiguredApp(
  config: Config,
  clients: AwsClients,
  log: Log,
  options: {
    adminToken: string;
    /** Aborted on shutdown, so that live tails end and the server can close. */
    sseCloseSignal?: AbortSignal;
    /** How long a live tail may run (Lambda: the invocation's time left less a margin); unbounded otherwise. */
    sseMaxDurationMs?: SseMaxDuration;
  },
): ReturnType<typeof createApp> {
  return createApp({
    ...(options.sseCloseSignal ? { sseCloseSignal: options.sseCloseSignal } : {}),
    ...(options.sseMaxDurationMs !== undefined ? { sseMaxDurationMs: options.sseMaxDurationMs } : {}),
    log,
    adminToken: options.adminToken,
    keys: createKeyStore({ dynamodb: clients.dynamodb, tablePrefix: config.tablePrefix }),
    groups: createGroupStore({ dynamodb: clients.dynamodb, tablePrefix: config.tablePrefix }),
    webhooks: createWebhookStore({ dynamodb: clients.dynamodb, tablePrefix: config.tablePrefix }),
    webhookSecretKey: config.webhookSecretKey,
    keyCacheTtlMs: config.keyCacheTtlMs,
    limits: config.limits,
    groupOptions: config.groups,
    maintenanceRunner: createMaintenanceRunner(config, log),
  });
}
