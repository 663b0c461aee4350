import { partitionForKey } from '../lib/partitioner.js';
import { type HttpClient, segment } from './http.js';
import type { ProduceRecord, RecordAck, RecordFormat, Topic } from './types.js';

/** The server's request body limit (SPEC §3: 6 MiB, Lambda's synchronous limit). */
export const MAX_REQUEST_BYTES = 6 * 1024 * 1024;
/** Room kept under the request limit for the envelope (`{"records":[…],"format":…}`, commas). */
const ENVELOPE_BYTES = 1024;
/** The server's default bound on the partitions one produce request may touch (docs/API.md Limits). */
export const DEFAULT_MAX_PARTITIONS_PER_REQUEST = 100;
/** The server's bound on records per produce request (SPEC §3). */
export const MAX_RECORDS_PER_REQUEST = 10_000;

export interface ProducerOptions {
  /** How long a send waits for others to join its request (default 5 ms; Kafka's `linger.ms`). */
  lingerMs?: number;
  /** At most this many records per request (default and maximum 10,000). */
  maxBatchRecords?: number;
  /** At most about this many bytes of records per request (default 1 MiB; at most 6 MiB less 1 KiB). */
  maxBatchBytes?: number;
  /**
   * Bytes of records buffered or in flight at most (default 32 MiB): a `send` beyond it waits until
   * requests complete (backpressure), instead of buffering without bound. One send larger than this alone
   * is let through when nothing else is buffered.
   */
  maxInFlightBytes?: number;
  /**
   * The server's bound on the partitions one produce request may touch (default 100, the server's default;
   * set it to the server's if that was changed). As every request carries an Idempotency-Key, whose record
   * takes one item of the atomic commit, batches are split to touch at most one partition less.
   */
  maxPartitionsPerRequest?: number;
}

/** Options of one `send`. */
export interface SendOptions {
  /** How the values are given (default `json`). Sends of different formats never share a request. */
  format?: RecordFormat;
}

interface Pending {
  record: ProduceRecord;
  bytes: number;
  resolve: (ack: RecordAck) => void;
  reject: (error: unknown) => void;
}

/** The queue of one (topic, format): records wait here for their request; one request is in flight at most. */
interface Queue {
  topic: string;
  format: RecordFormat;
  pending: Pending[];
  pendingBytes: number;
  /** When the oldest pending record arrived (its linger runs from then). */
  since: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The drain loop of this queue, while it runs. */
  draining: Promise<void> | undefined;
  /** Set by flush(): send what is pending without waiting for the linger. */
  urgent: boolean;
}

const encoder = new TextEncoder();

/** The bytes a record takes in a request body (its JSON, plus a comma). */
function recordBytes(record: ProduceRecord): number {
  return encoder.encode(JSON.stringify(record)).length + 1;
}

/**
 * A batching producer (`sluice.producer()`). Concurrent sends to one topic merge into one request; every
 * request carries an `Idempotency-Key` (a random UUID) that its retries reuse verbatim, so a retry after a
 * timeout or a lost answer never appends twice; 429/503/network failures are retried with jittered
 * exponential backoff honouring `Retry-After`; a 4xx other than 429 rejects the sends of that request.
 * Per (topic, format) one request is in flight at a time, so records keep the order they were sent in.
 */
export class Producer {
  private readonly lingerMs: number;
  private readonly maxBatchRecords: number;
  private readonly maxBatchBytes: number;
  private readonly maxInFlightBytes: number;
  private readonly maxPartitionsPerRequest: number;
  /** Keyed by topic and format; topic names are data (a Map, never an object's keys). */
  private readonly queues = new Map<string, Queue>();
  private buffered = 0;
  private readonly waiters: Array<{ bytes: number; wake: () => void }> = [];
  private closed = false;
  private requests = 0;
  /** Wakes a queue's drain loop out of its linger (a full batch, a flush). */
  private readonly lingerWake = new Map<Queue, () => void>();

