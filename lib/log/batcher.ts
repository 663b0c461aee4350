import type { Appender, AppendRequest } from './appender.js';

export interface BatcherOptions {
  /** How long the first request of a flush waits for others to join it. */
  lingerMs: number;
  /** A flush starts at once when its records reach this many bytes. */
  maxFlushBytes: number;
  /** At most this many partitions plus idempotency records in one flush (the atomic commit's bound). */
  maxFlushPartitions: number;
  /** Flushes writing to S3 at the same time; commits still run one at a time. */
  maxInFlight: number;
}

interface Pending {
  request: AppendRequest;
  resolve: (partitions: Map<number, { baseOffset: number }>) => void;
  reject: (error: unknown) => void;
}

/**
 * Merges concurrent produce requests of the long-running server (agent mode) into one segment per flush,
 * bounded by a linger time and a size, while each request still commits atomically and is answered only
 * after its own commit. A Lambda never uses it: it flushes at the end of each request.
 */
export class ProduceBatcher {
  private pending: Pending[] = [];
  private pendingBytes = 0;
  private readonly pendingPartitions = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private ready = false;
  private inFlight = 0;
  private readonly idle: Array<() => void> = [];

  constructor(
    private readonly appender: Appender,
    private readonly options: BatcherOptions,
  ) {}

  submit(request: AppendRequest, bytes: number): Promise<Map<number, { baseOffset: number }>> {
    const partitions = request.batches.map((b) => `${request.topic.topicId}/${b.partition}`);
    // Every partition and every idempotency record is one item of the atomic commit.
    const added =
      partitions.filter((p) => !this.pendingPartitions.has(p)).length + (request.completion ? 1 : 0);
    if (this.pending.length > 0 && this.pendingItems() + added > this.options.maxFlushPartitions) {
      this.cut();
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ request, resolve, reject });
      this.pendingBytes += bytes;
      for (const p of partitions) this.pendingPartitions.add(p);
      if (this.pendingBytes >= this.options.maxFlushBytes || this.options.lingerMs <= 0) {
        this.trigger();
      } else {
        this.timer ??= setTimeout(() => this.trigger(), this.options.lingerMs);
      }
    });
  }

  private pendingItems(): number {
    return this.pendingPartitions.size + this.pending.filter((p) => p.request.completion).length;
  }

  /** Resolves when every submitted request has been answered. */
  async drain(): Promise<void> {
    if (this.pending.length > 0) this.trigger();
    if (this.pending.length === 0 && this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
    return this.drain();
  }

  private trigger(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.pending.length === 0) return;
    if (this.inFlight >= this.options.maxInFlight) {
      this.ready = true; // flushed as soon as a slot frees up, by then likely bigger
      return;
    }
    this.cut();
  }

  /** Starts a flush of everything pending now. */
  private cut(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const flush = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingPartitions.clear();
    this.ready = false;
    if (flush.length === 0) return;
    this.inFlight += 1;
    this.appender
      .append(flush.map((p) => p.request))
      .then(
        (results) => {
          results.forEach((result, i) => {
            const pending = flush[i];
            if (!pending) return;
            if (result.ok) pending.resolve(result.partitions);
            else pending.reject(result.error);
          });
        },
        (error: unknown) => {
          for (const p of flush) p.reject(error);
        },
      )
      .finally(() => {
        this.inFlight -= 1;
        if (this.ready || (this.pending.length > 0 && this.pendingBytes >= this.options.maxFlushBytes)) {
          this.trigger();
        }
        if (this.inFlight === 0 && this.pending.length === 0) {
          for (const resolve of this.idle.splice(0)) resolve();
        }
      });
  }
}
