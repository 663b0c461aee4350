import { readFile, rm, writeFile } from 'node:fs/promises';

/**
 * A pid file for a helper process of the embedded default (DynamoDB Local). When the server is killed
 * with SIGKILL it cannot stop its children; the next start finds the pid file, checks that the process is
 * still the same program (by its command line), and stops it before starting a new one on the same data.
 */
export async function stopStaleProcess(pidFile: string, commandMarker: string): Promise<boolean> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 1) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline === undefined || !cmdline.includes(commandMarker)) {
    await rm(pidFile, { force: true });
    return false;
  }
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 50; i++) {
    if ((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined)) === undefined) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await rm(pidFile, { force: true });
  return true;
}

export async function writePidFile(pidFile: string, pid: number | undefined): Promise<void> {
  if (pid !== undefined) await writeFile(pidFile, `${pid}\n`);
}

export async function removePidFile(pidFile: string): Promise<void> {
  await rm(pidFile, { force: true });
}