  constructor(
    private readonly http: HttpClient,
    options: ProducerOptions = {},
  ) {
    this.lingerMs = options.lingerMs ?? 5;
    this.maxBatchRecords = Math.min(
      options.maxBatchRecords ?? MAX_RECORDS_PER_REQUEST,
      MAX_RECORDS_PER_REQUEST,
    );
    this.maxBatchBytes = Math.min(options.maxBatchBytes ?? 1024 * 1024, MAX_REQUEST_BYTES - ENVELOPE_BYTES);
    this.maxInFlightBytes = options.maxInFlightBytes ?? 32 * 1024 * 1024;
    // Every request carries an Idempotency-Key, whose record takes one item of the atomic commit.
    this.maxPartitionsPerRequest =
      (options.maxPartitionsPerRequest ?? DEFAULT_MAX_PARTITIONS_PER_REQUEST) - 1;
    for (const [name, value] of Object.entries({
      lingerMs: this.lingerMs,
      maxBatchRecords: this.maxBatchRecords,
      maxBatchBytes: this.maxBatchBytes,
      maxInFlightBytes: this.maxInFlightBytes,
      maxPartitionsPerRequest: this.maxPartitionsPerRequest,
    })) {
      if (!Number.isFinite(value) || value < (name === 'lingerMs' ? 0 : 1)) {
        // maxPartitionsPerRequest is checked less the idempotency record's item: the bound must be ≥ 2.
        throw new RangeError(
          `producer option ${name} must be a ${name === 'lingerMs' ? 'non-negative' : 'positive'} number`,
        );
      }
    }
  }

  /** Bytes of records accepted by `send` and not yet answered (buffered or in flight). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Produce requests sent so far (retries not counted). */
  get requestCount(): number {
    return this.requests;
  }

  /**
   * Produces `records` to `topic`; resolves with one `{ partition, offset, timestamp }` per record, in the
   * records' order, once every one is durable. Waits first while `maxInFlightBytes` are buffered. The
   * records may be split over several requests (each atomic on the server), and merged with other sends.
   */
  async send(
    topic: string,
    records: readonly ProduceRecord[],
    options: SendOptions = {},
  ): Promise<RecordAck[]> {
    if (this.closed) throw new Error('the producer is closed');
    if (records.length === 0) return [];
    const format = options.format ?? 'json';
    const sized = records.map((record) => ({ record, bytes: recordBytes(record) }));
    const total = sized.reduce((sum, r) => sum + r.bytes, 0);
    await this.reserve(total);
    const queue = this.queueOf(topic, format);
    const acks = sized.map(
      ({ record, bytes }) =>
        new Promise<RecordAck>((resolve, reject) => {
          queue.pending.push({ record, bytes, resolve, reject });
        }),
    );
    if (queue.pending.length === sized.length) queue.since = Date.now();
    queue.pendingBytes += total;
    this.schedule(queue);
    return Promise.all(acks);
  }

  /** Sends everything pending now (no linger) and resolves when every send so far is answered. */
  async flush(): Promise<void> {
    for (;;) {
      const busy = [...this.queues.values()].filter((q) => q.pending.length > 0 || q.draining);
      if (busy.length === 0) return;
      for (const queue of busy) {
        queue.urgent = true;
        this.schedule(queue);
      }
      await Promise.allSettled(busy.map((q) => q.draining));
    }
  }

  /** Flushes what is pending, then refuses further sends. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  /** Waits until `bytes` more fit under maxInFlightBytes (FIFO, so a large send is not starved). */
  private async reserve(bytes: number): Promise<void> {
    const fits = () => this.buffered === 0 || this.buffered + bytes <= this.maxInFlightBytes;
    if (this.waiters.length === 0 && fits()) {
      this.buffered += bytes;
      return;
    }
    await new Promise<void>((wake) => this.waiters.push({ bytes, wake }));
  }

  private release(bytes: number): void {
    this.buffered -= bytes;
    while (this.waiters.length > 0) {
      const next = this.waiters[0] as { bytes: number; wake: () => void };
      if (this.buffered !== 0 && this.buffered + next.bytes > this.maxInFlightBytes) break;
      this.waiters.shift();
      this.buffered += next.bytes;
      next.wake();
    }
  }

  private queueOf(topic: string, format: RecordFormat): Queue {
    const id = `${format}\u0000${topic}`;
    let queue = this.queues.get(id);
    if (!queue) {
      queue = {
        topic,
        format,
        pending: [],
        pendingBytes: 0,
        since: 0,
        timer: undefined,
        draining: undefined,
        urgent: false,
      };
      this.queues.set(id, queue);
    }
    return queue;
  }

  /** Starts the queue's drain loop if it is not running. */
  private schedule(queue: Queue): void {
    if (queue.draining) {
      // A full batch, or a flush, cuts the linger short.
      if ((queue.urgent || this.full(queue)) && queue.timer) this.fire(queue);
      return;
    }
    queue.draining = this.drain(queue).finally(() => {
      queue.draining = undefined;
      if (queue.pending.length > 0) this.schedule(queue);
      else if (!this.closed) queue.urgent = false;
    });
  }

  private full(queue: Queue): boolean {
    return queue.pending.length >= this.maxBatchRecords || queue.pendingBytes >= this.maxBatchBytes;
  }

