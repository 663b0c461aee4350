/**
 * The history of a fault run: every operation a client of the cluster made, as Jepsen records it. An
 * operation is *invoked*, then completes as `ok` (a 2xx answer), `fail` (a definite refusal: a 4xx answer,
 * nothing happened) or `unknown` (a 5xx, a reset connection, a timeout: it may or may not have happened).
 * The checker (checker.ts) judges a history together with the final state read after faults stopped.
 */

/** One record as the workload writes it: `value` is unique in the whole run (`<requestId>#<i>`). */
export interface WrittenRecord {
  partition: number;
  key: string | null;
  value: string;
  /**
   * Sent as a tombstone (a null value; `value` still names it for the history). The checker lets a tombstone
   * disappear after its topic's `deleteRetentionMs`.
   */
  tombstone?: boolean;
}

/** One record as a read returned it. */
export interface ReadRecord {
  partition: number;
  offset: number;
  key: string | null;
  value: string;
}

interface OpBase {
  /** Unique, increasing in invocation order. */
  id: number;
  /** The client (logical process) that ran it: one client runs one operation at a time. */
  client: string;
  /** The instance the request went to. */
  instance: string;
  /** Wall-clock milliseconds (the test process's clock, never an instance's skewed one). */
  invokedAt: number;
  completedAt?: number;
  outcome?: 'ok' | 'fail' | 'unknown';
  /** The HTTP status, when there was an answer. */
  status?: number;
  /** The problem `code`, or the network error, when not ok. */
  error?: string;
}

export interface ProduceOp extends OpBase {
  type: 'produce';
  topic: string;
  /** Identifies the logical request; every retry of it (same Idempotency-Key or not) shares it. */
  requestId: string;
  /** 1 for the first try, 2 for the first retry… */
  attempt: number;
  idempotencyKey?: string;
  records: WrittenRecord[];
  /** On ok: the offset of each record, in request order. */
  offsets?: Array<{ partition: number; offset: number }>;
  /** On ok: `Idempotent-Replayed: true`. */
  replayed?: boolean;
}

export interface FetchOp extends OpBase {
  type: 'fetch';
  topic: string;
  partition: number;
  /** The offset asked for (a number; the workload never asks for earliest/latest). */
  offset: number;
  /** On ok. */
  records?: ReadRecord[];
  nextOffset?: number;
  highWatermark?: number;
  logStartOffset?: number;
}

export interface JoinOp extends OpBase {
  type: 'join';
  group: string;
  memberId: string;
  topics: string[];
  generation?: number;
  assignments?: Array<{ topic: string; partition: number }>;
}

export interface HeartbeatOp extends OpBase {
  type: 'heartbeat';
  group: string;
  memberId: string;
  generation?: number;
  assignments?: Array<{ topic: string; partition: number }>;
}

export interface MemberFetchOp extends OpBase {
  type: 'memberFetch';
  group: string;
  memberId: string;
  /** Whether the call carried `commit=true` (committing the positions of `committing`). */
  commit: boolean;
  /** What the cursor sent carries (as the client tracked it): the next offset per partition. */
  committing?: Array<{ topic: string; partition: number; offset: number }>;
  /** The generation of the answer whose cursor this call sent (default: the member's previous fetch answer's). */
  cursorGeneration?: number;
  generation?: number;
  records?: Array<ReadRecord & { topic: string }>;
}

export interface CommitOp extends OpBase {
  type: 'commit';
  group: string;
  memberId: string;
  generation: number;
  offsets: Array<{ topic: string; partition: number; offset: number }>;
}

/** A read of a group's committed offsets (describe). */
export interface OffsetsOp extends OpBase {
  type: 'offsets';
  group: string;
  committed?: Array<{ topic: string; partition: number; offset: number }>;
}

export interface AdminOp extends OpBase {
  type: 'admin';
  action: 'createTopic' | 'deleteTopic' | 'patchTopic' | 'maintenance';
  /** The topic, or the maintenance job. */
  target: string;
  body?: unknown;
  answer?: unknown;
}

export type Op = ProduceOp | FetchOp | JoinOp | HeartbeatOp | MemberFetchOp | CommitOp | OffsetsOp | AdminOp;

/** A fault the run injected, for the report around a violation. */
export interface FaultEvent {
  at: number;
  instance: string;
  what: string;
}

/** Records a run's operations and faults in memory (a run holds at most a few hundred thousand). */
export class History {
  readonly ops: Op[] = [];
  readonly faults: FaultEvent[] = [];
  private nextId = 1;

