import { streamHandle } from 'hono/aws-lambda';
import { loadConfig } from './config.js';
import { createAwsClients, resolveAdminToken } from './deps.js';
import { lambdaStreamBudget } from './http/sse.js';
import { createLambdaApp, SSE_TIMEOUT_MARGIN_MS } from './lambda-app.js';

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
const { app } = createLambdaApp(config, clients, {
  adminToken,
  // A live tail ends cleanly 10 s before the invocation would time out; the client resumes with
  // Last-Event-ID. Lambda does not tell a function that its streaming client went away, so this is also
  // what bounds a stream whose client has left.
  sseMaxDurationMs: lambdaStreamBudget(SSE_TIMEOUT_MARGIN_MS),
});

export const handler = streamHandle(app);
