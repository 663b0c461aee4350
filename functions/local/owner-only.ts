import { chmod, lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * The files of the embedded default under `.sluice/` are readable by their owner only (SPEC §4). New files
 * get that from the server's umask (077) and explicit modes; this fixes what an older version left behind
 * (a 644 database, 755 segment folders): every directory and file under `root` loses its group and other
 * permission bits. Symbolic links are not followed.
 */
export async function restrictToOwner(root: string): Promise<void> {
  const info = await lstat(root).catch(() => undefined);
  if (info === undefined || info.isSymbolicLink()) return;
  if ((info.mode & 0o077) !== 0) await chmod(root, info.mode & 0o700);
  if (!info.isDirectory()) return;
  for (const name of await readdir(root)) await restrictToOwner(join(root, name));
}

/**
 * A per-installation secret kept (owner-only) in `path`: read if it is there, otherwise made by `generate`
 * and written. Used for the embedded DynamoDB Local's access key id.
 */
export async function installationSecret(path: string, generate: () => string): Promise<string> {
  const existing = (await readFile(path, 'utf8').catch(() => '')).trim();
  if (existing.length >= 16) return existing;
  const secret = generate();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${secret}\n`, { mode: 0o600 });
  return secret;
}
