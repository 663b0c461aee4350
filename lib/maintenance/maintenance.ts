import type { Clock } from '../clock.js';
import { type CrashPoint, type CrashPoints, NO_CRASH_POINTS } from '../crash-points.js';
import { SegmentReader } from '../log/segment-reader.js';
import { type CommitRecord, endOf, entryOf } from '../metadata/commit-record.js';
import {
  INDEX_KEY_REUSE_GUARD_MS,
  type IndexEntry,
  type IndexMark,
  type MetadataStore,
  partitionKey,
} from '../metadata/metadata-store.js';
import { type BatchInput, type DecodedBatch, encodeSegment } from '../segment/format.js';
import { newSegmentKey, SEGMENT_PREFIX, type SegmentStore } from '../storage/segment-store.js';
import type { Compression, Topic } from '../types.js';
import { type MaintenanceJob, type MaintenanceReport, ReportBuilder } from './report.js';

export interface MaintenanceOptions {
  /** Compactor: merge batches of objects smaller than this into per-partition objects of about this size. */
  targetObjectBytes: number;
  /** Compactor: leave batches committed less than this long ago alone (they are still being read hot). */
  minAgeMs: number;
  /**
   * GC: delete an unreferenced object only this long after a pass first saw it unreferenced. It must
   * exceed the longest produce (S3 put → commit) and the longest read (index read → S3 GET): both are
   * bounded by the 15-minute Lambda limit, so the default is 1 h.
   */
  gcGraceMs: number;
  /** Work budget of one pass: it stops starting new partitions after this many, or bytes, or time. */
  maxPartitionsPerRun: number;
  maxBytesPerRun: number;
  maxRunMs: number;
  compression: Compression;
}

export const DEFAULT_MAINTENANCE_OPTIONS: MaintenanceOptions = {
  targetObjectBytes: 8 * 1024 * 1024,
  minAgeMs: 5 * 60 * 1000,
  gcGraceMs: 60 * 60 * 1000,
  maxPartitionsPerRun: 2_000,
  maxBytesPerRun: 2 * 1024 * 1024 * 1024,
  maxRunMs: 10 * 60 * 1000,
  compression: 'none',
};

/** Hooks: where reports go, and (tests) a failure at a precise point to prove what a crash leaves behind. */
export interface MaintenanceHooks {
  /** After the compactor wrote its new object, before it swaps the index to it. */
  afterCompactedObjectWritten?: (objectKey: string) => Promise<void> | void;
  /** Where each pass's report goes; default: one JSON line on stdout (CloudWatch Logs in Lambda). */
  onReport?: (report: MaintenanceReport) => void;
}

/**
 * What a pass changed that a reader of this process may hold in a cache: a partition's index entries
 * (compaction swapped or removed some) or its log start (retention advanced it).
 */
export interface MaintenanceChange {
  topic: string;
  topicId: string;
  partition: number;
  what: 'entries' | 'logStartOffset';
}

/**
 * How long an indexing pass holds its claim on a topic's next range: far longer than indexing one range
 * takes (a few object reads and one put), short enough that a pass that died is taken over soon.
 */
const INDEX_CLAIM_MS = 2 * 60 * 1000;

/** Per-pass overrides: the admin endpoint's minAgeMs, and a shorter time budget for passes run in the API. */
export interface PassOverride {
  minAgeMs?: number | undefined;
  maxRunMs?: number | undefined;
}

/** Entries per index query when a job may stop reading early. */
const PAGE_ENTRIES = 100;

/** The end of the prefix of `entries` whose newest record is older than `cutoff` (at least `from`). */
function expiredPrefixEnd(entries: readonly IndexEntry[], cutoff: number, from: number): number {
  let end = from;
  for (const entry of entries) {
    if (entry.maxTimestamp >= cutoff) break;
    end = entry.lastOffset + 1;
  }
  return end;
}

/**
 * A partition's compaction mark: `<start>` or `<start>:<tail baseOffset>`, the second part present when the
 * pass that wrote it left nothing unsettled (then a pass with the same tail has nothing to do).
 */
function parseMark(stored: string | undefined): { start: number; quietAtTail?: number } {
  const [start, tail] = (stored ?? '0').split(':');
  return tail === undefined
    ? { start: Number(start) || 0 }
    : { start: Number(start) || 0, quietAtTail: Number(tail) };
}

function formatMark(start: number, quietAtTail: number | undefined): string {
  return quietAtTail === undefined ? String(start) : `${start}:${quietAtTail}`;
}

/** A pass records where it is every this many partitions (one small write each time). */
const SAVE_CURSOR_EVERY = 25;

