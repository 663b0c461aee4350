import type { Command } from 'commander';
import { Sluice } from '../client/index.js';
import { type Connection, connectionFromProcess } from './connection.js';
import type { Io } from './format.js';

/** The options every command takes (declared on the program). */
export interface GlobalOptions {
  url?: string;
  token?: string;
  profile?: string;
  json?: boolean;
}

export function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/** What an action needs: where to write, whether to write JSON, and a client for the resolved server. */
export interface Context {
  io: Io;
  json: boolean;
  connection: Connection;
  sluice: Sluice;
}

const STREAMING_COMMANDS = new Set(['produce', 'consume', 'bench']);

/** Resolves the connection (flags > env > local admin token > profile) and makes the client. */
export function context(command: Command, io: Io): Context {
  const options = globals(command);
  const connection = connectionFromProcess({
    url: options.url,
    token: options.token,
    profile: options.profile,
  });
  const sluice = new Sluice({
    url: connection.url,
    ...(connection.token !== undefined ? { token: connection.token } : {}),
    // Streaming commands keep the client's patient retries (a produce must ride out a 429 or a restart);
    // a one-shot admin command reports a server that is down within a second instead of after ~10 s.
    ...(STREAMING_COMMANDS.has(command.name()) ? {} : { retry: { retries: 2 } }),
  });
  return { io, json: options.json === true, connection, sluice };
}

/** Wraps an action so that a failure to reach the server names the server. */
export function reachable(connection: Connection, error: unknown): unknown {
  if (isNetworkError(error)) {
    const cause = networkCause(error);
    return new Error(
      `cannot reach ${connection.url}${cause ? ` (${cause})` : ''}` +
        (connection.source.url === 'default' ? ' — is the local server running? (npm start)' : ''),
    );
  }
  if (isProblem(error) && error.status === 401) {
    const hint =
      connection.source.token === 'none'
        ? ' — no token: pass --token, set SLUICE_TOKEN, or use a profile'
        : ` — the token (from ${connection.source.token}) was refused`;
    return Object.assign(new Error(`${problemText(error)}${hint}`), { problem: error });
  }
  return error;
}

interface ProblemLike {
  status: number;
  code: string;
  detail?: string | undefined;
  message: string;
}

function isProblem(error: unknown): error is ProblemLike {
  return (
    error instanceof Error &&
    typeof (error as Partial<ProblemLike>).status === 'number' &&
    typeof (error as Partial<ProblemLike>).code === 'string'
  );
}

function problemText(error: ProblemLike): string {
  return `${error.detail || error.message} (${error.status} ${error.code})`;
}

function isNetworkError(error: unknown): boolean {
  return (
    (error instanceof Error && error.name === 'SluiceConnectionError') ||
    (error instanceof TypeError && /fetch failed/i.test(error.message))
  );
}

/** The innermost cause's code (ECONNREFUSED) or message: fetch wraps the socket's error in causes. */
function networkCause(error: unknown): string | undefined {
  let cause = (error as { cause?: unknown }).cause;
  let found: string | undefined;
  for (let depth = 0; depth < 5 && typeof cause === 'object' && cause !== null; depth++) {
    const c = cause as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof c.code === 'string') found = c.code;
    else if (typeof c.message === 'string') found = c.message;
    cause = c.cause;
  }
  return found;
}

/** One line for a failure: the problem's detail, status and code for a server's refusal. */
export function describeFailure(error: unknown): string {
  if (isProblem(error)) return problemText(error);
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * The action of a command that talks to a server: resolves the context, runs `body`, and turns a network
 * failure or a 401 into a message that says which server and which token.
 */
export function withContext<A extends unknown[]>(
  io: Io,
  body: (ctx: Context, ...args: A) => Promise<void>,
): (...args: [...A, Command]) => Promise<void> {
  return async (...args) => {
    const command = args[args.length - 1] as Command;
    const ctx = context(command, io);
    try {
      await body(ctx, ...(args.slice(0, -1) as unknown as A));
    } catch (error) {
      throw reachable(ctx.connection, error);
    }
  };
}
