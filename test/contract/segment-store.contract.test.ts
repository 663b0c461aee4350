import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsSegmentStore } from '../../lib/storage/fs-segment-store.js';
import { MemorySegmentStore } from '../../lib/storage/memory-segment-store.js';
import { S3SegmentStore } from '../../lib/storage/s3-segment-store.js';
import {
  newSegmentKey,
  SegmentExistsError,
  SegmentNotFoundError,
  type SegmentStore,
  segmentKeyTime,
} from '../../lib/storage/segment-store.js';
import { makeS3Client, testEndpoints } from '../support/env.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const adapters: Array<[string, () => Promise<SegmentStore>]> = [
  ['memory', async () => new MemorySegmentStore()],
  [
    'file system',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'sluice-fs-store-'));
      dirs.push(dir);
      return new FsSegmentStore(dir);
    },
  ],
  ['S3 (emulator)', async () => new S3SegmentStore(makeS3Client(), testEndpoints().bucket)],
];

describe.each(adapters)('SegmentStore contract: %s', (_name, make) => {
  const body = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251));

  it('reads back a whole object exactly as written', async () => {
    const store = await make();
    const key = newSegmentKey(Date.now());
    await store.put(key, body);
    expect(Buffer.compare(await store.get(key), body)).toBe(0);
  });

  it('reads a byte range', async () => {
    const store = await make();
    const key = newSegmentKey(Date.now());
    await store.put(key, body);
    const range = await store.getRange(key, 100, 1000);
    expect(range.length).toBe(1000);
    expect(Buffer.compare(range, body.subarray(100, 1100))).toBe(0);
    const last = await store.getRange(key, body.length - 1, 1);
    expect([...last]).toEqual([body[body.length - 1]]);
  });

  it('reports a missing object as SegmentNotFoundError', async () => {
    const store = await make();
    await expect(store.get('segments/0000000000000-0000000000000000.seg')).rejects.toBeInstanceOf(
      SegmentNotFoundError,
    );
    await expect(store.getRange('segments/missing.seg', 0, 10)).rejects.toBeInstanceOf(SegmentNotFoundError);
  });

  it('lists objects under a prefix in key order with their sizes', async () => {
    const store = await make();
    const prefix = `segments/${String(Date.now()).padStart(13, '0')}-`;
    const keys = ['a', 'b', 'c'].map((s) => `${prefix}${s.repeat(16)}.seg`);
    for (const key of [...keys].reverse()) await store.put(key, body.subarray(0, 10));
    const listed: Array<{ key: string; size: number }> = [];
    for await (const object of store.list(prefix)) listed.push({ key: object.key, size: object.size });
    expect(listed).toEqual(keys.map((key) => ({ key, size: 10 })));
  });

  it('deletes objects and ignores keys that are already gone', async () => {
    const store = await make();
    const key = newSegmentKey(Date.now());
    await store.put(key, body);
    await store.delete([key, 'segments/never-existed.seg']);
    await expect(store.get(key)).rejects.toBeInstanceOf(SegmentNotFoundError);
  });
});

describe('create-only puts', () => {
  it.each(adapters.slice(0, 2))('%s never overwrites an existing object', async (_name, make) => {
    const store = await make();
    const key = newSegmentKey(Date.now());
    await store.put(key, Buffer.from('first'));
    await expect(store.put(key, Buffer.from('second'))).rejects.toBeInstanceOf(SegmentExistsError);
    expect((await store.get(key)).toString()).toBe('first');
  });
});

describe('segment keys', () => {
  it('sort by creation time and are unique', () => {
    const a = newSegmentKey(1_000);
    const b = newSegmentKey(2_000);
    expect(a < b).toBe(true);
    expect(newSegmentKey(1_000)).not.toBe(a);
    expect(segmentKeyTime(a)).toBe(1_000);
  });
});
