import { randomBytes } from 'node:crypto';
import { SluiceError } from '../errors.js';

/** An object listed by a SegmentStore. */
export interface StoredObject {
  key: string;
  size: number;
  /** Epoch milliseconds of the object's creation. */
  lastModified: number;
}

/**
 * The port for immutable segment objects (S3 in AWS, a directory locally, memory in unit tests).
 * Objects are written once at unique keys and never overwritten; readers use byte ranges.
 */
export interface SegmentStore {
  /** Writes a new object. Create-only: an existing key is never overwritten (SegmentExistsError). */
  put(key: string, body: Buffer): Promise<void>;
  /** Reads `length` bytes from `start`. Throws SegmentNotFoundError for a missing object. */
  getRange(key: string, start: number, length: number): Promise<Buffer>;
  /** Reads a whole object. Throws SegmentNotFoundError for a missing object. */
  get(key: string): Promise<Buffer>;
  /** Deletes objects; missing keys are ignored. */
  delete(keys: readonly string[]): Promise<void>;
  /** Lists objects under a prefix in key order (which is creation order for segment keys). */
  list(prefix: string): AsyncIterable<StoredObject>;
}

export class SegmentNotFoundError extends SluiceError {
  constructor(key: string) {
    super('INTERNAL', `segment object '${key}' does not exist`);
  }
}

export class SegmentExistsError extends SluiceError {
  constructor(key: string) {
    super('INTERNAL', `segment object '${key}' already exists and is never overwritten`);
  }
}

export const SEGMENT_PREFIX = 'segments/';

/**
 * A unique key that sorts by creation time: `segments/<13-digit epoch ms>-<16 hex random>.seg`.
 * Sorting by time lets garbage collection list the oldest objects first; the random suffix makes
 * collisions between writers (and Lambda instances) practically impossible.
 */
export function newSegmentKey(now: number): string {
  return `${SEGMENT_PREFIX}${String(now).padStart(13, '0')}-${randomBytes(8).toString('hex')}.seg`;
}

/** The creation time encoded in a segment key, or undefined for a key of another shape. */
export function segmentKeyTime(key: string): number | undefined {
  const match = /^segments\/(\d{13})-[0-9a-f]{16}\.seg$/.exec(key);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
