import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `sluice` command (bin/sluice.mjs, as `npx sluice` does) as a child process, in an empty
 * working directory and with an empty config directory, so that neither a local `.sluice/admin-token` nor
 * the user's profiles take part; `env` adds to (or, with undefined, removes from) the environment.
 */
export function runSluice(
  args: readonly string[],
  options: { input?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): Promise<CliResult> {
  return startSluice(args, options).result;
}

/** runSluice, with the child process at hand (to signal it) and its output so far. */
export function startSluice(
  args: readonly string[],
  options: { input?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): { child: ChildProcess; stdout: () => string; result: Promise<CliResult> } {
  const scratch = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: join(scratch, 'config') };
  for (const name of Object.keys(env)) {
    if (name.startsWith('SLUICE_')) delete env[name];
  }
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  const child = spawn(process.execPath, [join(root, 'bin', 'sluice.mjs'), ...args], {
    cwd: scratch,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdin.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const result = new Promise<CliResult>((resolvePromise, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      rmSync(scratch, { recursive: true, force: true });
      resolvePromise({ code, stdout, stderr });
    });
  });
  return { child, stdout: () => stdout, result };
}