  private fire(queue: Queue): void {
    if (queue.timer) clearTimeout(queue.timer);
    queue.timer = undefined;
    this.lingerWake.get(queue)?.();
  }

  /** Sends the queue's batches one request at a time until it is empty. */
  private async drain(queue: Queue): Promise<void> {
    while (queue.pending.length > 0) {
      const wait = queue.since + this.lingerMs - Date.now();
      if (wait > 0 && !queue.urgent && !this.full(queue)) {
        await new Promise<void>((resolve) => {
          this.lingerWake.set(queue, resolve);
          queue.timer = setTimeout(() => this.fire(queue), wait);
        });
        this.lingerWake.delete(queue);
      }
      // Records left behind (a full request, the partition bound) waited already: no second linger.
      const batch = await this.takeBatch(queue);
      if (batch.length === 0) continue;
      await this.sendBatch(queue, batch);
    }
  }

  /**
   * Takes what fits one request from the queue, in order: maxBatchRecords, maxBatchBytes, and at most
   * maxPartitionsPerRequest partitions (the records of further partitions wait for the next request). Keyed records are placed as the server places them (Kafka's murmur2,
   * lib/partitioner.ts) over the topic's partition count, read when a batch has more distinct keys than the
   * bound (never cached: a count read per such batch is never stale for long); all null-key records of a
   * request go to one partition (sticky), so they count as one.
   */
  private async takeBatch(queue: Queue): Promise<Pending[]> {
    let partitionCount: number | undefined;
    const keys = new Set<string>();
    for (const p of queue.pending.slice(0, this.maxBatchRecords)) {
      if (p.record.key !== undefined && p.record.key !== null && p.record.partition === undefined) {
        keys.add(p.record.key);
        if (keys.size >= this.maxPartitionsPerRequest) break;
      }
    }
    if (keys.size >= this.maxPartitionsPerRequest) {
      try {
        partitionCount = (await this.http.request<Topic>('GET', `/v1/topics/${segment(queue.topic)}`)).body
          .partitions;
      } catch {
        // The topic is unknown (or unreadable): split by distinct key, and let the server say why.
        partitionCount = undefined;
      }
    }
    // Records of partitions beyond the bound stay for the next request; a partition's records are taken in
    // order (a partition left out is left out whole), so order within a partition is kept.
    const touched = new Set<string>();
    const batch: Pending[] = [];
    const left: Pending[] = [];
    let bytes = 0;
    let index = 0;
    for (; index < queue.pending.length; index++) {
      const p = queue.pending[index] as Pending;
      if (batch.length >= this.maxBatchRecords) break;
      if (batch.length > 0 && bytes + p.bytes > this.maxBatchBytes) break;
      const where = this.placement(p.record, partitionCount);
      if (!touched.has(where) && touched.size >= this.maxPartitionsPerRequest) {
        left.push(p);
        continue;
      }
      touched.add(where);
      bytes += p.bytes;
      batch.push(p);
    }
    queue.pending = [...left, ...queue.pending.slice(index)];
    queue.pendingBytes -= bytes;
    return batch;
  }

  /** A name for the partition a record lands on, as far as the client can tell (conservative). */
  private placement(record: ProduceRecord, partitions: number | undefined): string {
    if (record.partition !== undefined) return `p${record.partition}`;
    if (record.key === undefined || record.key === null) return 'sticky';
    if (partitions === undefined) return `k${record.key}`;
    return `p${partitionForKey(encoder.encode(record.key), partitions)}`;
  }

  /** One produce request with its retries (same Idempotency-Key); settles every send of the batch. */
  private async sendBatch(queue: Queue, batch: Pending[]): Promise<void> {
    const bytes = batch.reduce((sum, p) => sum + p.bytes, 0);
    this.requests++;
    try {
      const response = await this.http.request<{ offsets: RecordAck[] }>(
        'POST',
        `/v1/topics/${segment(queue.topic)}/records`,
        {
          body: {
            records: batch.map((p) => p.record),
            ...(queue.format !== 'json' ? { format: queue.format } : {}),
          },
          headers: { 'idempotency-key': crypto.randomUUID() },
          retry: true,
          // 409 CONFLICT: the same key is still in flight (an earlier attempt that timed out): ask again.
          retryStatuses: [409],
        },
      );
      batch.forEach((p, i) => {
        const ack = response.body.offsets[i];
        if (ack) p.resolve(ack);
        else p.reject(new Error('the server answered fewer offsets than records'));
      });
    } catch (error) {
      for (const p of batch) p.reject(error);
    } finally {
      this.release(bytes);
    }
  }
}