  /** Starts an operation; complete it with `ok`, `fail` or `unknown`. */
  invoke<T extends Op>(op: Omit<T, 'id' | 'invokedAt'>): T {
    const full = { ...op, id: this.nextId++, invokedAt: Date.now() } as T;
    this.ops.push(full);
    return full;
  }

  complete<T extends Op>(op: T, outcome: 'ok' | 'fail' | 'unknown', fields: Partial<T> = {}): T {
    Object.assign(op, fields, { outcome, completedAt: Date.now() });
    return op;
  }

  fault(instance: string, what: string): void {
    this.faults.push({ at: Date.now(), instance, what });
  }

  /** Operations and faults within `windowMs` of `at`, in time order, as text: the context of a violation. */
  around(at: number, windowMs = 2_000, max = 40): string {
    const lines: Array<[number, string]> = [];
    for (const op of this.ops) {
      const end = op.completedAt ?? Number.POSITIVE_INFINITY;
      if (end < at - windowMs || op.invokedAt > at + windowMs) continue;
      lines.push([op.invokedAt, describe(op)]);
    }
    for (const f of this.faults) {
      if (Math.abs(f.at - at) <= windowMs) lines.push([f.at, `FAULT ${f.instance}: ${f.what}`]);
    }
    // The `max` nearest to `at`, in time order.
    const nearest = lines.sort((a, b) => Math.abs(a[0] - at) - Math.abs(b[0] - at)).slice(0, max);
    nearest.sort((a, b) => a[0] - b[0]);
    const shown = nearest.map(([t, s]) => `${new Date(t).toISOString().slice(11, 23)} ${s}`);
    if (lines.length > max) shown.push(`… ${lines.length - max} more within ${windowMs} ms`);
    return shown.join('\n');
  }
}

/** One line for an operation, for reports. */
export function describe(op: Op): string {
  const head = `#${op.id} ${op.client}@${op.instance} ${op.type}`;
  const tail = `→ ${op.outcome ?? 'pending'}${op.status ? ` ${op.status}` : ''}${op.error ? ` ${op.error}` : ''}`;
  switch (op.type) {
    case 'produce':
      return `${head} ${op.topic} ${op.requestId} try ${op.attempt}${op.idempotencyKey ? ' (idem)' : ''} ${op.records.length} records ${tail}${op.offsets ? ` offsets ${op.offsets.map((o) => `${o.partition}:${o.offset}`).join(',')}` : ''}`;
    case 'fetch':
      return `${head} ${op.topic}/${op.partition}@${op.offset} ${tail}${op.records ? ` ${op.records.length} records hw ${op.highWatermark} next ${op.nextOffset}` : ''}`;
    case 'commit':
      return `${head} ${op.group} ${op.memberId} gen ${op.generation} ${op.offsets.map((o) => `${o.topic}/${o.partition}=${o.offset}`).join(',')} ${tail}`;
    case 'join':
    case 'heartbeat':
      return `${head} ${op.group} ${op.memberId} ${tail}${op.generation !== undefined ? ` gen ${op.generation} [${(op.assignments ?? []).map((a) => `${a.topic}/${a.partition}`).join(',')}]` : ''}`;
    case 'memberFetch':
      return `${head} ${op.group} ${op.memberId}${op.commit ? ' commit' : ''} ${tail}${op.records ? ` gen ${op.generation} ${op.records.length} records` : ''}`;
    case 'offsets':
      return `${head} ${op.group} ${tail}`;
    case 'admin':
      return `${head} ${op.action} ${op.target} ${tail}`;
  }
}

/** A whole partition as one instance read it after faults stopped (from its log start to its high watermark). */
export interface PartitionRead {
  logStartOffset: number;
  highWatermark: number;
  records: ReadRecord[];
  /** Set when the read failed (a 5xx: e.g. an index entry pointing to a missing object). */
  error?: string;
}

/** What the run reads once faults stopped and every instance is healthy: the input of the final checks. */
export interface FinalState {
  /** The topics that exist at the end, by name. */
  topics: Map<string, { partitions: number; cleanupPolicy: string; retentionMs?: number }>;
  /** Per instance name (warm instances, and at least one `cold` one started after the run): per `topic/partition`. */
  reads: Map<string, Map<string, PartitionRead>>;
  /** The group's committed offsets at the end, per group, per `topic/partition`. */
  committed: Map<string, Map<string, number>>;
  /**
   * Storage, read directly (S3 list, index scan), after a GC pass that ran more than its grace after the
   * last write: the objects in the bucket, and the object keys the index references.
   */
  storage?: { objects: string[]; referenced: string[] };
}

/** One broken invariant: its name (as in docs/ARCHITECTURE.md), what was seen, and when (for `around`). */
export interface Violation {
  invariant: string;
  message: string;
  at?: number;
  ops?: number[];
}
