/**
 * The history checker: judges a fault run's history (history.ts) together with the final state read after
 * faults stopped, against SPEC §1 and the storage invariants. Each invariant is one exported function
 * (`checkAcknowledgedNotLost`, …) returning the violations it found, named as in docs/ARCHITECTURE.md;
 * `checkHistory` runs them all (or `options.invariants`), `formatViolations` prints them with the minimal
 * history around each.
 *
 * Terms used throughout:
 * - outcome `ok` = a 2xx answer; `fail` = a definite 4xx (not applied); `unknown` (or no outcome yet) = may or
 *   may not have been applied.
 * - every written record's value is unique in a run (`<requestId>#<i>`), so a record read back maps to its
 *   request through the value.
 * - incarnations: a topic's deletion window is a `deleteTopic` op (ok, or unknown and followed by an ok
 *   `createTopic`), from its invocation to its answer. An op belongs to epoch k (the k-th incarnation) when it
 *   lies between windows k-1 and k; an op overlapping a window belongs to none and is not compared across ops.
 *   The final reads are the last epoch. Records of requests invoked before the last deletion answered must
 *   never show in the final reads.
 * - all indexes are Maps keyed by caller strings (topic, key, value, group, member are data).
 */
import type {
  AdminOp,
  CommitOp,
  FetchOp,
  FinalState,
  HeartbeatOp,
  History,
  JoinOp,
  MemberFetchOp,
  OffsetsOp,
  Op,
  PartitionRead,
  ProduceOp,
  ReadRecord,
  Violation,
  WrittenRecord,
} from './history.js';

/** What a topic was allowed to do during the run. */
export interface TopicCheckOptions {
  /** Key compaction ran: gaps are allowed, a record may be superseded by a later one with the same key. */
  compacted?: boolean;
  /**
   * Retention ran: the log start may advance over records older than `retentionMs` at the last retention
   * pass (`lastPassAt`, test clock; default: the last `maintenance retention` admin op's answer, else
   * `quiescedAt`).
   */
  retention?: { retentionMs: number; lastPassAt?: number };
  /** Tombstones (records written with `tombstone: true`) may disappear after `deleteRetentionMs`. */
  tombstones?: { deleteRetentionMs: number; lastCompactionAt?: number };
}

export interface CheckOptions {
  /** Per topic, what it was allowed to do (absent: plain `delete` topic, no retention, no key compaction). */
  topics?: Map<string, TopicCheckOptions>;
  /** Topics deleted without a recorded op (e.g. by the scenario's cleanup): their records are not checked. */
  deletedTopics?: string[];
  /** When fault injection stopped (test clock). */
  faultsStoppedAt: number;
  /** From when every operation must complete (faults stopped and every instance is healthy again). */
  quiescedAt: number;
  /** Statuses or problem codes a scenario expects as definite failures after `quiescedAt` (liveness). */
  expectedFailures?: Array<number | string>;
  /** Per group, per `topic/partition`: the offset the group started consuming from (at-least-once). */
  groupStart?: Map<string, Map<string, number>>;
  /** Tolerance for instances' skewed clocks when judging record ages (retention). Default 0. */
  clockSkewMs?: number;
  /** Liveness also requires every group's final committed offset to equal the high watermark (lag 0). */
  expectZeroLag?: boolean;
  /**
   * How long after a topic's deletion answered a read may still be served from another instance's topic
   * cache (either incarnation); default 2 s (the 1 s cache and a margin).
   */
  topicStalenessMs?: number;
  /** Run only these invariants (names as in INVARIANTS); default: all. */
  invariants?: string[];
}

type Checker = (history: History, final: FinalState, options: CheckOptions) => Violation[];

const MAX_EXAMPLES = 5;

// ---------------------------------------------------------------------------------------------------------
// Context: the indexes every invariant shares, built once per (history, final, options).
// ---------------------------------------------------------------------------------------------------------

interface Window {
  from: number;
  to: number;
}

/** One record seen somewhere: an ack, a fetch answer, a member fetch answer, or a final read. */
interface Seen {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: string;
  epoch: number;
  source: string;
  op?: Op;
}

interface Location {
  pk: string;
  offset: number;
}

interface Origin {
  requestId: string;
  index: number;
  record: WrittenRecord;
}

class Context {
  readonly produces: ProduceOp[] = [];
  readonly fetches: FetchOp[] = [];
  readonly memberFetches: MemberFetchOp[] = [];
  readonly requests = new Map<string, ProduceOp[]>();
  readonly origins = new Map<string, Origin>();
  readonly windows = new Map<string, Window[]>();
  /** Per instance, per `topic/partition`: offset → record. */
  readonly readIndex = new Map<string, Map<string, Map<number, ReadRecord>>>();
  /** Per instance: value → where it is. */
  readonly valueIndex = new Map<string, Map<string, Location[]>>();
  /** Per instance, per `topic/partition`: key → highest offset holding it. */
  readonly maxOffsetByKey = new Map<string, Map<string, Map<string, number>>>();
  /** All instances' final reads merged (first instance wins; disagreements are instances-agree's). */
  readonly merged = new Map<string, Map<number, ReadRecord>>();
  readonly mergedHw = new Map<string, number>();
  private readonly memos = new Map<string, unknown>();
  private cachedSeen?: Seen[];
  private cachedKnown?: Map<string, Map<number, Seen>>;
  private readonly ignored: Set<string>;

  constructor(
    readonly history: History,
    readonly final: FinalState,
    readonly options: CheckOptions,
  ) {
    this.ignored = new Set(options.deletedTopics ?? []);
    for (const op of history.ops) this.indexOp(op);
    this.indexDeletions(history.ops);
    for (const [instance, reads] of final.reads) this.indexReads(instance, reads);
  }

  private indexOp(op: Op): void {
    if (op.type === 'produce') {
      this.produces.push(op);
      const attempts = this.requests.get(op.requestId) ?? [];
      attempts.push(op);
      this.requests.set(op.requestId, attempts);
      op.records.forEach((record, index) => {
        if (!this.origins.has(record.value))
          this.origins.set(record.value, { requestId: op.requestId, index, record });
      });
    } else if (op.type === 'fetch') {
      this.fetches.push(op);
    } else if (op.type === 'memberFetch') {
      this.memberFetches.push(op);
    }
  }

  private indexDeletions(ops: Op[]): void {
    const admin = ops.filter((op): op is AdminOp => op.type === 'admin');
    for (const del of admin) {
      if (del.action !== 'deleteTopic' || del.outcome === 'fail') continue;
      const applied =
        del.outcome === 'ok' ||
        admin.some(
          (c) =>
            c.action === 'createTopic' &&
            c.target === del.target &&
            c.outcome === 'ok' &&
            c.invokedAt > del.invokedAt,
        );
      if (!applied) continue;
      const list = this.windows.get(del.target) ?? [];
      list.push({ from: del.invokedAt, to: del.completedAt ?? Number.POSITIVE_INFINITY });
      this.windows.set(del.target, list);
    }
    for (const list of this.windows.values()) list.sort((a, b) => a.to - b.to);
  }

  private indexReads(instance: string, reads: Map<string, PartitionRead>): void {
    const byPk = new Map<string, Map<number, ReadRecord>>();
    const byValue = new Map<string, Location[]>();
    const byKey = new Map<string, Map<string, number>>();
    for (const [pk, read] of reads) {
      const offsets = new Map<number, ReadRecord>();
      const keys = new Map<string, number>();
      const merged = this.merged.get(pk) ?? new Map<number, ReadRecord>();
      for (const r of read.records) {
        offsets.set(r.offset, r);
        if (!merged.has(r.offset)) merged.set(r.offset, r);
        const locations = byValue.get(r.value) ?? [];
        locations.push({ pk, offset: r.offset });
        byValue.set(r.value, locations);
        if (r.key !== null && (keys.get(r.key) ?? -1) < r.offset) keys.set(r.key, r.offset);
      }
      byPk.set(pk, offsets);
      byKey.set(pk, keys);
      this.merged.set(pk, merged);
      if (!read.error) this.mergedHw.set(pk, Math.max(this.mergedHw.get(pk) ?? 0, read.highWatermark));
    }
    this.readIndex.set(instance, byPk);
    this.valueIndex.set(instance, byValue);
    this.maxOffsetByKey.set(instance, byKey);
  }

