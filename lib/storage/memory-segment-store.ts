import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import {
  SegmentExistsError,
  SegmentNotFoundError,
  type SegmentStore,
  type StoredObject,
} from './segment-store.js';

/** In-memory SegmentStore for unit tests. Copies buffers in and out so callers cannot mutate stored data. */
export class MemorySegmentStore implements SegmentStore {
  private readonly objects = new Map<string, { body: Buffer; lastModified: number }>();

  constructor(private readonly clock: Clock = systemClock) {}

  async put(key: string, body: Buffer): Promise<void> {
    if (this.objects.has(key)) throw new SegmentExistsError(key);
    this.objects.set(key, { body: Buffer.from(body), lastModified: this.clock.now() });
  }

  async getRange(key: string, start: number, length: number): Promise<Buffer> {
    const body = this.body(key);
    return Buffer.from(body.subarray(start, start + length));
  }

  async get(key: string): Promise<Buffer> {
    return Buffer.from(this.body(key));
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.objects.delete(key);
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
    for (const key of keys) {
      const object = this.objects.get(key);
      if (object) yield { key, size: object.body.length, lastModified: object.lastModified };
    }
  }

  private body(key: string): Buffer {
    const object = this.objects.get(key);
    if (!object) throw new SegmentNotFoundError(key);
    return object.body;
  }
}