/**
 * The three background jobs (docs/ARCHITECTURE.md §10): small-segment and key compaction, retention
 * (including the data of deleted topics), and garbage collection of unreferenced objects. Each pass does a
 * bounded amount of work, resumes where the previous pass stopped, and reports what it did.
 */
export class Maintenance {
  private readonly options: MaintenanceOptions;
  private readonly reader: SegmentReader;
  private readonly changeListeners: Array<(change: MaintenanceChange) => void> = [];
  private readonly crash: CrashPoints;

  constructor(
    private readonly deps: {
      store: SegmentStore;
      metadata: MetadataStore;
      clock: Clock;
      hooks?: MaintenanceHooks;
      crashPoints?: CrashPoints;
    },
    options: Partial<MaintenanceOptions> = {},
  ) {
    this.options = { ...DEFAULT_MAINTENANCE_OPTIONS, ...options };
    this.crash = deps.crashPoints ?? NO_CRASH_POINTS;
    // The compactor's own reader: whole objects up to 8 MiB in one GET, a small cache (a pass reads each
    // object about once).
    this.reader = new SegmentReader(deps.store, {
      wholeObjectMaxBytes: 8 * 1024 * 1024,
      cacheBytes: 64 * 1024 * 1024,
      coalesceGapBytes: 256 * 1024,
    });
  }

  /**
   * Calls `listener` right after each change a pass makes to a partition's index or log start, before the
   * pass goes on (so before it answers): the Log forgets what its caches hold of that partition, which
   * makes the change visible at once to every read this process serves (SPEC Maintenance).
   */
  onChange(listener: (change: MaintenanceChange) => void): void {
    this.changeListeners.push(listener);
  }

  private changed(topic: Topic, partition: number, what: MaintenanceChange['what']): void {
    for (const listener of this.changeListeners)
      listener({ topic: topic.name, topicId: topic.topicId, partition, what });
  }

  /** Runs one pass of `job` and writes its report as one structured log line (JSON). */
  /**
   * One pass of `job`. `override.maxRunMs` bounds this pass's work (the admin endpoint's 20 s, inside the
   * API function's timeout); `override.minAgeMs` applies to compaction only.
   */
  async run(job: MaintenanceJob, override: PassOverride = {}): Promise<MaintenanceReport> {
    const report =
      job === 'compact'
        ? await this.compact(override)
        : job === 'retention'
          ? await this.retention(override)
          : await this.gc(override);
    (this.deps.hooks?.onReport ?? logReport)(report);
    return report;
  }

  // ---- compaction -----------------------------------------------------------------------------------------

  /**
   * Merges consecutive small batches of a partition (from small or multi-partition objects) into one
   * per-partition object, and for topics with cleanupPolicy `compact` keeps only the latest record per key.
   * Offsets, keys, values, headers and timestamps are unchanged; each swap is one conditional transaction.
   */
  async compact(override: PassOverride = {}): Promise<MaintenanceReport> {
    const minAgeMs = override.minAgeMs ?? this.options.minAgeMs;
    const report = new ReportBuilder('compact', this.deps.clock.now());
    const deadline = this.deps.clock.now() + (override.maxRunMs ?? this.options.maxRunMs);
    // First the commit chains into per-partition entries (the indexed tier), then compaction over those.
    await this.indexChains(report, minAgeMs, deadline);
    const complete = await this.forEachPartition('compact', report, deadline, (topic, partition) =>
      this.compactPartition(topic, partition, report, minAgeMs, deadline),
    );
    return report.finish(this.deps.clock.now(), complete);
  }

  // ---- indexing ------------------------------------------------------------------------------------------

  /**
   * Turns each topic's commit records older than `minAgeMs` into per-partition index entries: the batches
   * of a partition across those records are merged into ONE batch (offsets, timestamps, keys, values and
   * headers unchanged) in one new object per topic, and each partition gets one index entry for it; then
   * the topic's mark moves past the records (docs/ARCHITECTURE.md §4.5). Records indexed long enough ago
   * are deleted (never the chain's newest).
   */
  private async indexChains(report: ReportBuilder, minAgeMs: number, deadline: number): Promise<void> {
    const { metadata, clock } = this.deps;
    for (const { name } of await metadata.listTopics()) {
      if (clock.now() > deadline) return;
      const topic = await metadata.getTopic(name, { consistent: true });
      report.itemsRead(1);
      if (!topic) continue;
      // A pass indexes at most its byte budget per topic; a backlog takes several ranges in one pass.
      // Only a range cut short by the byte budget is followed by another: a pass never chases records
      // committed while it runs (they wait for the next pass, and make larger batches there).
      let mark: IndexMark | undefined;
      for (let round = 0; round < 64 && clock.now() <= deadline; round++) {
        const range = await this.indexRange(topic, report, minAgeMs);
        mark = range.mark;
        if (!range.advanced || !range.full) break;
      }
      // Records go once indexed and once every reader's mark has passed them: readers use a mark for at
      // most 10 s (ARCHITECTURE §8), so the mark must have moved a minute ago, and an hour after their
      // commit (no writer can still hold the position before them, §4.4).
      if (mark && mark.seq >= 0 && mark.advancedAt !== undefined && clock.now() - mark.advancedAt >= 60_000) {
        const removed = await metadata.removeCommits(
          topic.topicId,
          mark.seq,
          clock.now() - INDEX_KEY_REUSE_GUARD_MS,
        );
        report.itemsWritten(removed);
        report.count('commitRecordsRemoved', removed);
      }
    }
  }

