/**
 * A mistake in how the command was called (a bad flag value, a missing argument): exit code 2, as for the
 * usage errors commander itself reports. A server's refusal is a `SluiceError` (exit code 1).
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The exit codes of every `sluice` command. */
export const EXIT = { ok: 0, serverError: 1, usage: 2 } as const;
