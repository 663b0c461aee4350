import { SluiceError } from './errors.js';
import { type HttpClient, segment } from './http.js';
import type {
  CommitOffset,
  ConsumerRecord,
  Heartbeat,
  Joined,
  MemberFetchResult,
  TopicPartition,
} from './types.js';

export interface ConsumerOptions {
  group: string;
  topics: string[];
  /** Where this member starts on a partition it owns that has no committed offset (default `latest`). */
  autoOffsetReset?: 'earliest' | 'latest';
  /** The member's session (1,000–300,000 ms; default 30,000): heartbeats keep it alive in the background. */
  sessionTimeoutMs?: number;
  /** At most this many records per fetch (default 500). */
  maxRecords?: number;
  /** At most about this many bytes per fetch (default 1 MiB). */
  maxBytes?: number;
  /** Long-poll up to this long for records (default 5,000 ms; at most 20,000). */
  waitMs?: number;
  /** The member id to join under (default a random UUID); joins are retried safely under it. */
  memberId?: string;
  /** Told the partitions this member gained: after the first join, a rebalance, a re-join. */
  onAssigned?: (partitions: TopicPartition[]) => void | Promise<void>;
  /**
   * Told the partitions this member lost, before the next fetch: at a rebalance (after what was processed of
   * them was committed, where the server still allowed it), at a lost session, and at close.
   */
  onRevoked?: (partitions: TopicPartition[]) => void | Promise<void>;
}

const tpKey = (tp: TopicPartition) => `${tp.partition}\u0000${tp.topic}`;

function minus(a: readonly TopicPartition[], b: readonly TopicPartition[]): TopicPartition[] {
  const inB = new Set(b.map(tpKey));
  return a.filter((tp) => !inB.has(tpKey(tp)));
}

const isCode = (error: unknown, ...codes: string[]): error is SluiceError =>
  error instanceof SluiceError && codes.includes(error.code);

/**
 * A consumer-group member (`sluice.consumer()`): an async iterator of records (and `.batches()`).
 *
 * Delivery is at-least-once, and a record is committed only after the iterator moved past it: records are
 * fetched a batch at a time and only once the previous batch was passed (no read-ahead), so the cursor a
 * fetch sends with `commit=true` covers exactly the records the user already received and moved past. A
 * `break` out of the loop stops on the record being processed: it is not committed (it is redelivered).
 * Heartbeats run in the background while a batch is processed; a changed assignment, 409
 * REBALANCE_IN_PROGRESS or FENCED commits what was processed of the partitions kept, heartbeats, calls the
 * callbacks and fetches again without a cursor (from the committed offsets: nothing is skipped); a 404
 * UNKNOWN_MEMBER (session expired) re-joins.
 */
export class Consumer implements AsyncIterable<ConsumerRecord> {
  readonly group: string;
  private readonly options: ConsumerOptions;
  private memberIdValue: string;
  private generationValue = 0;
  private assigned: TopicPartition[] = [];
  private heartbeatIntervalMs = 3_000;
  private joined = false;
  private cursor: string | undefined;
  /** The next offset of each partition's last record the user moved past, not yet known to be committed. */
  private readonly processed = new Map<string, CommitOffset>();
  private rebalanceDue = false;
  private heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Aborts the fetch or join in flight (close, abort). */
  private readonly stop = new AbortController();

  constructor(
    private readonly http: HttpClient,
    options: ConsumerOptions,
  ) {
    if (options.topics.length === 0) throw new RangeError('a consumer needs at least one topic');
    this.group = options.group;
    this.options = options;
    this.memberIdValue = options.memberId ?? crypto.randomUUID();
  }

  get memberId(): string {
    return this.memberIdValue;
  }

  get generation(): number {
    return this.generationValue;
  }

  /** The partitions this member owns, as far as it knows. */
  get assignments(): TopicPartition[] {
    return [...this.assigned];
  }

  private get base(): string {
    return `/v1/groups/${segment(this.group)}/members/${segment(this.memberIdValue)}`;
  }

  /** Records one at a time; leaving the loop (`break`, `return`, a throw) closes the consumer. */
  async *[Symbol.asyncIterator](): AsyncGenerator<ConsumerRecord, void, undefined> {
    try {
      for (;;) {
        const batch = await this.nextBatch();
        if (batch === undefined) return;
        for (const record of batch) {
          yield record;
          // The user asked for the next record: this one is processed (unless the consumer was closed or
          // aborted meanwhile: then nothing more is handed out, and nothing more marked).
          if (this.closed) return;
          this.markProcessed(record);
        }
      }
    } finally {
      await this.close();
    }
  }