  /**
   * Indexes one range of `topic`'s chain. `advanced`: false when there was nothing (old enough) to index;
   * `mark`: the mark as read before.
   */
  private async indexRange(
    topic: Topic,
    report: ReportBuilder,
    minAgeMs: number,
  ): Promise<{ advanced: boolean; full: boolean; mark: IndexMark }> {
    const { metadata, store, clock } = this.deps;
    const mark = await metadata.getIndexMark(topic.topicId);
    report.indexItemsRead(1);
    const now = clock.now();
    const nothing = { advanced: false, full: false, mark };
    if (mark.pending && mark.pending.until >= now) return nothing; // another pass is indexing this topic
    // An expired claim is finished with its own target: the entries it may have written are that range's.
    const records: CommitRecord[] = [];
    let bytes = 0;
    let full = false;
    for await (const record of metadata.listCommits(
      topic.topicId,
      mark.seq,
      mark.pending?.seq ?? Number.MAX_SAFE_INTEGER - 1,
    )) {
      if (record.deleted) break;
      if (!mark.pending && now - record.createdAt < minAgeMs) break;
      records.push(record);
      bytes += record.batches.reduce((sum, b) => sum + b.byteLength, 0);
      if (!mark.pending && bytes >= this.options.targetObjectBytes) {
        full = true;
        break;
      }
    }
    report.indexItemsRead(records.length);
    const last = records[records.length - 1];
    if (!last) return nothing;
    const target = await metadata.claimIndexing(topic.topicId, mark, last.seq, now + INDEX_CLAIM_MS, now);
    report.itemsWritten(1);
    if (target === undefined) return nothing;

    // Every batch of the range, by partition, in offset order.
    const byPartition = new Map<number, IndexEntry[]>();
    for (const record of records) {
      for (const batch of record.batches) {
        const list = byPartition.get(batch.partition) ?? [];
        list.push(entryOf(record, batch));
        byPartition.set(batch.partition, list);
      }
    }
    const partitions = [...byPartition.keys()].sort((a, b) => a - b);
    const inputs: BatchInput[] = [];
    for (const partition of partitions) {
      const entries = byPartition.get(partition) as IndexEntry[];
      const batches = await this.reader.read(entries);
      report.current.batches.read += entries.length;
      report.objectsRead(entries.map((e) => e.objectKey));
      report.current.bytes.read += entries.reduce((sum, e) => sum + e.byteLength, 0);
      const first = entries[0] as IndexEntry;
      const lastEntry = entries[entries.length - 1] as IndexEntry;
      const merged: BatchInput = {
        topic: topic.name,
        topicId: topic.topicId,
        partition,
        records: [],
        offsetDeltas: [],
        lastOffsetDelta: lastEntry.lastOffset - first.baseOffset,
      };
      const deltas = merged.offsetDeltas as number[];
      entries.forEach((entry, i) => {
        const batch = batches[i];
        if (!batch) throw new Error(`batch ${entry.baseOffset} of ${topic.name}/${partition} was not read`);
        for (const record of batch.records) {
          merged.records.push(record);
          deltas.push(entry.baseOffset + record.offsetDelta - first.baseOffset);
        }
      });
      inputs.push(merged);
    }
    const encoded = await encodeSegment(inputs, { compression: this.options.compression });
    const objectKey = newSegmentKey(clock.now());
    await store.put(objectKey, encoded.bytes);
    report.current.objects.written += 1;
    report.current.bytes.written += encoded.bytes.length;
    await this.crash.reach('index.afterObjectWritten', objectKey);
    const indexed: IndexEntry[] = partitions.map((partition, i) => {
      const entries = byPartition.get(partition) as IndexEntry[];
      const first = entries[0] as IndexEntry;
      const lastEntry = entries[entries.length - 1] as IndexEntry;
      const location = encoded.batches[i];
      if (!location) throw new Error('encodeSegment returned fewer batches than it was given');
      return {
        topicId: topic.topicId,
        partition,
        baseOffset: first.baseOffset,
        lastOffset: lastEntry.lastOffset,
        recordCount: location.recordCount,
        objectKey,
        byteOffset: location.byteOffset,
        byteLength: location.byteLength,
        objectSize: encoded.bytes.length,
        firstTimestamp: location.firstTimestamp,
        maxTimestamp: location.maxTimestamp,
        maxTimestampSoFar: lastEntry.maxTimestampSoFar,
        createdAt: lastEntry.createdAt,
      };
    });
    await metadata.putIndexEntries(indexed);
    report.itemsWritten(indexed.length);
    report.current.batches.written += indexed.length;
    report.count('batchesIndexed', indexed.length);
    await this.crash.reach('index.afterEntries', topic.topicId);
    const advanced = await metadata.advanceIndexMark(
      topic.topicId,
      mark.seq,
      {
        seq: target,
        ends: (records[records.length - 1] as CommitRecord).ends,
      },
      clock.now(),
    );
    report.itemsWritten(1);
    if (advanced) report.count('commitRecordsIndexed', records.length);
    return { advanced, full, mark };
  }

