import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/**
 * What the Log counts while it serves requests: records and bytes produced and fetched, per topic. The
 * counts are kept in memory and written out by `publish()`, which the HTTP layer calls when a request ends
 * (and a live tail when its stream ends), so a Lambda invocation's counts are written inside it.
 */
export interface LogMetrics {
  /** Records appended by a produce call (a replayed idempotent call appends nothing and is not counted). */
  produced(topic: string, records: number, bytes: number): void;
  /** Records returned by a fetch, a group member's fetch or a live tail. */
  fetched(topic: string, records: number, bytes: number): void;
  /** Writes what was counted since the last publish, one line per topic, and starts over. */
  publish(): void;
}

/** Counts nothing: the default (the local server, tests that do not look at metrics). */
export const NO_METRICS: LogMetrics = {
  produced() {},
  fetched() {},
  publish() {},
};

/** Where metric lines go and what they are filed under. */
export interface EmfOptions {
  /** The CloudWatch namespace (`Sluice`). */
  namespace: string;
  /** The `service` dimension on every metric: the stack's name, so that stacks sharing an account differ. */
  service: string;
  /** Receives one JSON line per call; default: standard output, which Lambda sends to CloudWatch Logs. */
  write?: (line: string) => void;
  /** Milliseconds since the epoch; default Date.now. */
  now?: () => number;
  /**
   * Counts older than this are published by the next count instead of waiting for `publish()`: what a live
   * tail of many minutes would otherwise hold back. Default 60 s.
   */
  maxHoldMs?: number;
}

/** One metric of an EMF line. */
export interface MetricValue {
  name: string;
  unit: 'Count' | 'Bytes';
  value: number;
}

/**
 * Writes CloudWatch Embedded Metric Format lines: JSON log lines that CloudWatch Logs turns into metrics,
 * with no PutMetricData call and no extra permission. The EMF document itself is built by Powertools for AWS
 * Lambda (`serializeMetrics`), which validates names, units and dimension limits; this class only owns where
 * the line goes.
 */
export class EmfWriter {
  private readonly metrics: Metrics;
  private readonly write: (line: string) => void;

  constructor(options: EmfOptions) {
    this.metrics = new Metrics({
      namespace: options.namespace,
      serviceName: options.service,
      logger: {
        // Powertools reports dropped metrics and dimensions through this logger; keep them as log lines.
        warn: (...args: unknown[]) => console.warn('[metrics]', ...args),
        error: (...args: unknown[]) => console.error('[metrics]', ...args),
        info: () => {},
        debug: () => {},
      },
    });
    this.write = options.write ?? ((line) => process.stdout.write(`${line}\n`));
  }

  /**
   * One line holding `values` under `dimensions` (plus `service`), and, with `alsoWithout`, under each
   * listed subset of them too, so that CloudWatch keeps a total alongside the breakdown at no extra line.
   */
  emit(
    dimensions: Record<string, string>,
    values: readonly MetricValue[],
    alsoWithout: ReadonlyArray<Record<string, string>> = [],
    timestamp?: number,
  ): void {
    if (values.length === 0) return;
    try {
      this.metrics.addDimensions(dimensions);
      for (const subset of alsoWithout) this.metrics.addDimensions(subset);
      for (const v of values) this.metrics.addMetric(v.name, MetricUnit[v.unit], v.value);
      if (timestamp !== undefined) this.metrics.setTimestamp(timestamp);
      this.write(JSON.stringify(this.metrics.serializeMetrics()));
    } finally {
      this.metrics.clearMetrics();
      this.metrics.clearDimensions();
    }
  }
}

interface TopicCounts {
  producedRecords: number;
  producedBytes: number;
  fetchedRecords: number;
  fetchedBytes: number;
}

/**
 * The Log's counts as EMF lines: per topic `ProducedRecords`, `ProducedBytes`, `FetchedRecords` and
 * `FetchedBytes` (sums), each under the dimensions {service, topic} and {service} (the stack's total).
 * A publish writes one line per topic that had any traffic and nothing when there was none.
 */
export class EmfMetrics implements LogMetrics {
  private readonly writer: EmfWriter;
  private readonly now: () => number;
  private readonly maxHoldMs: number;
  private readonly counts = new Map<string, TopicCounts>();
  private oldestCount: number | undefined;

  constructor(options: EmfOptions) {
    this.writer = new EmfWriter(options);
    this.now = options.now ?? Date.now;
    this.maxHoldMs = options.maxHoldMs ?? 60_000;
  }

  produced(topic: string, records: number, bytes: number): void {
    const counts = this.countsOf(topic);
    counts.producedRecords += records;
    counts.producedBytes += bytes;
  }

  fetched(topic: string, records: number, bytes: number): void {
    if (records === 0) return;
    const counts = this.countsOf(topic);
    counts.fetchedRecords += records;
    counts.fetchedBytes += bytes;
  }

  publish(): void {
    const timestamp = this.now();
    const counts = [...this.counts];
    this.counts.clear();
    this.oldestCount = undefined;
    for (const [topic, c] of counts) {
      const values: MetricValue[] = [];
      if (c.producedRecords > 0) {
        values.push({ name: 'ProducedRecords', unit: 'Count', value: c.producedRecords });
        values.push({ name: 'ProducedBytes', unit: 'Bytes', value: c.producedBytes });
      }
      if (c.fetchedRecords > 0) {
        values.push({ name: 'FetchedRecords', unit: 'Count', value: c.fetchedRecords });
        values.push({ name: 'FetchedBytes', unit: 'Bytes', value: c.fetchedBytes });
      }
      this.writer.emit({ topic }, values, [{}], timestamp);
    }
  }

  private countsOf(topic: string): TopicCounts {
    const now = this.now();
    if (this.oldestCount !== undefined && now - this.oldestCount >= this.maxHoldMs) this.publish();
    this.oldestCount ??= now;
    let counts = this.counts.get(topic);
    if (!counts) {
      counts = { producedRecords: 0, producedBytes: 0, fetchedRecords: 0, fetchedBytes: 0 };
      this.counts.set(topic, counts);
    }
    return counts;
  }
}

/** Bytes of records as both produce and fetch count them: keys, values, header names and values. */
export function recordBytes(
  records: ReadonlyArray<{
    key: Buffer | null;
    value: Buffer | null;
    headers: Readonly<Record<string, string>>;
  }>,
): number {
  let bytes = 0;
  for (const record of records) {
    bytes += (record.key?.length ?? 0) + (record.value?.length ?? 0) + headerBytes(record.headers);
  }
  return bytes;
}

/** Bytes of a record's header names and values (UTF-8). */
export function headerBytes(headers: Readonly<Record<string, string>>): number {
  let bytes = 0;
  for (const name in headers) bytes += Buffer.byteLength(name) + Buffer.byteLength(headers[name] ?? '');
  return bytes;
}
