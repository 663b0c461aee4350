import type { Rng } from '../rng.js';

/**
 * Faults injected into a real AWS SDK client (S3 or DynamoDB) of one instance, per attempt (below the SDK's
 * retry, so its own retry strategy sees each injected failure as it would see a real one):
 * - `definite`: fails before the request is sent (connection refused): nothing was applied;
 * - `ambiguous`: sends the request (DynamoDB or S3 applies it), then loses the answer (a timeout);
 * - `throttle`: the service's throttling error, before sending (DynamoDB ProvisionedThroughputExceeded,
 *   S3 SlowDown), as AWS throttles;
 * - `serverError`: an HTTP 500 InternalError, half of them before and half after the request was applied;
 * - `latency`: the request waits `latencyMs` before it is sent;
 * - `stall`: the request is never sent, and fails after `stallMs` with a TimeoutError, as a request on a
 *   connection that went silent does (DynamoDB unreachable for this instance only, for these commands).
 * Every decision is drawn from the instance's own seeded stream, one draw per decision in a fixed order.
 */
export interface SdkFaultProfile {
  definite?: number;
  ambiguous?: number;
  throttle?: number;
  serverError?: number;
  latency?: number;
  latencyMs?: [number, number];
  stall?: number;
  /** Default 2 s (the fault suite's DynamoDB request timeout). */
  stallMs?: number;
  /** Only these SDK commands (e.g. `PutItemCommand`); every command when absent. */
  commands?: string[];
}

export const NO_SDK_FAULTS: SdkFaultProfile = {};

/** The part of an SDK client this module needs (both S3Client and DynamoDBClient have it). */
interface MiddlewareClient {
  middlewareStack: {
    add(
      middleware: (
        next: (args: unknown) => Promise<unknown>,
        context: { commandName?: string },
      ) => (args: unknown) => Promise<unknown>,
      options: { step: 'finalizeRequest'; priority: 'low'; name: string },
    ): void;
  };
}

export interface SdkFaults {
  /** Replaces the profile (an empty one stops every fault at once). */
  set(profile: SdkFaultProfile): void;
  readonly counts: Map<string, number>;
}

function injected(name: string, message: string, fields: Record<string, unknown>): Error {
  const error = new Error(`injected fault: ${message}`);
  error.name = name;
  return Object.assign(error, fields);
}

/**
 * Adds the fault middleware to `client` (`service` names the client for throttling errors and reports).
 * `onFault` hears every injected fault, e.g. to put it in the run's history.
 */
export function installSdkFaults(
  client: unknown,
  service: 's3' | 'dynamodb',
  rng: Rng,
  onFault: (what: string) => void,
): SdkFaults {
  let profile: SdkFaultProfile = NO_SDK_FAULTS;
  const counts = new Map<string, number>();
  const note = (kind: string, command: string) => {
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    onFault(`${service} ${command}: ${kind}`);
  };
  (client as MiddlewareClient).middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? 'unknown';
      const p = profile;
      if (p.commands && !p.commands.includes(command)) return next(args);
      // Draw every decision each time, in one order, so that a profile's probabilities alone decide.
      const latency = rng.chance(p.latency ?? 0);
      const delay = rng.int(p.latencyMs?.[0] ?? 0, p.latencyMs?.[1] ?? 0);
      const definite = rng.chance(p.definite ?? 0);
      const throttle = rng.chance(p.throttle ?? 0);
      const serverError = rng.chance(p.serverError ?? 0);
      const afterApply = rng.chance(0.5);
      const ambiguous = rng.chance(p.ambiguous ?? 0);
      const stall = rng.chance(p.stall ?? 0);
      if (latency && delay > 0) {
        note(`latency ${delay} ms`, command);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
      if (stall) {
        note('stalled (not sent)', command);
        await new Promise((resolve) => setTimeout(resolve, p.stallMs ?? 2_000));
        throw injected('TimeoutError', `${command} not answered (not sent)`, {});
      }
      if (definite) {
        note('definite failure (not sent)', command);
        throw injected('Error', `connect ECONNREFUSED (${command} not sent)`, { code: 'ECONNREFUSED' });
      }
      if (throttle) {
        note('throttled (not sent)', command);
        throw service === 'dynamodb'
          ? injected('ProvisionedThroughputExceededException', 'throughput exceeded', {
              $fault: 'client',
              $metadata: { httpStatusCode: 400 },
            })
          : injected('SlowDown', 'please reduce your request rate', {
              $fault: 'server',
              $metadata: { httpStatusCode: 503 },
            });
      }
      if (serverError && !afterApply) {
        note('500 (not applied)', command);
        throw injected('InternalServerError', 'internal server error', {
          $fault: 'server',
          $metadata: { httpStatusCode: 500 },
        });
      }
      const result = await next(args);
      if (serverError) {
        note('500 (applied)', command);
        throw injected('InternalServerError', 'internal server error after applying', {
          $fault: 'server',
          $metadata: { httpStatusCode: 500 },
        });
      }
      if (ambiguous) {
        note('answer lost (applied)', command);
        throw injected('TimeoutError', `${command} applied, answer lost`, {});
      }
      return result;
    },
    { step: 'finalizeRequest', priority: 'low', name: 'sluiceFaultInjection' },
  );
  return {
    set(next) {
      profile = next;
    },
    counts,
  };
}