  private async compactPartition(
    topic: Topic,
    partition: number,
    report: ReportBuilder,
    minAgeMs: number,
    deadline: number,
  ): Promise<number> {
    const { metadata, store, clock } = this.deps;
    const ref = { topicId: topic.topicId, partition };
    const logStartOffset = topic.logStartOffsets[partition] ?? 0;
    const config = topic.config;
    const keyed = config.cleanupPolicy.includes('compact');
    // Below the partition's mark every batch is settled (no later pass would rewrite it), so small-segment
    // compaction lists only from there: a pass over a quiet log reads almost nothing. Key compaction needs
    // every key, so it always reads the whole partition.
    const markJob = `compact-mark:${partitionKey(ref)}`;
    const stored = keyed ? undefined : await metadata.getMaintenanceCursor(markJob);
    if (!keyed) report.itemsRead(1);
    const saved = parseMark(stored);
    const mark = saved.start;
    if (saved.quietAtTail !== undefined) {
      // The last pass found nothing young and swapped everything it tried: if no batch arrived since,
      // there is nothing to do, and one tail read says so.
      const current = await metadata.getTail(ref);
      report.indexItemsRead(1);
      if (!current || current.baseOffset === saved.quietAtTail) return 0;
    }
    const entries: IndexEntry[] = [];
    for await (const entry of metadata.listEntries(ref, Math.max(logStartOffset, mark))) entries.push(entry);
    report.indexItemsRead(entries.length);
    if (entries.length === 0) return 0;
    const now = clock.now();
    const tail = entries[entries.length - 1] as IndexEntry;
    let bytesRead = 0;

    // Key compaction needs the latest offset of every key in the partition.
    const decoded = new Map<number, DecodedBatch>();
    const read = async (list: readonly IndexEntry[]) => {
      const missing = list.filter((e) => !decoded.has(e.baseOffset));
      if (missing.length === 0) return;
      const batches = await this.reader.read(missing);
      missing.forEach((e, i) => {
        const batch = batches[i];
        if (batch) decoded.set(e.baseOffset, batch);
      });
      report.current.batches.read += missing.length;
      report.objectsRead(missing.map((e) => e.objectKey));
      const bytes = missing.reduce((sum, e) => sum + e.byteLength, 0);
      report.current.bytes.read += bytes;
      bytesRead += bytes;
    };
    const latest = new Map<string, number>();
    if (keyed) {
      await read(entries);
      for (const entry of entries) {
        for (const record of decoded.get(entry.baseOffset)?.records ?? []) {
          if (record.key !== null)
            latest.set(record.key.toString('latin1'), entry.baseOffset + record.offsetDelta);
        }
      }
    }

    const oldEnough = (e: IndexEntry) =>
      now - e.createdAt >= minAgeMs &&
      (!keyed ||
        (now - e.createdAt >= config.minCompactionLagMs &&
          now - e.maxTimestamp >= config.minCompactionLagMs));
    // Batches still in the (multi-partition) object they were produced in, and batches in compaction
    // outputs under half the target size, are merged; an output that reached half the target is done, so
    // a moving log start or a new batch never makes a pass rewrite it again.
    // Batches still only in the commit chain (not indexed yet) are left to a later pass.
    const indexed = (e: IndexEntry) => e.seq === undefined;
    const candidate = (e: IndexEntry) =>
      indexed(e) &&
      oldEnough(e) &&
      (keyed || e.originObjectKey === undefined || e.objectSize < this.options.targetObjectBytes / 2);

    // Runs of consecutive candidates, each at most the target size. The run that reaches the young
    // batches (or the end) may still grow, so the new mark is its start, or the first young batch.
    const runs: IndexEntry[][] = [];
    let run: IndexEntry[] = [];
    let runBytes = 0;
    let newMark: number | undefined;
    // Young batches, a pass cut short, or a swap partly lost: the next pass must look again.
    let unsettled = false;
    for (const entry of entries) {
      if (!candidate(entry)) {
        const young = !oldEnough(entry) || !indexed(entry);
        if (young) unsettled = true;
        if (young && newMark === undefined) newMark = run[0]?.baseOffset ?? entry.baseOffset;
        if (run.length > 0) runs.push(run);
        run = [];
        runBytes = 0;
        continue;
      }
      if (run.length > 0 && runBytes + entry.byteLength > this.options.targetObjectBytes) {
        runs.push(run);
        run = [];
        runBytes = 0;
      }
      run.push(entry);
      runBytes += entry.byteLength;
    }
    if (run.length > 0) runs.push(run);
    newMark ??= run[0]?.baseOffset ?? tail.lastOffset + 1;

    for (const group of runs) {
      // A huge partition must not carry the pass past its deadline: the rest waits for the next pass.
      if (clock.now() > deadline) {
        newMark = Math.min(newMark, group[0]?.baseOffset ?? newMark);
        unsettled = true;
        break;
      }
      // Without key compaction, a run already in one object has nothing to gain: skip it unread.
      if (!keyed && new Set(group.map((e) => e.objectKey)).size < 2) continue;
      await read(group);
      const kept: Array<{ entry: IndexEntry; input: BatchInput }> = [];
      const emptied: IndexEntry[] = [];
      let dropped = 0;
      for (const entry of group) {
        const batch = decoded.get(entry.baseOffset);
        if (!batch) throw new Error(`batch ${entry.baseOffset} of ${topic.name}/${partition} was not read`);
        const records = batch.records.filter((r) => {
          if (!keyed || r.key === null) return true;
          const offset = entry.baseOffset + r.offsetDelta;
          if (latest.get(r.key.toString('latin1')) !== offset) return false; // superseded by a later record
          // A tombstone is the latest for its key; it goes once it is older than deleteRetentionMs.
          return !(r.value === null && now - entry.createdAt > config.deleteRetentionMs);
        });
        dropped += batch.records.length - records.length;
        if (records.length === 0) {
          emptied.push(entry);
          continue;
        }
        kept.push({
          entry,
          input: {
            topic: batch.topic,
            topicId: batch.topicId,
            partition: batch.partition,
            records,
            offsetDeltas: records.map((r) => r.offsetDelta),
            lastOffsetDelta: batch.lastOffsetDelta,
          },
        });
      }
      // An emptied entry is removed only once its key may be deleted (§4.4).
      const removable = emptied.filter((e) => e.createdAt < now - INDEX_KEY_REUSE_GUARD_MS);
      for (const e of emptied) {
        if (removable.includes(e)) continue;
        // Its key must stay a while (§4.4): it stays as an empty batch spanning the same offsets.
        const batch = decoded.get(e.baseOffset) as DecodedBatch;
        kept.push({
          entry: e,
          input: {
            topic: batch.topic,
            topicId: batch.topicId,
            partition: batch.partition,
            records: [],
            lastOffsetDelta: batch.lastOffsetDelta,
            timestamps: { first: batch.firstTimestamp, max: batch.maxTimestamp },
          },
        });
      }
      kept.sort((a, b) => a.entry.baseOffset - b.entry.baseOffset);
      const objects = new Set(group.map((e) => e.objectKey)).size;
      if (objects < 2 && dropped === 0) continue; // nothing to gain
      if (kept.length === 0 && removable.length === 0) continue;

      let replace: Array<{ old: IndexEntry; next: IndexEntry }> = [];
      if (kept.length > 0) {
        const encoded = await encodeSegment(
          kept.map((k) => k.input),
          { compression: this.options.compression },
        );
        const objectKey = newSegmentKey(clock.now());
        await store.put(objectKey, encoded.bytes);
        report.current.objects.written += 1;
        report.current.bytes.written += encoded.bytes.length;
        await this.deps.hooks?.afterCompactedObjectWritten?.(objectKey);
        await this.crash.reach(
          keyed ? 'keyCompact.afterObjectWritten' : 'compact.afterObjectWritten',
          objectKey,
        );
        replace = kept.map(({ entry, input }, i) => {
          const location = encoded.batches[i];
          if (!location) throw new Error('encodeSegment returned fewer batches than it was given');
          return {
            old: entry,
            next: {
              ...entry,
              recordCount: input.records.length,
              objectKey,
              byteOffset: location.byteOffset,
              byteLength: location.byteLength,
              objectSize: encoded.bytes.length,
              originObjectKey: entry.originObjectKey ?? entry.objectKey,
            },
          };
        });
      }
      // Each entry is swapped by its own conditional put: a partial swap (another compactor or retention
      // won some entries) is safe, as both objects hold the same records; the loser's object, wholly or
      // partly unreferenced, is left to GC. One write unit per entry, half a transaction's price.
      let replaced: number;
      let removed: number;
      try {
        replaced = await metadata.replaceEntries(replace);
        report.itemsWritten(replace.length);
        await this.crash.reach(keyed ? 'keyCompact.afterSwap' : 'compact.afterSwap', partitionKey(ref));
        removed = await metadata.removeEntries(removable, now - INDEX_KEY_REUSE_GUARD_MS);
        report.itemsWritten(removable.length);
      } finally {
        // Even a swap that failed half way may have changed entries.
        this.changed(topic, partition, 'entries');
      }
      if (replaced < replace.length || removed < removable.length) {
        report.count('swapsLost');
        unsettled = true;
      }
      report.current.batches.written += replaced;
      report.current.batches.deleted += removed;
      report.count('recordsDropped', dropped);
      report.count('runsCompacted');
    }
    const next = formatMark(Math.max(newMark, mark), unsettled ? undefined : tail.baseOffset);
    if (!keyed && next !== stored) {
      await metadata.setMaintenanceCursor(markJob, next);
      report.itemsWritten(1);
    }
    return bytesRead;
  }