  /** Batches (each fetch's records); asking for the next batch marks the previous one processed. */
  async *batches(): AsyncGenerator<ConsumerRecord[], void, undefined> {
    try {
      for (;;) {
        const batch = await this.nextBatch();
        if (batch === undefined) return;
        yield batch;
        if (this.closed) return;
        for (const record of batch) this.markProcessed(record);
      }
    } finally {
      await this.close();
    }
  }

  /**
   * Commits what was processed (the records the iterator moved past; with `through`, also that record and
   * those before it in its partition). Partitions this member no longer owns are not committed (their new
   * owner redelivers from the committed offset: at-least-once).
   */
  async commit(through?: ConsumerRecord): Promise<void> {
    if (through) this.markProcessed(through);
    await this.commitProcessed();
  }

  /** Commits what was processed, leaves the group (its partitions move at once) and ends the iterators. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /**
   * Drops the consumer as a crash would: stops heartbeats and fetches at once, commits nothing and does not
   * leave (its partitions move when its session expires).
   */
  abort(): void {
    this.closed = true;
    this.stopHeartbeats();
    this.stop.abort(new Error('consumer aborted'));
    this.closing ??= Promise.resolve();
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.stopHeartbeats();
    this.stop.abort(new Error('consumer closed'));
    if (!this.joined) return;
    try {
      await this.commitProcessed();
    } catch {
      // Not committed: redelivered to the next owner (at-least-once).
    }
    const owned = this.assigned;
    this.joined = false;
    this.assigned = [];
    try {
      await this.options.onRevoked?.(owned);
    } finally {
      await this.http.request('DELETE', this.base, { retry: true, accept: [404] }).catch(() => undefined);
    }
  }

  private markProcessed(record: ConsumerRecord): void {
    const key = tpKey(record);
    const known = this.processed.get(key);
    if (!known || known.offset < record.offset + 1) {
      this.processed.set(key, {
        topic: record.topic,
        partition: record.partition,
        offset: record.offset + 1,
      });
    }
  }

  /**
   * Commits the processed positions with the member's generation: partitions kept since then are accepted
   * even after a rebalance; the ones that moved are FENCED (the others are committed all the same).
   */
  private async commitProcessed(): Promise<void> {
    if (!this.joined || this.processed.size === 0) return;
    const offsets = [...this.processed.values()];
    try {
      for (let i = 0; i < offsets.length; i += 1000) {
        await this.http.request('POST', `/v1/groups/${segment(this.group)}/commits`, {
          body: {
            memberId: this.memberIdValue,
            generation: this.generationValue,
            offsets: offsets.slice(i, i + 1000),
          },
          retry: true,
        });
      }
    } catch (error) {
      if (isCode(error, 'FENCED', 'REBALANCE_IN_PROGRESS')) {
        this.rebalanceDue = true;
      } else if (isCode(error, 'UNKNOWN_MEMBER')) {
        await this.lost();
        return;
      } else {
        throw error;
      }
    }
    for (const o of offsets) {
      if (this.processed.get(tpKey(o))?.offset === o.offset) this.processed.delete(tpKey(o));
    }
  }

