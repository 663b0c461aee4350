import type { Clock } from '../clock.js';
import { type IndexEntry, type PartitionRef, partitionKey } from '../metadata/metadata-store.js';

export interface RecentEntriesOptions {
  /** Entries kept per partition (the newest). */
  maxPerPartition: number;
  /**
   * How long after its commit an entry is served from here (LogOptions.entryCacheTtlMs, a few seconds). A
   * maintenance pass on another instance may swap or remove an entry (key compaction), and this process
   * learns of it only through the index: so this is how late a change made elsewhere shows here
   * (docs/ARCHITECTURE.md §8). Passes run by this process forget the partition at once (`forget`).
   */
  ttlMs: number;
  /** Partitions remembered; past this many, everything is forgotten (a bound on memory). */
  maxPartitions?: number;
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
    if (!this.byPartition.has(key) && this.byPartition.size >= (this.options.maxPartitions ?? 10_000)) {
      this.byPartition.clear();
    }
    const list = this.byPartition.get(key) ?? [];
    const last = list[list.length - 1];
    // Keep only a contiguous chain: a gap means another writer committed in between.
    if (last && last.entry.lastOffset + 1 !== entry.baseOffset) list.length = 0;
    list.push({ entry, addedAt: this.clock.now() });
    if (list.length > this.options.maxPerPartition)
      list.splice(0, list.length - this.options.maxPerPartition);
    this.byPartition.set(key, list);
  }

  /** Forgets a partition's entries (a maintenance pass of this process changed its index). */
  forget(ref: PartitionRef): void {
    this.byPartition.delete(partitionKey(ref));
  }

  /** Forgets everything (a pass ran elsewhere on this instance's behalf, changing unknown partitions). */
  clear(): void {
    this.byPartition.clear();
  }

  /** Up to `limit` entries starting with the one whose baseOffset is `offset`, or undefined. */
  run(ref: PartitionRef, offset: number, limit: number): IndexEntry[] | undefined {
    return this.timedRun(ref, offset, limit)?.map((item) => item.entry);
  }

  /** As `run`, with when each entry was committed (added). */
  timedRun(
    ref: PartitionRef,
    offset: number,
    limit: number,
  ): Array<{ entry: IndexEntry; addedAt: number }> | undefined {
    const list = this.byPartition.get(partitionKey(ref));
    if (!list) return undefined;
    const start = list.findIndex((item) => item.entry.baseOffset === offset);
    if (start < 0) return undefined;
    const now = this.clock.now();
    const oldest = now - this.options.ttlMs;
    const run: Array<{ entry: IndexEntry; addedAt: number }> = [];
    for (let i = start; i < list.length && run.length < limit; i++) {
      const item = list[i];
      if (!item || item.addedAt < oldest || item.addedAt > now) break;
      run.push(item);
    }
    return run.length > 0 ? run : undefined;
  }
}