  // ---- retention ------------------------------------------------------------------------------------------

  /**
   * Advances each partition's logStartOffset past whole batches older than retentionMs (newest record
   * timestamp) or beyond retentionBytes (oldest first), then removes index entries below it once their
   * keys are old enough to delete (§4.4). Also removes the data of deleted topics.
   */
  async retention(override: PassOverride = {}): Promise<MaintenanceReport> {
    const report = new ReportBuilder('retention', this.deps.clock.now());
    const deadline = this.deps.clock.now() + (override.maxRunMs ?? this.options.maxRunMs);
    const complete = await this.forEachPartition('retention', report, deadline, (topic, partition) =>
      this.retainPartition(topic, partition, report),
    );
    await this.removeDeletedTopics(report);
    return report.finish(this.deps.clock.now(), complete);
  }

  private async retainPartition(topic: Topic, partition: number, report: ReportBuilder): Promise<number> {
    const { metadata, clock } = this.deps;
    const config = topic.config;
    if (!config.cleanupPolicy.includes('delete')) return 0;
    const ref = { topicId: topic.topicId, partition };
    const logStartOffset = topic.logStartOffsets[partition] ?? 0;
    const head = await metadata.getHead(topic.topicId);
    report.indexItemsRead(1);
    if (endOf(head.ends, partition).nextOffset === 0) return 0;
    const now = clock.now();

    // Reads only what it needs, in small pages: from the log start up to the first batch young enough to
    // keep (time), or the whole live range when a byte limit applies (it needs the total size).
    let start = logStartOffset;
    if (config.retentionBytes >= 0) {
      const live: IndexEntry[] = [];
      for await (const entry of this.pages(ref, logStartOffset, report)) live.push(entry);
      if (config.retentionMs >= 0) start = expiredPrefixEnd(live, now - config.retentionMs, start);
      let size = live.reduce((sum, e) => sum + e.byteLength, 0);
      for (const entry of live) {
        if (size - entry.byteLength < config.retentionBytes) break;
        size -= entry.byteLength;
        start = Math.max(start, entry.lastOffset + 1);
      }
    } else if (config.retentionMs >= 0) {
      for await (const entry of this.pages(ref, logStartOffset, report)) {
        if (entry.maxTimestamp >= now - config.retentionMs) break;
        start = entry.lastOffset + 1;
      }
    }
    if (start > logStartOffset) {
      try {
        if (await metadata.advanceLogStartOffset(topic.name, topic.topicId, partition, start)) {
          report.itemsWritten(1);
          report.count('logStartOffsetsAdvanced');
        }
      } finally {
        // Also when a racing pass advanced it first: the log start this process may hold is older still.
        this.changed(topic, partition, 'logStartOffset');
      }
      await this.crash.reach('retention.afterLogStart', partitionKey(ref));
    }

    // Entries wholly below the log start go, except keys too young to delete (commit times
    // grow with offsets, so the listing stops at the first entry too young).
    const cutoff = now - INDEX_KEY_REUSE_GUARD_MS;
    const expired: IndexEntry[] = [];
    for await (const entry of this.pages(ref, 0, report)) {
      if (
        entry.lastOffset >= start ||
        entry.createdAt >= cutoff ||
        entry.seq !== undefined // still in the commit chain: it goes with the chain's records
      )
        break;
      expired.push(entry);
    }
    const removed = await this.removeInSteps(expired, cutoff, 'retention.betweenDeletes');
    report.itemsWritten(expired.length);
    report.current.batches.deleted += removed;
    report.current.bytes.deleted += expired.slice(0, removed).reduce((sum, e) => sum + e.byteLength, 0);
    return 0;
  }

