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

/**
 * The API as the long-running server (agent mode, `npm start`) wires it over a built Log: shared by
 * functions/server.ts and the fault suite's instances (test/faults/cluster/instance.ts), so the two cannot
 * drift.
 */
export function createAgentApp(
  config: Config,
  clients: AwsClients,
  log: Log,
  options: { adminToken: string; sseCloseSignal?: AbortSignal },
): ReturnType<typeof createApp> {
  return createApp({
    ...(options.sseCloseSignal ? { sseCloseSignal: options.sseCloseSignal } : {}),
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