  /** A derived index computed once per context. */
  memo<T>(name: string, build: () => T): T {
    if (!this.memos.has(name)) this.memos.set(name, build());
    return this.memos.get(name) as T;
  }

  topicOptions(topic: string): TopicCheckOptions {
    return this.options.topics?.get(topic) ?? {};
  }

  /** Whether the final state holds this topic (it exists at the end and was not deleted outside the history). */
  hasFinal(topic: string): boolean {
    return this.final.topics.has(topic) && !this.ignored.has(topic);
  }

  /** When the topic's last deletion answered (−∞ if never deleted). */
  lastDeletion(topic: string): number {
    const list = this.windows.get(topic);
    return list?.length ? (list[list.length - 1]?.to ?? Number.NEGATIVE_INFINITY) : Number.NEGATIVE_INFINITY;
  }

  finalEpoch(topic: string): number {
    return this.windows.get(topic)?.length ?? 0;
  }

  /** The incarnation an op ran against, or undefined when it overlapped a deletion. */
  epochOf(topic: string, op: Op): number | undefined {
    const end = op.completedAt ?? Number.POSITIVE_INFINITY;
    // A read may be served from another instance's topic cache for its documented bound after a delete
    // answered (docs/ARCHITECTURE.md §8): until then it may show either incarnation. A produce may not.
    const slack = op.type === 'fetch' || op.type === 'memberFetch' ? this.topicStalenessMs : 0;
    let epoch = 0;
    for (const w of this.windows.get(topic) ?? []) {
      if (w.to + slack <= op.invokedAt) epoch++;
      else if (w.from < end) return undefined;
    }
    return epoch;
  }

  get topicStalenessMs(): number {
    return this.options.topicStalenessMs ?? 2_000;
  }

  /**
   * The last deletion of the op's topic that answered before the op was invoked, when no `createTopic` of
   * it was invoked between that answer and the op's answer (the topic did not exist the whole time).
   */
  deletedBefore(op: ProduceOp): Window | undefined {
    const end = op.completedAt ?? Number.POSITIVE_INFINITY;
    const before = (this.windows.get(op.topic) ?? []).filter((w) => w.to <= op.invokedAt).at(-1);
    if (!before) return undefined;
    const recreated = this.history.ops.some(
      (o) =>
        o.type === 'admin' &&
        o.action === 'createTopic' &&
        o.target === op.topic &&
        o.outcome !== 'fail' &&
        o.invokedAt >= before.to &&
        o.invokedAt < end,
    );
    return recreated ? undefined : before;
  }

  /** A deletion of the op's topic that answered after the op was invoked and before it answered. */
  deletionAnsweredDuring(op: ProduceOp): Window | undefined {
    const end = op.completedAt ?? Number.POSITIVE_INFINITY;
    return this.windows.get(op.topic)?.find((w) => w.to > op.invokedAt && w.to < end);
  }

  /** The op ran entirely against the incarnation the final reads show. */
  inFinalEpoch(topic: string, op: Op): boolean {
    return this.hasFinal(topic) && this.epochOf(topic, op) === this.finalEpoch(topic);
  }

  instances(): Array<[string, Map<string, PartitionRead>]> {
    return [...this.final.reads];
  }

  recordAt(instance: string, pk: string, offset: number): ReadRecord | undefined {
    return this.readIndex.get(instance)?.get(pk)?.get(offset);
  }

  /**
   * Every record seen anywhere, with its incarnation: acks of ok produces, ok fetch and member fetch answers,
   * and the final reads.
   */
  seen(): Seen[] {
    if (this.cachedSeen) return this.cachedSeen;
    const out: Seen[] = [];
    for (const op of this.produces) {
      if (op.outcome !== 'ok' || !op.offsets) continue;
      const epoch = this.epochOf(op.topic, op);
      if (epoch === undefined) continue;
      op.records.forEach((r, i) => {
        const at = op.offsets?.[i];
        if (at)
          out.push({
            ...at,
            topic: op.topic,
            key: r.key,
            value: r.value,
            epoch,
            source: `ack #${op.id}`,
            op,
          });
      });
    }
    for (const op of this.fetches) {
      if (op.outcome !== 'ok' || !op.records) continue;
      const epoch = this.epochOf(op.topic, op);
      if (epoch === undefined) continue;
      for (const r of op.records)
        out.push(seenOf(op.topic, r.partition, r.offset, r, epoch, `fetch #${op.id}`, op));
    }
    for (const op of this.memberFetches) {
      if (op.outcome !== 'ok' || !op.records) continue;
      for (const r of op.records) {
        const epoch = this.epochOf(r.topic, op);
        if (epoch !== undefined)
          out.push(seenOf(r.topic, r.partition, r.offset, r, epoch, `memberFetch #${op.id}`, op));
      }
    }
    for (const [instance, reads] of this.final.reads) {
      for (const [pk, read] of reads) {
        const topic = topicOf(pk);
        if (!this.hasFinal(topic)) continue;
        const epoch = this.finalEpoch(topic);
        const source = `final read on ${instance}`;
        for (const r of read.records) out.push(seenOf(topic, r.partition, r.offset, r, epoch, source));
      }
    }
    this.cachedSeen = out;
    return out;
  }

  /** What is known of the final incarnation, per `topic/partition`: offset → record (first source wins). */
  known(): Map<string, Map<number, Seen>> {
    if (this.cachedKnown) return this.cachedKnown;
    const out = new Map<string, Map<number, Seen>>();
    for (const s of this.seen()) {
      if (!this.hasFinal(s.topic) || s.epoch !== this.finalEpoch(s.topic)) continue;
      const pk = pkOf(s.topic, s.partition);
      const offsets = out.get(pk) ?? new Map<number, Seen>();
      if (!offsets.has(s.offset)) offsets.set(s.offset, s);
      out.set(pk, offsets);
    }
    this.cachedKnown = out;
    return out;
  }

  /** Per `topic/partition` of the final incarnation: key → the highest offset known to hold it. */
  latestByKey(pk: string): Map<string, number> {
    let cache = this.latestCache.get(pk);
    if (cache) return cache;
    cache = new Map<string, number>();
    for (const [offset, s] of this.known().get(pk) ?? []) {
      if (s.key !== null && (cache.get(s.key) ?? -1) < offset) cache.set(s.key, offset);
    }
    this.latestCache.set(pk, cache);
    return cache;
  }
  private readonly latestCache = new Map<string, Map<string, number>>();

  /**
   * Whether a record may legitimately be absent from an instance's final read at `offset`: retention passed
   * it, or (key-compacted topic) a later record with the same key exists, or it is a tombstone past its
   * delete retention.
   */
  legitimatelyRemoved(
    instance: string,
    topic: string,
    partition: number,
    offset: number,
    value: string,
  ): boolean {
    const pk = pkOf(topic, partition);
    const opts = this.topicOptions(topic);
    const read = this.final.reads.get(instance)?.get(pk);
    if (opts.retention && read && offset < read.logStartOffset) return true;
    if (!opts.compacted) return false;
    const origin = this.origins.get(value);
    const key = origin?.record.key ?? this.known().get(pk)?.get(offset)?.key ?? null;
    if (key === null) return false;
    const later = Math.max(
      this.maxOffsetByKey.get(instance)?.get(pk)?.get(key) ?? -1,
      this.latestByKey(pk).get(key) ?? -1,
    );
    if (later > offset) return true;
    return origin ? this.tombstoneExpired(topic, origin) : false;
  }

  /** A tombstone whose ack is older than `deleteRetentionMs` at the last compaction may be gone. */
  tombstoneExpired(topic: string, origin: Origin): boolean {
    const rule = this.topicOptions(topic).tombstones;
    if (!rule || !origin.record.tombstone) return false;
    const lastCompaction = rule.lastCompactionAt ?? this.options.quiescedAt;
    const acks = (this.requests.get(origin.requestId) ?? []).map(
      (op) => op.completedAt ?? Number.POSITIVE_INFINITY,
    );
    const appended = smallest(acks) ?? Number.POSITIVE_INFINITY;
    return appended + rule.deleteRetentionMs <= lastCompaction + (this.options.clockSkewMs ?? 0);
  }