  /**
   * Removes `entries` (in offset order): the lowest first, then the others at once, with the crash point
   * `between` in between, so that a crash there leaves the lowest gone and the rest (a suffix) in place.
   */
  private async removeInSteps(
    entries: readonly IndexEntry[],
    removableBefore: number,
    between: CrashPoint,
  ): Promise<number> {
    const { metadata } = this.deps;
    const [first, ...rest] = entries;
    if (!first) return 0;
    const removed = await metadata.removeEntries([first], removableBefore);
    if (rest.length === 0) return removed;
    await this.crash.reach(between, partitionKey(first));
    return removed + (await metadata.removeEntries(rest, removableBefore));
  }

  /** A partition's entries from `offset`, 100 per strongly consistent query, so a caller may stop early. */
  private async *pages(
    ref: { topicId: string; partition: number },
    offset: number,
    report: ReportBuilder,
  ): AsyncIterable<IndexEntry> {
    let next = offset;
    for (;;) {
      const page = await this.deps.metadata.findEntries(ref, next, PAGE_ENTRIES);
      report.indexItemsRead(page.length);
      for (const entry of page) yield entry;
      const last = page[page.length - 1];
      if (!last || page.length < PAGE_ENTRIES) return;
      next = last.lastOffset + 1;
    }
  }

