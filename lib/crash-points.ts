/**
 * Named crash points: the steps of the write path and of the maintenance jobs between which a process may
 * die (docs/ARCHITECTURE.md §4.6). Production passes none; the fault suite (test/faults) passes an
 * implementation that may kill the process (SIGKILL itself) at a point, to prove what each step leaves
 * behind. `reach` may also throw, which tests use to stop a path at a point without killing the process.
 */
export const CRASH_POINTS = [
  /** The flush's segment object is in the store; no commit attempt has started. */
  'produce.afterSegmentPut',
  /** A produce call's records are committed; it has not answered yet. */
  'produce.afterCommit',
  /** An Idempotency-Key is claimed for this attempt; the segment put has not started. */
  'idempotency.afterClaim',
  /** Before each commit attempt of a topic's record (first try and every retry). */
  'commit.beforeAttempt',
  /** A commit attempt failed ambiguously (it may have landed); before the decision to retry. */
  'commit.afterAmbiguousFailure',
  /** Indexing wrote the merged object of a chain range; no index entry for it yet (an orphan for GC). */
  'index.afterObjectWritten',
  /** Indexing wrote the range's index entries; the topic's mark has not moved past the range yet. */
  'index.afterEntries',
  /** The compactor's new object is written; the index still points to the old objects. */
  'compact.afterObjectWritten',
  /** The index swap of a run is done; emptied entries are not removed yet, the mark not updated. */
  'compact.afterSwap',
  /** Key compaction's new object is written; the index still points to the old objects. */
  'keyCompact.afterObjectWritten',
  /** Key compaction's swap is done; emptied entries are not removed yet. */
  'keyCompact.afterSwap',
  /** Retention advanced a partition's log start; no index entry below it is deleted yet. */
  'retention.afterLogStart',
  /** Retention deleted the lowest expired index entry of a partition, not the others yet. */
  'retention.betweenDeletes',
  /** Deleted-topic cleanup deleted one entry of a dead incarnation's partition, not the others yet. */
  'deletedTopic.betweenDeletes',
  /** A dead incarnation's entries are all deleted; its deleted-topic record is not forgotten yet. */
  'deletedTopic.beforeForget',
  /** GC recorded its new candidates; it has deleted nothing yet. */
  'gc.afterMark',
  /** GC deleted the first object of the pass, not the others yet. */
  'gc.betweenDeletes',
  /** GC deleted its objects; their candidate records are not cleared yet. */
  'gc.afterDelete',
  /** A topic's delete (topic item gone and deleted-topic record written, one transaction) has not answered. */
  'topic.afterDelete',
] as const;

export type CrashPoint = (typeof CRASH_POINTS)[number];

export interface CrashPoints {
  /** Called when a path reaches `point`; `detail` names what it is at (an object key, a partition). */
  reach(point: CrashPoint, detail?: string): void | Promise<void>;
}

/** Production: no crash points. */
export const NO_CRASH_POINTS: CrashPoints = { reach: () => undefined };