  /**
   * The next non-empty batch, or undefined once the consumer is closed. Joins, rebalances and re-joins as
   * the server asks; only ever called when every record handed out before was moved past.
   */
  private async nextBatch(): Promise<ConsumerRecord[] | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      try {
        if (!this.joined) await this.join();
        if (this.rebalanceDue) await this.rebalance();
        if (!this.joined) continue;
        const waitMs = this.options.waitMs ?? 5_000;
        const commit = this.cursor !== undefined;
        const response = await this.http.request<MemberFetchResult>('GET', `${this.base}/records`, {
          query: {
            maxRecords: this.options.maxRecords,
            maxBytes: this.options.maxBytes,
            waitMs,
            ...(commit ? { commit: 'true' } : {}),
          },
          headers: this.cursor !== undefined ? { 'sluice-cursor': this.cursor } : {},
          waitMs,
          retry: true,
          signal: this.stop.signal,
        });
        // The cursor sent with commit=true carried the positions of every record handed out: committed.
        if (commit) this.processed.clear();
        this.cursor = response.body.cursor;
        if (response.body.records.length > 0) return response.body.records;
      } catch (error) {
        if (this.closed) return undefined;
        if (isCode(error, 'UNKNOWN_MEMBER')) await this.lost();
        else if (isCode(error, 'REBALANCE_IN_PROGRESS', 'FENCED')) this.rebalanceDue = true;
        else throw error;
      }
    }
  }

  private async join(): Promise<void> {
    const response = await this.http.request<Joined>('POST', `/v1/groups/${segment(this.group)}/members`, {
      body: {
        topics: this.options.topics,
        memberId: this.memberIdValue,
        ...(this.options.sessionTimeoutMs !== undefined
          ? { sessionTimeoutMs: this.options.sessionTimeoutMs }
          : {}),
        ...(this.options.autoOffsetReset !== undefined
          ? { autoOffsetReset: this.options.autoOffsetReset }
          : {}),
      },
      // The member id is the client's: a join sent again is the same join.
      retry: true,
      signal: this.stop.signal,
    });
    if (this.closed) return;
    this.memberIdValue = response.body.memberId;
    this.generationValue = response.body.generation;
    this.assigned = response.body.assignments;
    this.heartbeatIntervalMs = response.body.heartbeatIntervalMs;
    this.joined = true;
    this.cursor = undefined;
    this.rebalanceDue = false;
    this.processed.clear();
    this.startHeartbeats();
    await this.options.onAssigned?.(this.assignments);
  }

  /**
   * The assignment changed: commit what was processed (kept partitions accept the older generation), learn
   * the new assignment, tell the callbacks, and fetch again without a cursor (from the committed offsets).
   */
  private async rebalance(): Promise<void> {
    this.rebalanceDue = false;
    await this.commitProcessed();
    if (!this.joined) return;
    let beat: Heartbeat;
    try {
      beat = (await this.http.request<Heartbeat>('POST', `${this.base}/heartbeat`, { retry: true })).body;
    } catch (error) {
      if (isCode(error, 'UNKNOWN_MEMBER')) {
        await this.lost();
        return;
      }
      throw error;
    }
    this.rebalanceDue = false;
    const revoked = minus(this.assigned, beat.assignments);
    const gained = minus(beat.assignments, this.assigned);
    this.generationValue = beat.generation;
    this.assigned = beat.assignments;
    this.cursor = undefined;
    for (const tp of revoked) this.processed.delete(tpKey(tp));
    if (revoked.length > 0) await this.options.onRevoked?.(revoked);
    if (gained.length > 0) await this.options.onAssigned?.(gained);
  }

  /** The session expired (404 UNKNOWN_MEMBER): everything owned is lost; the next call joins again. */
  private async lost(): Promise<void> {
    const owned = this.assigned;
    this.joined = false;
    this.assigned = [];
    this.cursor = undefined;
    this.processed.clear();
    this.stopHeartbeats();
    if (owned.length > 0) await this.options.onRevoked?.(owned);
  }

  private startHeartbeats(): void {
    this.stopHeartbeats();
    const beat = async () => {
      this.heartbeatTimer = undefined;
      if (this.closed || !this.joined) return;
      try {
        const response = await this.http.request<Heartbeat>('POST', `${this.base}/heartbeat`, {
          retry: false,
          signal: this.stop.signal,
        });
        const { generation, assignments } = response.body;
        if (minus(assignments, this.assigned).length > 0 || minus(this.assigned, assignments).length > 0) {
          this.rebalanceDue = true;
        } else {
          this.generationValue = Math.max(this.generationValue, generation);
        }
      } catch (error) {
        // UNKNOWN_MEMBER: the next fetch learns it too and re-joins. Anything else: try again next beat.
        if (isCode(error, 'UNKNOWN_MEMBER')) this.rebalanceDue = true;
      }
      if (!this.closed && this.joined && this.heartbeatTimer === undefined) {
        this.heartbeatTimer = setTimeout(beat, this.heartbeatIntervalMs);
      }
    };
    this.heartbeatTimer = setTimeout(beat, this.heartbeatIntervalMs);
  }

  private stopHeartbeats(): void {
    if (this.heartbeatTimer !== undefined) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }
}
