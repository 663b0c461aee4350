import { randomBytes } from 'node:crypto';
import { type FileHandle, link, mkdir, open, readdir, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import {
  SegmentExistsError,
  SegmentNotFoundError,
  type SegmentStore,
  type StoredObject,
} from './segment-store.js';

/**
 * SegmentStore on a local directory, for the embedded default (data under `.sluice/`).
 *
 * Durability: the body is written to a temporary file and fsynced, then hard-linked to its final name
 * (link fails with EEXIST, which gives create-only semantics atomically), then the directory is fsynced.
 * A crash at any point leaves either no object or the whole object, never a partial one; a stray
 * temporary file (`*.tmp-*`) is harmless and skipped by list().
 */
export class FsSegmentStore implements SegmentStore {
  constructor(private readonly root: string) {}

  async put(key: string, body: Buffer): Promise<void> {
    const path = this.pathOf(key);
    const dir = dirname(path);
    await mkdir(dir, { recursive: true });
    const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
    const handle = await open(tmp, 'wx');
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(tmp, path);
    } catch (error) {
      if (isErrno(error, 'EEXIST')) throw new SegmentExistsError(key);
      throw error;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
    await syncDirectory(dir);
  }

  async getRange(key: string, start: number, length: number): Promise<Buffer> {
    const handle = await this.openForRead(key);
    try {
      const buffer = Buffer.allocUnsafe(length);
      let read = 0;
      while (read < length) {
        const { bytesRead } = await handle.read(buffer, read, length - read, start + read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
      return buffer.subarray(0, read);
    } finally {
      await handle.close();
    }
  }

  async get(key: string): Promise<Buffer> {
    const handle = await this.openForRead(key);
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((key) => rm(this.pathOf(key), { force: true })));
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    const files: string[] = [];
    await walk(this.root, files);
    const keys = files
      .map((file) => relative(this.root, file).split(sep).join('/'))
      .filter((key) => key.startsWith(prefix) && !key.includes('.tmp-'))
      .sort();
    for (const key of keys) {
      const info = await stat(this.pathOf(key)).catch(() => undefined);
      if (info) yield { key, size: info.size, lastModified: info.mtimeMs };
    }
  }

  private pathOf(key: string): string {
    if (key.split('/').some((part) => part === '..' || part === '')) {
      throw new Error(`invalid segment key '${key}'`);
    }
    return join(this.root, ...key.split('/'));
  }

  private async openForRead(key: string): Promise<FileHandle> {
    try {
      return await open(this.pathOf(key), 'r');
    } catch (error) {
      if (isErrno(error, 'ENOENT')) throw new SegmentNotFoundError(key);
      throw error;
    }
  }
}

async function walk(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((error: unknown) => {
    if (isErrno(error, 'ENOENT')) return [];
    throw error;
  });
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await walk(path, out);
    else if (entry.isFile()) out.push(path);
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