  /** A deleted incarnation's index goes once no writer from before the deletion can still be running. */
  private async removeDeletedTopics(report: ReportBuilder): Promise<void> {
    const { metadata, clock } = this.deps;
    const now = clock.now();
    const cutoff = now - INDEX_KEY_REUSE_GUARD_MS;
    for (const deleted of await metadata.listDeletedTopics()) {
      if (deleted.deletedAt >= cutoff) continue;
      let remaining = 0;
      for (let partition = 0; partition < deleted.partitions; partition++) {
        const entries: IndexEntry[] = [];
        for await (const entry of metadata.listEntries({ topicId: deleted.topicId, partition }, 0))
          if (entry.seq === undefined) entries.push(entry);
        report.indexItemsRead(entries.length);
        const removed = await this.removeInSteps(entries, cutoff, 'deletedTopic.betweenDeletes');
        report.itemsWritten(entries.length);
        report.current.batches.deleted += removed;
        remaining += entries.length - removed;
      }
      if (remaining === 0) {
        // Then its commit chain (records and mark): no writer from before the deletion is still running.
        const records = await metadata.removeChain(deleted.topicId);
        report.itemsWritten(records);
        await this.crash.reach('deletedTopic.beforeForget', deleted.topicId);
        await metadata.forgetDeletedTopic(deleted.topicId);
        report.itemsWritten(1);
        report.count('deletedTopicsRemoved');
      }
    }
  }

  // ---- garbage collection ---------------------------------------------------------------------------------

