import { streamHandle } from 'hono/aws-lambda';
import { loadConfig } from './config.js';
import {
  createAwsClients,
  createGroupStore,
  createKeyStore,
  createLambdaLog,
  createMaintenanceRunner,
  createWebhookStore,
  resolveAdminToken,
} from './deps.js';
import { createApp } from './http/app.js';
import { lambdaStreamBudget } from './http/sse.js';

/**
 * The API as a Lambda function. Clients and the Log are built once per execution environment. A Lambda
 * serves one request at a time, so there is nothing to merge: each produce call flushes its own segment
 * (lingerMs 0); clients batch records per request to keep the bill small.
 *
 * Responses are streamed (awslambda.streamifyResponse via hono's streamHandle; the function URL's invoke mode
 * is RESPONSE_STREAM) so that live tails (SSE) reach the client as records are committed. Ordinary JSON
 * responses go through the same path: status and headers first, then the body in one piece.
 */
const config = loadConfig();
// Read once, at cold start (top-level await: the bundle is ESM); the deployed stack passes the secret's ARN.
const adminToken = await resolveAdminToken(config);
if (adminToken === undefined)
  throw new Error('SLUICE_ADMIN_TOKEN or SLUICE_ADMIN_TOKEN_SECRET_ARN must be set for the Lambda function');
if (config.bucket === undefined) throw new Error('SLUICE_BUCKET must be set for the Lambda function');
const clients = createAwsClients(config);
const log = createLambdaLog(config, clients);
/** How long before the function timeout a live tail (SSE) ends. */
const SSE_TIMEOUT_MARGIN_MS = 10_000;
const app = createApp({
  log,
  adminToken,
  keys: createKeyStore({ dynamodb: clients.dynamodb, tablePrefix: config.tablePrefix }),
  groups: createGroupStore({ dynamodb: clients.dynamodb, tablePrefix: config.tablePrefix }),
  webhooks: createWebhookStore({ dynamodb: clients.dynamodb, tablePrefix: config.tablePrefix }),
  webhookSecretKey: config.webhookSecretKey,
  keyCacheTtlMs: config.keyCacheTtlMs,
  limits: config.limits,
  groupOptions: config.groups,
  // Admin-requested passes run in the job's own function, which holds the permissions they need.
  maintenanceRunner: createMaintenanceRunner(config, log),
  // A live tail ends cleanly 10 s before the invocation would time out; the client resumes with
  // Last-Event-ID. Lambda does not tell a function that its streaming client went away, so this is also
  // what bounds a stream whose client has left.
  sseMaxDurationMs: lambdaStreamBudget(SSE_TIMEOUT_MARGIN_MS),
});

export const handler = streamHandle(app);