  /** The earliest moment the record can have been appended (its request's first invocation). */
  earliestAppend(value: string): number | undefined {
    const origin = this.origins.get(value);
    if (!origin) return undefined;
    return smallest((this.requests.get(origin.requestId) ?? []).map((op) => op.invokedAt));
  }
}

function seenOf(
  topic: string,
  partition: number,
  offset: number,
  r: { key: string | null; value: string },
  epoch: number,
  source: string,
  op?: Op,
): Seen {
  const s: Seen = { topic, partition, offset, key: r.key, value: r.value, epoch, source };
  if (op) s.op = op;
  return s;
}

const contexts = new WeakMap<History, { final: FinalState; options: CheckOptions; ctx: Context }>();

function contextFor(history: History, final: FinalState, options: CheckOptions): Context {
  const cached = contexts.get(history);
  if (
    cached &&
    cached.final === final &&
    cached.options === options &&
    cached.ctx.history.ops.length === history.ops.length
  )
    return cached.ctx;
  const ctx = new Context(history, final, options);
  contexts.set(history, { final, options, ctx });
  return ctx;
}

// ---------------------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------------------

export function pkOf(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}

function topicOf(pk: string): string {
  return pk.slice(0, pk.lastIndexOf('/'));
}

function timeOf(op: Op): number {
  return op.completedAt ?? op.invokedAt;
}

function violation(invariant: string, message: string, ops: Op[] = [], at?: number): Violation {
  const v: Violation = { invariant, message };
  const when = at ?? (ops[0] ? timeOf(ops[0]) : undefined);
  if (when !== undefined) v.at = when;
  if (ops.length) v.ops = ops.map((op) => op.id);
  return v;
}

function examples(items: string[]): string {
  const shown = items.slice(0, MAX_EXAMPLES).join('; ');
  return items.length > MAX_EXAMPLES ? `${shown}; … ${items.length - MAX_EXAMPLES} more` : shown;
}

function show(r: { offset: number; key: string | null; value: string }): string {
  return `@${r.offset} ${JSON.stringify(r.key)}=${JSON.stringify(r.value)}`;
}

function sameRecord(
  a: { key: string | null; value: string },
  b: { key: string | null; value: string },
): boolean {
  return a.key === b.key && a.value === b.value;
}