  /**
   * Mark and sweep: every object the index does not reference becomes a candidate the first time a pass
   * sees it so, and is deleted by the first pass at least gcGraceMs later that still finds it unreferenced.
   * An object referenced again (a produce's late commit) stops being a candidate.
   */
  async gc(override: PassOverride = {}): Promise<MaintenanceReport> {
    const { metadata, store, clock } = this.deps;
    const report = new ReportBuilder('gc', clock.now());
    // The index first, then the objects: an object created after the scan began is either referenced by
    // an item the scan saw, or becomes a candidate now and is judged again a grace period later.
    const { objects: referenced, itemsRead } = await metadata.scanReferencedObjects();
    report.indexItemsRead(itemsRead, true);
    const candidates = await metadata.listGcCandidates();
    report.itemsRead(Math.ceil(candidates.size / 40) || 1);
    const now = clock.now();
    const toMark: string[] = [];
    const toClear: string[] = [];
    const toDelete: Array<{ key: string; size: number }> = [];
    const listed = new Set<string>();
    const deadline = report.current.startedAt + (override.maxRunMs ?? this.options.maxRunMs);
    let complete = true;
    for await (const object of store.list(SEGMENT_PREFIX)) {
      listed.add(object.key);
      report.current.objects.read += 1;
      if (referenced.has(object.key)) {
        if (candidates.has(object.key)) toClear.push(object.key);
        continue;
      }
      const firstSeen = candidates.get(object.key);
      if (firstSeen === undefined) toMark.push(object.key);
      else if (now - firstSeen >= this.options.gcGraceMs)
        toDelete.push({ key: object.key, size: object.size });
      if (toDelete.length >= 10_000 || clock.now() > deadline) {
        complete = false;
        break;
      }
    }
    if (complete) {
      // Candidates whose object is gone (deleted by an earlier pass that crashed before clearing them).
      for (const key of candidates.keys()) if (!listed.has(key)) toClear.push(key);
    }
    await metadata.markGcCandidates(toMark, now);
    report.itemsWritten(toMark.length);
    report.count('orphansMarked', toMark.length);
    await this.crash.reach('gc.afterMark', `${toMark.length} marked, ${toDelete.length} to delete`);
    // The first object alone, then the rest in batches of 1,000 (a crash between leaves some deleted).
    const [firstDeletion, ...otherDeletions] = toDelete.map((d) => d.key);
    if (firstDeletion !== undefined) {
      await store.delete([firstDeletion]);
      if (otherDeletions.length > 0) await this.crash.reach('gc.betweenDeletes', firstDeletion);
    }
    for (let i = 0; i < otherDeletions.length; i += 1000) {
      await store.delete(otherDeletions.slice(i, i + 1000));
    }
    if (toDelete.length > 0) await this.crash.reach('gc.afterDelete', `${toDelete.length} deleted`);
    report.current.objects.deleted += toDelete.length;
    report.current.bytes.deleted += toDelete.reduce((sum, d) => sum + d.size, 0);
    await metadata.clearGcCandidates([...toClear, ...toDelete.map((d) => d.key)]);
    report.itemsWritten(toClear.length + toDelete.length);
    report.count('referenced', referenced.size);
    return report.finish(clock.now(), complete);
  }

  // ---- work partitioning ----------------------------------------------------------------------------------

  /**
   * Visits partitions (topics by name, partitions in order), starting after where the last pass of `job`
   * stopped, until the work budget runs out; records where it stopped. Returns whether the pass got through
   * every partition (the next pass then starts from the beginning).
   */
  private async forEachPartition(
    job: MaintenanceJob,
    report: ReportBuilder,
    deadline: number,
    visit: (topic: Topic, partition: number) => Promise<number>,
  ): Promise<boolean> {
    const { metadata, clock } = this.deps;
    const cursor = await metadata.getMaintenanceCursor(job);
    report.itemsRead(1);
    const names = (await metadata.listTopics()).map((t) => t.name).sort();
    report.indexItemsRead(names.length);
    let bytes = 0;
    let stoppedAt: string | undefined;
    for (const name of names) {
      const topic = await metadata.getTopic(name, { consistent: true });
      report.itemsRead(1);
      if (!topic) continue;
      for (let partition = 0; partition < topic.partitions; partition++) {
        const position = positionOf(name, partition);
        if (cursor !== undefined && position <= cursor) continue;
        const spent =
          report.current.partitions >= this.options.maxPartitionsPerRun ||
          bytes >= this.options.maxBytesPerRun ||
          clock.now() > deadline;
        if (spent) {
          await metadata.setMaintenanceCursor(job, stoppedAt ?? cursor);
          report.itemsWritten(1);
          return false;
        }
        bytes += await visit(topic, partition);
        report.current.partitions += 1;
        stoppedAt = position;
        // Saved now and then, so that a pass killed by a timeout does not start over.
        if (report.current.partitions % SAVE_CURSOR_EVERY === 0) {
          await metadata.setMaintenanceCursor(job, stoppedAt);
          report.itemsWritten(1);
        }
      }
    }
    if (cursor !== undefined || report.current.partitions >= SAVE_CURSOR_EVERY) {
      await metadata.setMaintenanceCursor(job, undefined);
      report.itemsWritten(1);
    }
    return true;
  }
}

function logReport(report: MaintenanceReport): void {
  console.log(JSON.stringify({ level: 'info', event: 'sluice.maintenance', ...report }));
}

/** A sortable position: topic name, then the partition zero-padded (names cannot contain NUL). */
function positionOf(name: string, partition: number): string {
  return `${name}\u0000${String(partition).padStart(5, '0')}`;
}
