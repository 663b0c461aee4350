import type { IndexEntry } from '../metadata/metadata-store.js';
import { type DecodedBatch, decodeBatch } from '../segment/format.js';
import type { SegmentStore } from '../storage/segment-store.js';

export interface SegmentReaderOptions {
  /** Objects up to this size are fetched whole with one GET and cached; larger ones are read by range. */
  wholeObjectMaxBytes: number;
  /** Byte budget of the in-process cache of whole objects (0 disables it). */
  cacheBytes: number;
  /** Two ranges of one object closer than this are read with one GET. */
  coalesceGapBytes: number;
}

/**
 * Reads committed batches. Segments are immutable, so a cached object is never stale: the cache is safe
 * across every writer and every compaction (a compacted batch lives in a new object under a new key).
 *
 * Cost: the batches of many partitions in one object cost one GET per object, not one per partition, both
 * within one call (ranges are grouped by object and coalesced) and across calls (whole small objects are
 * cached, and concurrent loads of one object share a single GET).
 */
export class SegmentReader {
  private readonly cache = new Map<string, Buffer>();
  private cachedBytes = 0;
  private readonly loading = new Map<string, Promise<Buffer>>();

  constructor(
    private readonly store: SegmentStore,
    private readonly options: SegmentReaderOptions,
  ) {}

  /** Offers bytes just written (write-through), so tailing readers in this process need no GET. */
  remember(objectKey: string, bytes: Buffer): void {
    if (bytes.length <= this.options.wholeObjectMaxBytes) this.put(objectKey, bytes);
  }

  /** The decoded batch of each entry, in the order given. Throws CorruptBatchError for bad bytes. */
  async read(entries: readonly IndexEntry[]): Promise<DecodedBatch[]> {
    const byObject = new Map<string, IndexEntry[]>();
    for (const entry of entries) {
      const list = byObject.get(entry.objectKey) ?? [];
      list.push(entry);
      byObject.set(entry.objectKey, list);
    }
    const slices = new Map<IndexEntry, Buffer>();
    await Promise.all(
      [...byObject.entries()].map(async ([objectKey, list]) => {
        const size = list[0]?.objectSize ?? 0;
        if (size <= this.options.wholeObjectMaxBytes) {
          const object = await this.wholeObject(objectKey);
          for (const entry of list) {
            slices.set(entry, object.subarray(entry.byteOffset, entry.byteOffset + entry.byteLength));
          }
          return;
        }
        for (const range of coalesce(list, this.options.coalesceGapBytes)) {
          const bytes = await this.store.getRange(objectKey, range.start, range.end - range.start);
          for (const entry of range.entries) {
            const from = entry.byteOffset - range.start;
            slices.set(entry, bytes.subarray(from, from + entry.byteLength));
          }
        }
      }),
    );
    return Promise.all(entries.map((entry) => decodeBatch(slices.get(entry) ?? Buffer.alloc(0))));
  }

  private async wholeObject(objectKey: string): Promise<Buffer> {
    const cached = this.cache.get(objectKey);
    if (cached) {
      // Refresh its place in the LRU order.
      this.cache.delete(objectKey);
      this.cache.set(objectKey, cached);
      return cached;
    }
    const inFlight = this.loading.get(objectKey);
    if (inFlight) return inFlight;
    const load = this.store
      .get(objectKey)
      .then((bytes) => {
        this.put(objectKey, bytes);
        return bytes;
      })
      .finally(() => this.loading.delete(objectKey));
    this.loading.set(objectKey, load);
    return load;
  }

  private put(objectKey: string, bytes: Buffer): void {
    if (this.options.cacheBytes <= 0 || bytes.length > this.options.cacheBytes) return;
    if (this.cache.has(objectKey)) return;
    this.cache.set(objectKey, bytes);
    this.cachedBytes += bytes.length;
    for (const [key, value] of this.cache) {
      if (this.cachedBytes <= this.options.cacheBytes) break;
      this.cache.delete(key);
      this.cachedBytes -= value.length;
    }
  }
}

interface Range {
  start: number;
  end: number;
  entries: IndexEntry[];
}

function coalesce(entries: IndexEntry[], gap: number): Range[] {
  const sorted = [...entries].sort((a, b) => a.byteOffset - b.byteOffset);
  const ranges: Range[] = [];
  for (const entry of sorted) {
    const last = ranges[ranges.length - 1];
    const end = entry.byteOffset + entry.byteLength;
    if (last && entry.byteOffset <= last.end + gap) {
      last.end = Math.max(last.end, end);
      last.entries.push(entry);
    } else {
      ranges.push({ start: entry.byteOffset, end, entries: [entry] });
    }
  }
  return ranges;
}
