import { randomBytes } from 'node:crypto';
import { Bar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { type Context, withContext } from '../context.js';
import { type Io, printJson, printTable } from '../format.js';
import { positiveIntegerOption } from '../parse.js';

interface BenchOptions {
  mib: number;
  recordBytes: number;
  partitions: number;
  keep?: boolean;
}

interface PhaseResult {
  phase: 'produce' | 'consume';
  records: number;
  bytes: number;
  seconds: number;
  /** Latencies of the phase's operations in ms: produce, send → acknowledged; consume, ask → batch. */
  latenciesMs: number[];
  /** Records and bytes the rates are computed from (consume: those after the first batch). */
  timedRecords: number;
  timedBytes: number;
}

/** The nearest-rank percentile of `values` (ms), or null for none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? null;
}

const MIB = 1024 * 1024;
const CHUNK_RECORDS = 500;
/**
 * Sends awaiting acknowledgement at once: enough for the producer to fill its next request while one is in
 * flight, few enough that a send's latency is the request's, not a queue of our own making.
 */
const CHUNKS_IN_FLIGHT = 4;

/**
 * Progress on stderr: a live bar on a terminal, otherwise a plain line at each quarter (logs and CI stay
 * readable).
 */
class Progress {
  private bar: Bar | undefined;
  private nextQuarter = 1;

  constructor(
    private readonly io: Io,
    private readonly phase: string,
    private readonly total: number,
  ) {
    if ((io.stderr as { isTTY?: boolean }).isTTY === true) {
      this.bar = new Bar(
        {
          format: `${phase.padEnd(8)} [{bar}] {percentage}% | {value}/{total} records | {eta_formatted} left`,
          stream: io.stderr as NodeJS.WriteStream,
        },
        Presets.shades_classic,
      );
      this.bar.start(total, 0);
    }
  }

  update(done: number): void {
    if (this.bar) {
      this.bar.update(done);
      return;
    }
    while (this.nextQuarter <= 4 && done >= (this.total * this.nextQuarter) / 4) {
      this.io.stderr.write(`${this.phase}: ${this.nextQuarter * 25}% (${done}/${this.total} records)\n`);
      this.nextQuarter++;
    }
  }

  stop(): void {
    this.bar?.stop();
  }
}

async function producePhase(
  ctx: Context,
  topic: string,
  records: number,
  recordBytes: number,
): Promise<PhaseResult> {
  // Values of random text, so that no compression along the way flatters the numbers; 64 of them, reused.
  const values = Array.from({ length: 64 }, () =>
    randomBytes(recordBytes).toString('base64').slice(0, recordBytes),
  );
  const producer = ctx.sluice.producer({ lingerMs: 5 });
  const progress = new Progress(ctx.io, 'produce', records);
  const latenciesMs: number[] = [];
  const pending: Promise<void>[] = [];
  let acked = 0;
  const started = performance.now();
  try {
    for (let i = 0; i < records; i += CHUNK_RECORDS) {
      const chunk = Array.from({ length: Math.min(CHUNK_RECORDS, records - i) }, (_, j) => ({
        key: `key-${i + j}`,
        value: values[(i + j) % values.length] ?? '',
      }));
      const sentAt = performance.now();
      const acknowledged = producer.send(topic, chunk, { format: 'text' }).then((acks) => {
        latenciesMs.push(performance.now() - sentAt);
        acked += acks.length;
        progress.update(acked);
      });
      acknowledged.catch(() => undefined);
      pending.push(acknowledged);
      while (pending.length >= CHUNKS_IN_FLIGHT) await pending.shift();
    }
    for (const p of pending.splice(0)) await p;
    await producer.close();
  } finally {
    progress.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  const bytes = records * recordBytes;
  return { phase: 'produce', records, bytes, seconds, latenciesMs, timedRecords: records, timedBytes: bytes };
}

async function consumePhase(
  ctx: Context,
  topic: string,
  group: string,
  records: number,
  recordBytes: number,
): Promise<PhaseResult> {
  const consumer = ctx.sluice.consumer({
    group,
    topics: [topic],
    autoOffsetReset: 'earliest',
    waitMs: 1_000,
    maxRecords: 500,
  });
  const progress = new Progress(ctx.io, 'consume', records);
  const latenciesMs: number[] = [];
  let received = 0;
  let firstBatch = 0;
  let started: number | undefined;
  let asked = performance.now();
  try {
    for await (const batch of consumer.batches()) {
      const now = performance.now();
      // The clock starts when the first batch arrives: a new group's forming window (3 s on the local
      // server) is a one-off wait, not a rate. The rates count the records after that first batch.
      if (started === undefined) {
        started = now;
        firstBatch = batch.length;
      } else latenciesMs.push(now - asked);
      received += batch.length;
      progress.update(Math.min(received, records));
      if (received >= records) break;
      asked = performance.now();
    }
  } finally {
    progress.stop();
    await consumer.close();
  }
  const seconds = started === undefined ? 0 : (performance.now() - started) / 1000;
  return {
    phase: 'consume',
    records: received,
    bytes: received * recordBytes,
    seconds,
    latenciesMs,
    timedRecords: received - firstBatch,
    timedBytes: (received - firstBatch) * recordBytes,
  };
}

export function registerBenchCommand(program: Command, io: Io): void {
  program
    .command('bench')
    .description('produce, then consume, N MiB through the client on a new topic, and print the rates')
    .option('--mib <n>', 'MiB to produce and consume', positiveIntegerOption('--mib'), 16)
    .option('--record-bytes <n>', 'bytes per record value', positiveIntegerOption('--record-bytes'), 1024)
    .option('--partitions <n>', "the bench topic's partitions", positiveIntegerOption('--partitions'), 4)
    .option('--keep', 'keep the bench topic afterwards (it is deleted by default)')
    .addHelpText(
      'after',
      `
Creates a topic sluice-bench-<random>, produces --mib MiB of keyed text records through the client's
batching producer, consumes them as a new consumer group, and prints MiB/s, records/s and the p50/p99
latency of each phase (produce: a send of 500 records until acknowledged; consume: each fetch of a batch
of up to 500). The consume clock starts when the first batch arrives (a new group's forming window, 3 s on
the local server, is not a rate); its rates count the records after that batch. A progress bar on a terminal, plain lines otherwise; --json for the numbers.

Examples:
  $ sluice bench
  $ sluice bench --mib 64 --record-bytes 4096 --partitions 8
  $ sluice --json bench --mib 4`,
    )
    .action(
      withContext(io, async (ctx, options: BenchOptions) => {
        const id = randomBytes(4).toString('hex');
        const topic = `sluice-bench-${id}`;
        const records = Math.max(1, Math.ceil((options.mib * MIB) / options.recordBytes));
        await ctx.sluice.topics.create({ name: topic, partitions: options.partitions });
        let results: PhaseResult[];
        try {
          const produced = await producePhase(ctx, topic, records, options.recordBytes);
          const consumed = await consumePhase(ctx, topic, `sluice-bench-${id}`, records, options.recordBytes);
          results = [produced, consumed];
        } finally {
          if (!options.keep) await ctx.sluice.topics.delete(topic).catch(() => undefined);
        }
        const rows = results.map((r) => ({
          phase: r.phase,
          records: r.records,
          mib: r.bytes / MIB,
          seconds: r.seconds,
          mibPerSecond: r.seconds > 0 && r.timedRecords > 0 ? r.timedBytes / MIB / r.seconds : null,
          recordsPerSecond: r.seconds > 0 && r.timedRecords > 0 ? r.timedRecords / r.seconds : null,
          p50Ms: percentile(r.latenciesMs, 50),
          p99Ms: percentile(r.latenciesMs, 99),
        }));
        if (ctx.json)
          return printJson(ctx.io, {
            topic,
            recordBytes: options.recordBytes,
            partitions: options.partitions,
            phases: rows,
          });
        const fixed = (n: number | null, digits: number) => (n === null ? null : n.toFixed(digits));
        ctx.io.stdout.write(
          `${topic}: ${records} records of ${options.recordBytes} B on ${options.partitions} partition(s)${options.keep ? ' (kept)' : ''}\n`,
        );
        printTable(
          ctx.io,
          ['phase', 'records', 'MiB', 'seconds', 'MiB/s', 'records/s', 'p50 ms', 'p99 ms'],
          rows.map((r) => [
            r.phase,
            r.records,
            fixed(r.mib, 1),
            fixed(r.seconds, 2),
            fixed(r.mibPerSecond, 2),
            fixed(r.recordsPerSecond, 0),
            fixed(r.p50Ms, 1),
            fixed(r.p99Ms, 1),
          ]),
        );
      }),
    );
}