function smallest(values: Iterable<number>): number | undefined {
  let min: number | undefined;
  for (const v of values) if (min === undefined || v < min) min = v;
  return min;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Attempts that may have been applied (ok, unknown, or never answered). */
function mayHaveApplied(op: ProduceOp): boolean {
  return op.outcome !== 'fail';
}

// ---------------------------------------------------------------------------------------------------------
// 1. acknowledged-not-lost
// ---------------------------------------------------------------------------------------------------------

export function checkAcknowledgedNotLost(
  history: History,
  final: FinalState,
  options: CheckOptions,
): Violation[] {
  const ctx = contextFor(history, final, options);
  const out: Violation[] = [];
  for (const op of ctx.produces) {
    if (op.outcome !== 'ok') continue;
    // Concurrent with a deletion: either order is allowed, so its records may have gone with the topic.
    if (ctx.deletionAnsweredDuring(op)) continue;
    // Invoked after a deletion answered, before the topic was created again: it must have been refused.
    const deleted = ctx.deletedBefore(op);
    if (deleted) {
      out.push(
        violation(
          'acknowledged-not-lost',
          `${op.requestId} was acknowledged though ${op.topic}'s deletion answered (${new Date(deleted.to).toISOString()}) before it was sent and no creation began before its answer: its records are in the deleted incarnation, which no reader will ever see`,
          [op],
        ),
      );
      continue;
    }
    if (!ctx.hasFinal(op.topic) || timeOf(op) <= ctx.lastDeletion(op.topic)) continue; // deleted afterwards
    const offsets = op.offsets ?? [];
    if (offsets.length !== op.records.length) {
      out.push(
        violation(
          'acknowledged-not-lost',
          `${op.requestId}: ${op.records.length} records acknowledged with ${offsets.length} offsets`,
          [op],
        ),
      );
      continue;
    }
    for (const [instance, reads] of ctx.instances()) {
      const missing: string[] = [];
      op.records.forEach((rec, i) => {
        const at = offsets[i];
        if (!at) return;
        const pk = pkOf(op.topic, at.partition);
        const read = reads.get(pk);
        if (read?.error) return; // no-dangling-index reports it
        const found = ctx.recordAt(instance, pk, at.offset);
        if (found && sameRecord(found, rec)) return;
        if (!found && ctx.legitimatelyRemoved(instance, op.topic, at.partition, at.offset, rec.value)) return;
        const elsewhere = ctx.valueIndex.get(instance)?.get(rec.value)?.[0];
        missing.push(
          `${show({ ...at, key: rec.key, value: rec.value })} on ${pk}: ${
            !read ? 'partition not read' : found ? `holds ${show(found)}` : 'absent'
          }${elsewhere ? ` (found at ${elsewhere.pk}@${elsewhere.offset})` : ''}`,
        );
      });
      if (missing.length) {
        out.push(
          violation(
            'acknowledged-not-lost',
            `${op.requestId} (ok #${op.id}) on instance ${instance}: ${missing.length} acknowledged records lost: ${examples(missing)}`,
            [op],
          ),
        );
      }
    }
  }
  return out;
}

/** Alias by the brief's example name. */
export const checkNoLostAcks: Checker = checkAcknowledgedNotLost;

// ---------------------------------------------------------------------------------------------------------
// 2. offsets-unique
// ---------------------------------------------------------------------------------------------------------

function samePlace(a: Seen, b: Seen): boolean {
  return a.offset === b.offset && a.partition === b.partition && a.epoch === b.epoch && a.topic === b.topic;
}

/** Per value: the distinct places (incarnation, partition, offset) it was seen at. */
function placesByValue(ctx: Context): Map<string, Seen[]> {
  return ctx.memo('placesByValue', () => {
    const out = new Map<string, Seen[]>();
    for (const s of ctx.seen()) {
      const places = out.get(s.value);
      if (!places) out.set(s.value, [s]);
      else if (!places.some((p) => samePlace(p, s))) places.push(s);
    }
    return out;
  });
}

function placeName(s: Seen): string {
  return `${pkOf(s.topic, s.partition)}@${s.offset}${s.epoch ? ` (incarnation ${s.epoch})` : ''}`;
}

export function checkOffsetsUnique(history: History, final: FinalState, options: CheckOptions): Violation[] {
  const ctx = contextFor(history, final, options);
  const out: Violation[] = [];
  const byOffset = new Map<string, Map<number, Seen>>();
  const reported = new Set<Seen>();
  for (const s of ctx.seen()) {
    const series = `${s.epoch}|${pkOf(s.topic, s.partition)}`;
    let offsets = byOffset.get(series);
    if (!offsets) {
      offsets = new Map<number, Seen>();
      byOffset.set(series, offsets);
    }
    const first = offsets.get(s.offset);
    if (!first) offsets.set(s.offset, s);
    else if (!sameRecord(first, s) && !reported.has(first)) {
      reported.add(first);
      out.push(
        violation(
          'offsets-unique',
          `${placeName(s)} holds two records: ${show(first)} (${first.source}) and ${show(s)} (${s.source})`,
          [first.op, s.op].filter((op): op is Op => op !== undefined),
        ),
      );
    }
  }
  const perRequest = new Map<string, { count: number; example: Seen[] }>();
  for (const [value, all] of placesByValue(ctx)) {
    if (all.length < 2) continue;
    const origin = ctx.origins.get(value);
    if (!origin) continue;
    // An Idempotency-Key belongs to one incarnation: the same request sent again to a re-created topic
    // appends there once more (SPEC). Count places per incarnation.
    const byEpoch = new Map<number, Seen[]>();
    for (const place of all) byEpoch.set(place.epoch, [...(byEpoch.get(place.epoch) ?? []), place]);
    for (const places of byEpoch.values()) {
      const worst = perRequest.get(origin.requestId);
      if (!worst || worst.count < places.length)
        perRequest.set(origin.requestId, { count: places.length, example: places });
    }
  }
  for (const [requestId, { count, example }] of perRequest) {
    const attempts = ctx.requests.get(requestId) ?? [];
    const idempotent = attempts.some((op) => op.idempotencyKey !== undefined);
    const allowed = idempotent || attempts.length === 1 ? 1 : attempts.filter(mayHaveApplied).length;
    if (count <= allowed) continue;
    out.push(
      violation(
        'offsets-unique',
        `${requestId} (${attempts.length} attempts${idempotent ? ', Idempotency-Key' : ''}) appears at ${count} offsets, at most ${allowed} allowed: ${examples(example.map((s) => `${placeName(s)} (${s.source})`))}`,
        attempts,
      ),
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// 3. offsets-dense
// ---------------------------------------------------------------------------------------------------------

export function checkOffsetsDense(history: History, final: FinalState, options: CheckOptions): Violation[] {
  const ctx = contextFor(history, final, options);
  const out: Violation[] = [];
  const highestAck = highestAckedOffsets(ctx);
  for (const [instance, reads] of ctx.instances()) {
    for (const [pk, read] of reads) {
      const topic = topicOf(pk);
      if (read.error || !ctx.hasFinal(topic)) continue;
      const problem = densityProblem(read, ctx.topicOptions(topic).compacted === true);
      if (problem)
        out.push(violation('offsets-dense', `${pk} on ${instance}: ${problem}`, [], options.quiescedAt));
      const acked = highestAck.get(pk);
      if (acked && read.highWatermark <= acked.offset) {
        out.push(
          violation(
            'offsets-dense',
            `${pk} on ${instance}: high watermark ${read.highWatermark} but offset ${acked.offset} was acknowledged`,
            [acked.op],
          ),
        );
      }
    }
  }
  return out;
}

function densityProblem(read: PartitionRead, compacted: boolean): string | undefined {
  let previous = read.logStartOffset - 1;
  for (const r of read.records) {
    if (r.offset <= previous) return `offset ${r.offset} after ${previous} (not ascending)`;
    if (r.offset < read.logStartOffset || r.offset >= read.highWatermark)
      return `offset ${r.offset} outside [${read.logStartOffset}, ${read.highWatermark})`;
    if (!compacted && r.offset !== previous + 1)
      return `gap: offsets ${previous + 1}..${r.offset - 1} missing`;
    previous = r.offset;
  }
  if (!compacted && previous !== read.highWatermark - 1)
    return `gap: offsets ${previous + 1}..${read.highWatermark - 1} missing below the high watermark`;
  return undefined;
}

/** Per `topic/partition`: the highest offset an ok produce of the final incarnation was given. */
function highestAckedOffsets(ctx: Context): Map<string, { offset: number; op: ProduceOp }> {
  const out = new Map<string, { offset: number; op: ProduceOp }>();
  for (const op of ctx.produces) {
    if (op.outcome !== 'ok' || !op.offsets || !ctx.hasFinal(op.topic)) continue;
    if (op.invokedAt < ctx.lastDeletion(op.topic)) continue;
    for (const at of op.offsets) {
      const pk = pkOf(op.topic, at.partition);
      if ((out.get(pk)?.offset ?? -1) < at.offset) out.set(pk, { offset: at.offset, op });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// 4. request-atomic
// ---------------------------------------------------------------------------------------------------------

export function checkRequestAtomic(history: History, final: FinalState, options: CheckOptions): Violation[] {
  const ctx = contextFor(history, final, options);
  const out: Violation[] = [];
  for (const [requestId, attempts] of ctx.requests) {
    const first = attempts[0];
    if (!first || !ctx.hasFinal(first.topic)) continue;
    if (attempts.every((op) => op.invokedAt < ctx.lastDeletion(first.topic))) continue; // incarnation-isolated's
    for (const [instance] of ctx.instances()) {
      const problem = atomicityProblem(ctx, instance, first, attempts);
      if (problem) out.push(violation('request-atomic', `${requestId} on ${instance}: ${problem}`, attempts));
    }
  }
  return out;
}

/**
 * A request's records on one instance: per partition, its occurrences form runs (offset − position in the
 * partition's records is the run's base); every run must be complete, and either every partition has a run
 * or none has. Absences that retention or key compaction explain are allowed.
 */
function atomicityProblem(
  ctx: Context,
  instance: string,
  op: ProduceOp,
  attempts: ProduceOp[],
): string | undefined {
  const values = ctx.valueIndex.get(instance);
  const groups = new Map<number, WrittenRecord[]>();
  for (const r of op.records) push(groups, r.partition, r);
  const since = ctx.lastDeletion(op.topic);
  const ack = attempts.find((a) => a.outcome === 'ok' && a.offsets && a.invokedAt >= since)?.offsets;
  const ackByValue = new Map<string, number>();
  op.records.forEach((r, i) => {
    const at = ack?.[i];
    if (at) ackByValue.set(r.value, at.offset);
  });
  let present = 0;
  const absentGroups: number[] = [];
  for (const [partition, records] of groups) {
    const runs = new Map<string, Set<number>>();
    records.forEach((r, position) => {
      for (const loc of values?.get(r.value) ?? []) {
        const base = loc.offset - position;
        const run = runs.get(`${loc.pk}|${base}`) ?? new Set<number>();
        run.add(position);
        runs.set(`${loc.pk}|${base}`, run);
        present++;
      }
    });
    if (runs.size === 0) {
      const excused = records.every((r) => {
        const offset = ackByValue.get(r.value);
        return offset === undefined
          ? absenceUnprovable(ctx, instance, op.topic, partition, r)
          : ctx.legitimatelyRemoved(instance, op.topic, partition, offset, r.value);
      });
      if (!excused) absentGroups.push(partition);
      continue;
    }
    for (const [run, positions] of runs) {
      const base = Number(run.slice(run.lastIndexOf('|') + 1));
      const missing = records
        .map((r, position) => ({ r, position }))
        .filter(({ r, position }) => {
          if (positions.has(position)) return false;
          return !ctx.legitimatelyRemoved(instance, op.topic, partition, base + position, r.value);
        });
      if (missing.length) {
        return `partition ${partition}: a run at base ${base} lacks ${missing.length} of ${records.length} records (${examples(missing.map(({ r, position }) => `#${position} ${r.value} expected @${base + position}`))})`;
      }
    }
  }
  if (present > 0 && absentGroups.length)
    return `records present but none on partition(s) ${absentGroups.join(',')}`;
  return undefined;
}

/** A never-acknowledged record absent from a whole partition: only provably wrong if nothing could remove it. */
function absenceUnprovable(
  ctx: Context,
  instance: string,
  topic: string,
  partition: number,
  r: WrittenRecord,
): boolean {
  const opts = ctx.topicOptions(topic);
  const read = ctx.final.reads.get(instance)?.get(pkOf(topic, partition));
  if (opts.retention && read && read.logStartOffset > 0) return true;
  if (opts.compacted && r.key !== null) {
    return (
      ctx.latestByKey(pkOf(topic, partition)).has(r.key) ||
      (r.tombstone === true && opts.tombstones !== undefined)
    );
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------
// 5. failed-not-applied
// ---------------------------------------------------------------------------------------------------------

export function checkFailedNotApplied(
  history: History,
  final: FinalState,
  options: CheckOptions,
): Violation[] {
  const ctx = contextFor(history, final, options);
  const seenAt = new Map<string, Seen>();
  for (const s of ctx.seen()) if (!s.source.startsWith('ack') && !seenAt.has(s.value)) seenAt.set(s.value, s);
  const out: Violation[] = [];
  for (const [requestId, attempts] of ctx.requests) {
    if (!attempts.every((op) => op.outcome === 'fail')) continue;
    const shown = (attempts[0]?.records ?? []).flatMap((r) => {
      const s = seenAt.get(r.value);
      return s ? [`${r.value} at ${pkOf(s.topic, s.partition)}@${s.offset} (${s.source})`] : [];
    });
    if (shown.length) {
      out.push(
        violation(
          'failed-not-applied',
          `${requestId}: every attempt failed (${attempts.map((op) => op.status ?? op.error).join(', ')}) yet ${shown.length} of its records appear: ${examples(shown)}`,
          attempts,
        ),
      );
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// 6. idempotent-once
// ---------------------------------------------------------------------------------------------------------

export function checkIdempotentOnce(history: History, final: FinalState, options: CheckOptions): Violation[] {
  const ctx = contextFor(history, final, options);
  const places = placesByValue(ctx);
  const out: Violation[] = [];
  for (const [requestId, attempts] of ctx.requests) {
    if (!attempts.some((op) => op.idempotencyKey !== undefined)) continue;
    // Per incarnation: a key sent again to a re-created topic appends there once more (SPEC).
    const oks = attempts.filter((op) => op.outcome === 'ok');
    const answers = new Map<string, Set<string>>();
    for (const op of oks) {
      const epoch = String(ctx.epochOf(op.topic, op) ?? 'overlapping');
      answers.set(epoch, (answers.get(epoch) ?? new Set()).add(JSON.stringify(op.offsets ?? [])));
    }
    for (const [epoch, distinct] of answers) {
      if (epoch === 'overlapping' || distinct.size < 2) continue;
      out.push(
        violation(
          'idempotent-once',
          `${requestId}: its ok attempts report different offsets: ${[...distinct].join(' vs ')}`,
          oks,
        ),
      );
    }
    const twice = (attempts[0]?.records ?? []).flatMap((r) => {
      const at = places.get(r.value) ?? [];
      const epochs = at.map((p) => p.epoch);
      return at.length > new Set(epochs).size ? [`${r.value} at ${at.map(placeName).join(', ')}`] : [];
    });
    if (twice.length) {
      out.push(
        violation(
          'idempotent-once',
          `${requestId} (Idempotency-Key ${attempts[0]?.idempotencyKey}, ${attempts.length} attempts) was appended more than once: ${examples(twice)}`,
          attempts,
        ),
      );
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// 7. instances-agree
// ---------------------------------------------------------------------------------------------------------

export function checkInstancesAgree(history: History, final: FinalState, options: CheckOptions): Violation[] {
  const ctx = contextFor(history, final, options);
  const out: Violation[] = [];
  const instances = ctx.instances();
  const pks = new Set<string>();
  for (const [, reads] of instances) for (const pk of reads.keys()) pks.add(pk);
  for (const pk of pks) {
    if (!ctx.hasFinal(topicOf(pk))) continue;
    const usable = instances.flatMap(([name, reads]) => {
      const read = reads.get(pk);
      if (!read) {
        out.push(
          violation('instances-agree', `${pk}: instance ${name} has no read of it`, [], options.quiescedAt),
        );
        return [];
      }
      return read.error ? [] : [{ name, read }];
    });
    const [reference, ...others] = usable;
    if (!reference) continue;
    for (const other of others) {
      const problem = disagreement(reference.read, other.read);
      if (problem)
        out.push(
          violation(
            'instances-agree',
            `${pk}: ${reference.name} vs ${other.name}: ${problem}`,
            [],
            options.quiescedAt,
          ),
        );
    }
  }
  return out;
}

function disagreement(a: PartitionRead, b: PartitionRead): string | undefined {
  if (a.logStartOffset !== b.logStartOffset)
    return `logStartOffset ${a.logStartOffset} vs ${b.logStartOffset}`;
  if (a.highWatermark !== b.highWatermark) return `highWatermark ${a.highWatermark} vs ${b.highWatermark}`;
  const inB = new Map(b.records.map((r) => [r.offset, r]));
  const diffs: string[] = [];
  for (const r of a.records) {
    const other = inB.get(r.offset);
    if (!other) diffs.push(`${show(r)} vs absent`);
    else if (!sameRecord(r, other)) diffs.push(`${show(r)} vs ${show(other)}`);
    inB.delete(r.offset);
  }
  for (const r of inB.values()) diffs.push(`absent vs ${show(r)}`);
  return diffs.length ? `${diffs.length} offsets differ: ${examples(diffs)}` : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// 8. reads-consistent
// ---------------------------------------------------------------------------------------------------------

export function checkReadsConsistent(
  history: History,
  final: FinalState,
  options: CheckOptions,
): Violation[] {
  const ctx = contextFor(history, final, options);
  const out: Violation[] = [];
  for (const op of ctx.fetches) {
    if (op.outcome !== 'ok') continue;
    const problems = fetchProblems(op, ctx.topicOptions(op.topic).compacted === true);
    if (ctx.inFinalEpoch(op.topic, op)) {
      const finalLog = ctx.merged.get(pkOf(op.topic, op.partition));
      for (const r of op.records ?? []) {
        const now = finalLog?.get(r.offset);
        if (now && !sameRecord(now, r))
          problems.push(`served ${show(r)} but the final log holds ${show(now)}`);
      }
    }
    if (problems.length)
      out.push(
        violation(
          'reads-consistent',
          `fetch ${op.topic}/${op.partition}@${op.offset}: ${examples(problems)}`,
          [op],
        ),
      );
  }
  return out;
}

/** What is wrong with one fetch answer on its own. */
function fetchProblems(op: FetchOp, compacted: boolean): string[] {
  const rs = op.records ?? [];
  const problems: string[] = [];
  const first = rs[0];
  const last = rs[rs.length - 1];
  if (first && !compacted && first.offset !== op.offset)
    problems.push(`first record @${first.offset}, asked @${op.offset}`);
  if (first && compacted && first.offset < op.offset)
    problems.push(`first record @${first.offset} below asked @${op.offset}`);
  rs.forEach((r, i) => {
    const prev = rs[i - 1];
    if (r.partition !== op.partition) problems.push(`record of partition ${r.partition}`);
    if (prev && r.offset <= prev.offset) problems.push(`@${r.offset} after @${prev.offset} (not ascending)`);
    else if (prev && !compacted && r.offset !== prev.offset + 1)
      problems.push(`gap between @${prev.offset} and @${r.offset}`);
    if (op.highWatermark !== undefined && r.offset >= op.highWatermark)
      problems.push(`@${r.offset} at or above its own high watermark ${op.highWatermark}`);
    if (op.logStartOffset !== undefined && r.offset < op.logStartOffset)
      problems.push(`@${r.offset} below its own log start ${op.logStartOffset}`);
  });
  if (op.nextOffset !== undefined) {
    const expected = last ? last.offset + 1 : op.offset;
    const fine = compacted
      ? op.nextOffset >= expected &&
        (op.highWatermark === undefined || op.nextOffset <= Math.max(expected, op.highWatermark))
      : op.nextOffset === expected;
    if (!fine) problems.push(`nextOffset ${op.nextOffset}, expected ${expected}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------------
// 9. reads-see-acks
// ---------------------------------------------------------------------------------------------------------

export function checkReadsSeeAcks(history: History, final: FinalState, options: CheckOptions): Violation[] {
  const ctx = contextFor(history, final, options);
  const out: Violation[] = [];
  const acks = acksByPartition(ctx);
  const lastHw = new Map<string, FetchOp>();
  const fetches = ctx.fetches
    .filter((op) => op.outcome === 'ok' && op.highWatermark !== undefined)
    .sort((a, b) => a.invokedAt - b.invokedAt);
  for (const op of fetches) {
    const hw = op.highWatermark ?? 0;
    const epoch = ctx.epochOf(op.topic, op);
    if (epoch === undefined) continue;
    const series = `${epoch}|${pkOf(op.topic, op.partition)}`;
    const seen = highestAckBefore(acks.get(series), op.invokedAt);
    if (seen && hw <= seen.offset) {
      out.push(
        violation(
          'reads-see-acks',
          `fetch ${op.topic}/${op.partition} answered high watermark ${hw} after offset ${seen.offset} was acknowledged (#${seen.op.id})`,
          [op, seen.op],
        ),
      );
    }
    const mine = `${op.client}|${series}`;
    const before = lastHw.get(mine);
    if (before && (before.highWatermark ?? 0) > hw) {
      out.push(
        violation(
          'reads-see-acks',
          `client ${op.client}: ${op.topic}/${op.partition} high watermark went back from ${before.highWatermark} to ${hw}`,
          [op, before],
        ),
      );
    }
    lastHw.set(mine, op);
  }
  return out;
}

interface AckPoint {
  completedAt: number;
  /** The highest offset acknowledged on the partition by this ack or any earlier one. */
  offset: number;
  op: ProduceOp;
}

/** Per `epoch|topic/partition`: acks in completion order with the running highest offset. */
function acksByPartition(ctx: Context): Map<string, AckPoint[]> {
  const out = new Map<string, AckPoint[]>();
  for (const op of ctx.produces) {
    if (op.outcome !== 'ok' || !op.offsets || op.completedAt === undefined) continue;
    const epoch = ctx.epochOf(op.topic, op);
    if (epoch === undefined) continue;
    const highest = new Map<number, number>();
    for (const at of op.offsets)
      highest.set(at.partition, Math.max(highest.get(at.partition) ?? -1, at.offset));
    for (const [partition, offset] of highest)
      push(out, `${epoch}|${pkOf(op.topic, partition)}`, { completedAt: op.completedAt, offset, op });
  }
  for (const points of out.values()) {
    points.sort((a, b) => a.completedAt - b.completedAt);
    for (let i = 1; i < points.length; i++) {
      const prev = points[i - 1];
      const point = points[i];
      if (prev && point && prev.offset > point.offset)
        points[i] = { ...point, offset: prev.offset, op: prev.op };
    }
  }
  return out;
}

/** The running-highest ack completed strictly before `at` (binary search). */
function highestAckBefore(points: AckPoint[] | undefined, at: number): AckPoint | undefined {
  if (!points) return undefined;
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((points[mid]?.completedAt ?? 0) < at) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 ? points[lo - 1] : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// 10–13. Consumer groups
// ---------------------------------------------------------------------------------------------------------

interface Ownership {
  generation: number;
  member: string;
  seenAt: number;
  op: Op;
}

/** Per `group|topic/partition`: every (generation, member) ownership a join or heartbeat answer showed. */
function ownerships(ctx: Context): Map<string, Ownership[]> {
  const out = new Map<string, Ownership[]>();
  for (const op of ctx.history.ops) {
    if ((op.type !== 'join' && op.type !== 'heartbeat') || op.outcome !== 'ok') continue;
    const answer = op as JoinOp | HeartbeatOp;
    if (answer.generation === undefined) continue;
    for (const a of answer.assignments ?? []) {
      push(out, `${answer.group}|${pkOf(a.topic, a.partition)}`, {
        generation: answer.generation,
        member: answer.memberId,
        seenAt: timeOf(op),
        op,
      });
    }
  }
  return out;
}

export function checkGroupSingleOwner(
  history: History,
  final: FinalState,
  options: CheckOptions,
): Violation[] {
  const ctx = contextFor(history, final, options);
  const out: Violation[] = [];
  for (const [series, list] of ownerships(ctx)) {
    const byGeneration = new Map<number, Ownership>();
    const reported = new Set<number>();
    for (const o of list) {
      const first = byGeneration.get(o.generation);
      if (!first) byGeneration.set(o.generation, o);
      else if (first.member !== o.member && !reported.has(o.generation)) {
        reported.add(o.generation);
        out.push(
          violation(
            'group-single-owner',
            `${series.replace('|', ' ')}: generation ${o.generation} assigns it to ${first.member} and to ${o.member}`,
            [first.op, o.op],
          ),
        );
      }
    }
  }
  return out;
}

interface CommitAttempt {
  group: string;
  member: string;
  generation: number;
  offsets: Array<{ topic: string; partition: number; offset: number }>;
  op: CommitOp | MemberFetchOp;
}

/** Ok commits: explicit ones, and member fetches with commit=true (generation: their cursor's). */
function acceptedCommits(ctx: Context): CommitAttempt[] {
  const out: CommitAttempt[] = [];
  const lastGeneration = new Map<string, number>();
  const ops = ctx.history.ops
    .filter((op): op is CommitOp | MemberFetchOp => op.type === 'commit' || op.type === 'memberFetch')
    .sort((a, b) => a.invokedAt - b.invokedAt);
  for (const op of ops) {
    if (op.type === 'commit') {
      if (op.outcome === 'ok')
        out.push({
          group: op.group,
          member: op.memberId,
          generation: op.generation,
          offsets: op.offsets,
          op,
        });
      continue;
    }
    const member = `${op.group}|${op.memberId}`;
    const generation = op.cursorGeneration ?? lastGeneration.get(member);
    if (op.outcome === 'ok' && op.commit && op.committing?.length && generation !== undefined)
      out.push({ group: op.group, member: op.memberId, generation, offsets: op.committing, op });
    if (op.outcome === 'ok' && op.generation !== undefined) lastGeneration.set(member, op.generation);
  }
  return out;
}

export function checkGroupNoZombieCommit(
  history: History,
  final: FinalState,
  options: CheckOptions,
): Violation[] {
  const ctx = contextFor(history, final, options);
  const owners = ownerships(ctx);
  const out: Violation[] = [];
  for (const c of acceptedCommits(ctx)) {
    for (const at of c.offsets) {
      const pk = pkOf(at.topic, at.partition);
      const rival = (owners.get(`${c.group}|${pk}`) ?? []).find(
        (o) =>
          o.member !== c.member &&
          (o.generation === c.generation || (o.generation > c.generation && o.seenAt < c.op.invokedAt)),
      );
      if (rival) {
        out.push(
          violation(
            'group-no-zombie-commit',
            `${c.group}: commit of ${pk}=${at.offset} by ${c.member} in generation ${c.generation} was accepted, but ${rival.member} owned ${pk} in generation ${rival.generation}`,
            [c.op, rival.op],
          ),
        );
      }
    }
  }
  return out;
}

interface CommittedObservation {
  invokedAt: number;
  completedAt: number;
  offset: number;
  /** Reads are checked; accepted commits only raise the floor. */
  isRead: boolean;
  op?: Op;
}

export function checkGroupCommitsMonotonic(
  history: History,
  final: FinalState,
  options: CheckOptions,
): Violation[] {
  const ctx = contextFor(history, final, options);
  const series = new Map<string, CommittedObservation[]>();
  const add = (
    group: string,
    topic: string,
    partition: number,
    o: CommittedObservation,
    epoch: number | undefined,
  ) => {
    if (epoch !== undefined) push(series, `${group}|${epoch}|${pkOf(topic, partition)}`, o);
  };
  for (const op of history.ops) {
    if (op.type !== 'offsets' || op.outcome !== 'ok') continue;
    const read = op as OffsetsOp;
    for (const c of read.committed ?? []) {
      const o = { invokedAt: op.invokedAt, completedAt: timeOf(op), offset: c.offset, isRead: true, op };
      add(read.group, c.topic, c.partition, o, ctx.epochOf(c.topic, op));
    }
  }
  for (const c of acceptedCommits(ctx)) {
    for (const at of c.offsets) {
      const o = {
        invokedAt: c.op.invokedAt,
        completedAt: timeOf(c.op),
        offset: at.offset,
        isRead: false,
        op: c.op,
      };
      add(c.group, at.topic, at.partition, o, ctx.epochOf(at.topic, c.op));
    }
  }
  for (const [group, committed] of final.committed) {
    for (const [pk, offset] of committed) {
      const topic = topicOf(pk);
      if (!ctx.hasFinal(topic)) continue;
      const o = {
        invokedAt: Number.POSITIVE_INFINITY,
        completedAt: Number.POSITIVE_INFINITY,
        offset,
        isRead: true,
      };
      add(group, topic, Number(pk.slice(topic.length + 1)), o, ctx.finalEpoch(topic));
    }
  }
  const out: Violation[] = [];
  for (const [key, list] of series) {
    const problem = backwards(list);
    if (problem) {
      const [group, , pk] = key.split('|');
      const ops = [problem.later.op, problem.floor.op].filter((op): op is Op => op !== undefined);
      const what = problem.later.op ? `read #${problem.later.op.id}` : 'the final state';
      out.push(
        violation(
          'group-commits-monotonic',
          `${group} ${pk}: ${what} shows committed ${problem.later.offset} after ${problem.floor.isRead ? 'a read of' : 'an accepted commit of'} ${problem.floor.offset} (#${problem.floor.op?.id}) completed`,
          ops,
          problem.later.op ? undefined : options.quiescedAt,
        ),
      );
    }
  }
  return out;
}

/** The first read that shows less than something that completed before it was invoked. */
function backwards(
  list: CommittedObservation[],
): { later: CommittedObservation; floor: CommittedObservation } | undefined {
  const byStart = [...list].sort((a, b) => a.invokedAt - b.invokedAt);
  const byEnd = [...list].sort((a, b) => a.completedAt - b.completedAt);
  let j = 0;
  let floor: CommittedObservation | undefined;
  for (const o of byStart) {
    for (; j < byEnd.length && (byEnd[j]?.completedAt ?? 0) < o.invokedAt; j++) {
      const done = byEnd[j];
      if (done && (!floor || done.offset > floor.offset)) floor = done;
    }
    if (o.isRead && floor && o.offset < floor.offset) return { later: o, floor };
  }
  return undefined;
}

export function checkGroupAtLeastOnce(
  history: History,
  final: FinalState,
  options: CheckOptions,
): Violation[] {
  const ctx = contextFor(history, final, options);
  const delivered = new Map<string, Set<number>>();
  for (const op of ctx.memberFetches) {
    if (op.outcome !== 'ok') continue;
    for (const r of op.records ?? []) {
      if (!ctx.inFinalEpoch(r.topic, op)) continue;
      const series = `${op.group}|${pkOf(r.topic, r.partition)}`;
      const set = delivered.get(series) ?? new Set<number>();
      set.add(r.offset);
      delivered.set(series, set);
    }
  }
  const out: Violation[] = [];
  for (const [group, committed] of final.committed) {
    for (const [pk, upTo] of committed) {
      if (!ctx.hasFinal(topicOf(pk))) continue;
      const got = delivered.get(`${group}|${pk}`) ?? new Set<number>();
      const start = options.groupStart?.get(group)?.get(pk) ?? smallest(got);
      if (start === undefined) continue;
      const missed: number[] = [];
      for (const [offset] of ctx.merged.get(pk) ?? []) {
        if (offset >= start && offset < upTo && !got.has(offset)) missed.push(offset);
      }
      if (missed.length) {
        missed.sort((a, b) => a - b);
        out.push(
          violation(
            'group-at-least-once',
            `${group} ${pk}: committed ${upTo} but ${missed.length} records from ${start} were never delivered: offsets ${examples(missed.map(String))}`,
            [],
            options.quiescedAt,
          ),
        );
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// 14–16. Compaction and retention
// ---------------------------------------------------------------------------------------------------------

export function checkCompactionPreserves(
  history: History,
  final: FinalState,
  options: CheckOptions,
): Violation[] {
  const ctx = contextFor(history, final, options);
  const served = new Map<string, Map<number, Seen>>();
  for (const s of ctx.seen()) {
    if (!s.source.startsWith('fetch') && !s.source.startsWith('memberFetch')) continue;
    if (!ctx.hasFinal(s.topic) || s.epoch !== ctx.finalEpoch(s.topic) || ctx.topicOptions(s.topic).compacted)
      continue;
    const pk = pkOf(s.topic, s.partition);
    const offsets = served.get(pk) ?? new Map<number, Seen>();
    if (!offsets.has(s.offset)) offsets.set(s.offset, s);
    served.set(pk, offsets);
  }
  const out: Violation[] = [];
  for (const [instance, reads] of ctx.instances()) {
    for (const [pk, offsets] of served) {
      const read = reads.get(pk);
      if (!read || read.error) continue;
      const retained = ctx.topicOptions(topicOf(pk)).retention !== undefined;
      const lost: Seen[] = [];
      for (const [offset, s] of offsets) {
        const now = ctx.recordAt(instance, pk, offset);
        if (now ? !sameRecord(now, s) : !(retained && offset < read.logStartOffset)) lost.push(s);
      }
      if (lost.length) {
        out.push(
          violation(
            'compaction-preserves',
            `${pk} on ${instance}: ${lost.length} records served during the run are missing or changed: ${examples(
              lost.map(
                (s) =>
                  `${show(s)} (${s.source}) now ${(() => {
                    const now = ctx.recordAt(instance, pk, s.offset);
                    return now ? show(now) : 'absent';
                  })()}`,
              ),
            )}`,
            lost.flatMap((s) => (s.op ? [s.op] : [])).slice(0, MAX_EXAMPLES),
          ),
        );
      }
    }
  }
  return out;
}

export function checkKeyCompactionLatest(
  history: History,
  final: FinalState,
  options: CheckOptions,
): Violation[] {
  const ctx = contextFor(history, final, options);
  const out: Violation[] = [];
  for (const [instance, reads] of ctx.instances()) {
    for (const [pk, read] of reads) {
      const topic = topicOf(pk);
      if (read.error || !ctx.hasFinal(topic) || !ctx.topicOptions(topic).compacted) continue;
      const problems = keyCompactionProblems(ctx, instance, pk, read);
      if (problems.length)
        out.push(
          violation(
            'key-compaction-latest',
            `${pk} on ${instance}: ${examples(problems)}`,
            [],
            options.quiescedAt,
          ),
        );
    }
  }
  return out;
}

function keyCompactionProblems(ctx: Context, instance: string, pk: string, read: PartitionRead): string[] {
  const topic = topicOf(pk);
  const retained = ctx.topicOptions(topic).retention !== undefined;
  const known = ctx.known().get(pk) ?? new Map<number, Seen>();
  const latest = ctx.latestByKey(pk);
  const problems: string[] = [];
  for (const [key, offset] of latest) {
    const s = known.get(offset);
    const now = ctx.recordAt(instance, pk, offset);
    if (!s || (now && sameRecord(now, s))) continue;
    if (!now && retained && offset < read.logStartOffset) continue;
    const origin = ctx.origins.get(s.value);
    if (!now && origin && ctx.tombstoneExpired(topic, origin)) continue;
    problems.push(
      `latest of key ${JSON.stringify(key)} ${show(s)} (${s.source}) is ${now ? `replaced by ${show(now)}` : 'gone'}`,
    );
  }
  for (const [offset, s] of known) {
    if (offset < read.logStartOffset || offset >= read.highWatermark || ctx.recordAt(instance, pk, offset))
      continue;
    // A keyed record is either superseded (fine) or the latest of its key (reported above).
    if (s.key === null) problems.push(`${show(s)} (${s.source}) has no key yet is gone`);
  }
  return problems;
}

export function checkRetentionExact(history: History, final: FinalState, options: CheckOptions): Violation[] {
  const ctx = contextFor(history, final, options);
  const out: Violation[] = [];
  for (const [instance, reads] of ctx.instances()) {
    for (const [pk, read] of reads) {
      const topic = topicOf(pk);
      if (read.error || !ctx.hasFinal(topic) || read.logStartOffset === 0) continue;
      const opts = ctx.topicOptions(topic);
      if (!opts.retention) {
        if (!opts.compacted)
          out.push(
            violation(
              'retention-exact',
              `${pk} on ${instance}: log start ${read.logStartOffset} but the topic has no retention`,
              [],
              options.quiescedAt,
            ),
          );
        continue;
      }
      const young = youngRecordsBelow(ctx, pk, read.logStartOffset, opts.retention);
      if (young.length)
        out.push(
          violation(
            'retention-exact',
            `${pk} on ${instance}: log start ${read.logStartOffset} passed ${young.length} records younger than ${opts.retention.retentionMs} ms at the last retention pass: ${examples(young)}`,
            [],
            options.quiescedAt,
          ),
        );
    }
  }
  for (const op of ctx.fetches) {
    if (op.outcome !== 'ok') continue;
    const opts = ctx.topicOptions(op.topic);
    const first = op.records?.[0];
    if (op.logStartOffset !== undefined && op.offset < op.logStartOffset) {
      out.push(
        violation(
          'retention-exact',
          `fetch ${op.topic}/${op.partition}@${op.offset} below log start ${op.logStartOffset} answered ${op.status ?? 'ok'}, not 416`,
          [op],
        ),
      );
    } else if (opts.retention && !opts.compacted && first && first.offset > op.offset) {
      out.push(
        violation(
          'retention-exact',
          `fetch ${op.topic}/${op.partition}@${op.offset} silently skipped to @${first.offset}`,
          [op],
        ),
      );
    }
  }
  return out;
}

/** Known records below the log start whose request was first invoked after the retention cutoff. */
function youngRecordsBelow(
  ctx: Context,
  pk: string,
  logStart: number,
  retention: { retentionMs: number; lastPassAt?: number },
): string[] {
  const cutoff = (retention.lastPassAt ?? lastRetentionPass(ctx)) - retention.retentionMs;
  const skew = ctx.options.clockSkewMs ?? 0;
  const young: string[] = [];
  for (const [offset, s] of ctx.known().get(pk) ?? []) {
    if (offset >= logStart) continue;
    const appended = ctx.earliestAppend(s.value);
    if (appended !== undefined && appended - skew > cutoff)
      young.push(
        `${show(s)} appended at ${new Date(appended).toISOString()}, cutoff ${new Date(cutoff).toISOString()}`,
      );
  }
  return young;
}

function lastRetentionPass(ctx: Context): number {
  let last: number | undefined;
  for (const op of ctx.history.ops) {
    if (
      op.type === 'admin' &&
      op.action === 'maintenance' &&
      op.target === 'retention' &&
      op.outcome === 'ok'
    )
      last = Math.max(last ?? 0, timeOf(op));
  }
  return last ?? ctx.options.quiescedAt;
}

// ---------------------------------------------------------------------------------------------------------
// 17–19. Storage and liveness; incarnations
// ---------------------------------------------------------------------------------------------------------

export function checkNoDanglingIndex(
  history: History,
  final: FinalState,
  options: CheckOptions,
): Violation[] {
  const ctx = contextFor(history, final, options);
  const out: Violation[] = [];
  for (const [instance, reads] of ctx.instances()) {
    for (const [pk, read] of reads) {
      if (read.error)
        out.push(
          violation(
            'no-dangling-index',
            `${pk} on ${instance}: final read failed: ${read.error}`,
            [],
            options.quiescedAt,
          ),
        );
    }
  }
  if (final.storage) {
    const objects = new Set(final.storage.objects);
    const dangling = final.storage.referenced.filter((key) => !objects.has(key));
    if (dangling.length)
      out.push(
        violation(
          'no-dangling-index',
          `${dangling.length} objects referenced by the index are missing: ${examples(dangling)}`,
          [],
          options.quiescedAt,
        ),
      );
  }
  return out;
}

export function checkNoLeakedObjects(
  _history: History,
  final: FinalState,
  options: CheckOptions,
): Violation[] {
  if (!final.storage) return [];
  const referenced = new Set(final.storage.referenced);
  const leaked = final.storage.objects.filter((key) => !referenced.has(key));
  return leaked.length
    ? [
        violation(
          'no-leaked-objects',
          `${leaked.length} unreferenced objects remain after GC: ${examples(leaked)}`,
          [],
          options.quiescedAt,
        ),
      ]
    : [];
}

export function checkLiveness(history: History, final: FinalState, options: CheckOptions): Violation[] {
  const ctx = contextFor(history, final, options);
  const expected = new Set<number | string>(options.expectedFailures ?? []);
  const out: Violation[] = [];
  for (const op of history.ops) {
    if (op.invokedAt < options.quiescedAt || op.outcome === 'ok') continue;
    const expectedFail =
      op.outcome === 'fail' &&
      ((op.status !== undefined && expected.has(op.status)) ||
        (op.error !== undefined && expected.has(op.error)));
    if (!expectedFail)
      out.push(
        violation(
          'liveness',
          `${op.type} #${op.id} invoked after faults stopped ended ${op.outcome ?? 'pending'}${op.status ? ` ${op.status}` : ''}${op.error ? ` ${op.error}` : ''}`,
          [op],
        ),
      );
  }
  if (options.expectZeroLag) {
    for (const [group, committed] of final.committed) {
      for (const [pk, offset] of committed) {
        const hw = ctx.mergedHw.get(pk);
        if (ctx.hasFinal(topicOf(pk)) && hw !== undefined && offset !== hw)
          out.push(
            violation(
              'liveness',
              `${group} ${pk}: committed ${offset}, high watermark ${hw} (lag ${hw - offset})`,
              [],
              options.quiescedAt,
            ),
          );
      }
    }
  }
  return out;
}

/** Not in the brief's list of 19 but implied by it: no record of a deleted incarnation shows in the new one. */
export function checkIncarnationIsolated(
  history: History,
  final: FinalState,
  options: CheckOptions,
): Violation[] {
  const ctx = contextFor(history, final, options);
  const out: Violation[] = [];
  for (const [requestId, attempts] of ctx.requests) {
    const first = attempts[0];
    if (!first || !ctx.hasFinal(first.topic)) continue;
    const deletedAt = ctx.lastDeletion(first.topic);
    if (!attempts.every((op) => op.invokedAt < deletedAt)) continue;
    const shown: string[] = [];
    for (const [instance, values] of ctx.valueIndex) {
      for (const r of first.records) {
        const at = values.get(r.value)?.find((loc) => topicOf(loc.pk) === first.topic);
        if (at) shown.push(`${r.value} at ${at.pk}@${at.offset} on ${instance}`);
      }
    }
    if (shown.length)
      out.push(
        violation(
          'incarnation-isolated',
          `${requestId} was sent before ${first.topic} was deleted yet shows in its new incarnation: ${examples(shown)}`,
          attempts,
        ),
      );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// All together
// ---------------------------------------------------------------------------------------------------------

/** Every invariant by its name (as in docs/ARCHITECTURE.md). */
export const INVARIANTS: ReadonlyMap<string, Checker> = new Map<string, Checker>([
  ['acknowledged-not-lost', checkAcknowledgedNotLost],
  ['offsets-unique', checkOffsetsUnique],
  ['offsets-dense', checkOffsetsDense],
  ['request-atomic', checkRequestAtomic],
  ['failed-not-applied', checkFailedNotApplied],
  ['idempotent-once', checkIdempotentOnce],
  ['instances-agree', checkInstancesAgree],
  ['reads-consistent', checkReadsConsistent],
  ['reads-see-acks', checkReadsSeeAcks],
  ['group-single-owner', checkGroupSingleOwner],
  ['group-no-zombie-commit', checkGroupNoZombieCommit],
  ['group-commits-monotonic', checkGroupCommitsMonotonic],
  ['group-at-least-once', checkGroupAtLeastOnce],
  ['compaction-preserves', checkCompactionPreserves],
  ['key-compaction-latest', checkKeyCompactionLatest],
  ['retention-exact', checkRetentionExact],
  ['no-dangling-index', checkNoDanglingIndex],
  ['no-leaked-objects', checkNoLeakedObjects],
  ['liveness', checkLiveness],
  ['incarnation-isolated', checkIncarnationIsolated],
]);

/** Runs every invariant (or `options.invariants`) and returns all violations. */
export function checkHistory(history: History, final: FinalState, options: CheckOptions): Violation[] {
  const names = options.invariants ?? [...INVARIANTS.keys()];
  const out: Violation[] = [];
  for (const name of names) {
    const check = INVARIANTS.get(name);
    if (!check) throw new Error(`unknown invariant ${JSON.stringify(name)}`);
    out.push(...check(history, final, options));
  }
  return out;
}

/** A report: counts per invariant, then each violation (up to `max`) with the history around it. */
export function formatViolations(violations: Violation[], history: History, max = 10): string {
  if (violations.length === 0) return 'no violations';
  const counts = new Map<string, number>();
  for (const v of violations) counts.set(v.invariant, (counts.get(v.invariant) ?? 0) + 1);
  const lines = [
    `${violations.length} violations: ${[...counts].map(([name, n]) => `${name} ×${n}`).join(', ')}`,
  ];
  for (const v of violations.slice(0, max)) {
    lines.push(
      '',
      `✗ ${v.invariant}: ${v.message}${v.ops?.length ? ` [ops ${v.ops.map((id) => `#${id}`).join(' ')}]` : ''}`,
    );
    if (v.at !== undefined) lines.push(indent(history.around(v.at)));
  }
  if (violations.length > max) lines.push('', `… ${violations.length - max} more violations`);
  return lines.join('\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}
