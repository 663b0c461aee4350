import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

/**
 * `npm start`'s server (functions/server.ts) as a process of its own process group (so a test can kill -9
 * everything it started), with `env`; resolves once its whole start banner is out. The banner's last line
 * is waited for: the lines before it (the admin token) may arrive in an earlier chunk or the same one.
 */
export async function startServerProcess(
  env: NodeJS.ProcessEnv,
  /** Told of the process at once, before it is ready (so a test can kill one that never starts). */
  track: (child: ChildProcess) => void,
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'functions/server.ts'], {
    cwd: root,
    detached: true,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const deadline = Date.now() + 60_000;
  while (!output.includes('[sluice] try: ')) {
    if (child.exitCode !== null) throw new Error(`server exited early:\n${output}`);
    if (Date.now() > deadline) throw new Error(`server did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, output: () => output };
}
