import type { Log } from '../lib/log/log.js';
import { createConfiguredApp } from './app-wiring.js';
import type { Config } from './config.js';
import { type AwsClients, createLambdaLog } from './deps.js';
import type { createApp } from './http/app.js';
import type { SseMaxDuration } from './http/sse.js';

/** How long before the function timeout a live tail (SSE) ends. */
export const SSE_TIMEOUT_MARGIN_MS = 10_000;
/** The deployed API function's timeout (infra/sluice-stack.ts); `SLUICE_MODE=lambda` over HTTP assumes it. */
export const LAMBDA_API_TIMEOUT_MS = 30_000;

/**
 * The API exactly as the Lambda function wires it (functions/lambda.ts), shared with `SLUICE_MODE=lambda npm
 * start`, which serves it over HTTP: the Log with LAMBDA_LOG_OPTIONS (no linger, no tail cache), no
 * maintenance timer (admin-requested passes go to the job's function when one is configured), and a time
 * budget for every live tail.
 */
export function createLambdaApp(
  config: Config,
  clients: AwsClients,
  options: {
    adminToken: string;
    /** Lambda: the invocation's time left less the margin; over HTTP a fixed budget. */
    sseMaxDurationMs: SseMaxDuration;
    /** Over HTTP: aborted on shutdown, so that live tails end and the server can close. */
    sseCloseSignal?: AbortSignal;
    /**
     * A Log built with LAMBDA_LOG_OPTIONS by the caller instead of createLambdaLog's (the fault suite's
     * instances inject a skewed clock and crash points into it).
     */
    log?: Log;
  },
): { app: ReturnType<typeof createApp>; log: Log } {
  const log = options.log ?? createLambdaLog(config, clients);
  const app = createConfiguredApp(config, clients, log, {
    adminToken: options.adminToken,
    sseMaxDurationMs: options.sseMaxDurationMs,
    ...(options.sseCloseSignal ? { sseCloseSignal: options.sseCloseSignal } : {}),
  });
  return { app, log };
}
