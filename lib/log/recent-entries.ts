import type { Clock } from '../clock.js';
import { type IndexEntry, type PartitionRef, partitionKey } from '../metadata/metadata-store.js';

export interface RecentEntriesOptions {
  /** Entries kept per partition (the newest). */
  maxPerPartition: number;
  /**
   * How long an entry is served from here. Far below the time compaction and garbage collection give
   * readers before an object an entry points to may go (docs/ARCHITECTURE.md §8).
   */
  ttlMs: number;
}

/**
 * The index entries this process committed most recently, so that a reader tailing a partition in the
 * same server (the agent) finds the batches after its offset without a DynamoDB query. Committed entries
 * are immutable and form a chain, so a contiguous run of them starting exactly at the requested offset is
 * what DynamoDB would return. The high watermark is still read from DynamoDB on every fetch.
 */
export class RecentEntries {
  private readonly byPartition = new Map<string, Array<{ entry: IndexEntry; addedAt: number }>>();

  constructor(
    private readonly clock: Clock,
    private readonly options: RecentEntriesOptions,
  ) {}

  add(entry: IndexEntry): void {
    const key = partitionKey(entry);
    const list = this.byPartition.get(key) ?? [];
    const last = list[list.length - 1];
    // Keep only a contiguous chain: a gap means another writer committed in between.
    if (last && last.entry.lastOffset + 1 !== entry.baseOffset) list.length = 0;
    list.push({ entry, addedAt: this.clock.now() });
    if (list.length > this.options.maxPerPartition)
      list.splice(0, list.length - this.options.maxPerPartition);
    this.byPartition.set(key, list);
  }

  /** Up to `limit` entries starting with the one whose baseOffset is `offset`, or undefined. */
  run(ref: PartitionRef, offset: number, limit: number): IndexEntry[] | undefined {
    const list = this.byPartition.get(partitionKey(ref));
    if (!list) return undefined;
    const start = list.findIndex((item) => item.entry.baseOffset === offset);
    if (start < 0) return undefined;
    const oldest = this.clock.now() - this.options.ttlMs;
    const run: IndexEntry[] = [];
    for (let i = start; i < list.length && run.length < limit; i++) {
      const item = list[i];
      if (!item || item.addedAt < oldest) break;
      run.push(item.entry);
    }
    return run.length > 0 ? run : undefined;
  }
}
