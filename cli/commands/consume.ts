import type { Command } from 'commander';
import type { ConsumerRecord, PartitionInfo, Sluice } from '../../client/index.js';
import { type Context, withContext } from '../context.js';
import { UsageError } from '../errors.js';
import { compileFormat, type Io, type PrintableRecord, recordJson } from '../format.js';
import { type From, integerOption, parseFrom, positiveIntegerOption } from '../parse.js';

interface ConsumeOptions {
  group?: string;
  partition?: number;
  from?: string;
  follow?: boolean;
  count?: number;
  exitAtEnd?: boolean;
  format: string;
}

/** How long the group mode waits between checks of "every partition read is at its high watermark" (-e). */
const AT_END_POLL_MS = 250;

/**
 * Writes records to stdout in the chosen form, waiting for the pipe to drain (so a slow reader slows the
 * consumer down instead of filling memory), and counts them against `-c`.
 */
class RecordSink {
  printed = 0;
  /** Set when stdout went away (e.g. `| head`): the consumer stops quietly. */
  closed = false;
  private readonly render: (record: PrintableRecord) => Buffer | string;

  constructor(
    private readonly io: Io,
    options: { json: boolean; format: string },
    private readonly limit: number | undefined,
  ) {
    const compiled = compileFormat(options.format);
    this.render = options.json ? (r) => `${recordJson(r)}\n` : compiled;
    io.stdout.on('error', () => {
      this.closed = true;
    });
  }

  get full(): boolean {
    return this.closed || (this.limit !== undefined && this.printed >= this.limit);
  }

  async write(record: PrintableRecord): Promise<void> {
    if (this.full) return;
    this.printed++;
    if (!this.io.stdout.write(this.render(record))) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.io.stdout.off('drain', done);
          this.io.stdout.off('error', done);
          resolve();
        };
        this.io.stdout.once('drain', done);
        this.io.stdout.once('error', done);
      });
    }
  }
}

/** Ctrl-C runs `stop` once (a group member commits and leaves); a second Ctrl-C exits at once. */
function onInterrupt(stop: () => void): () => void {
  let interrupted = false;
  const handler = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    stop();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

export function registerConsumeCommand(program: Command, io: Io): void {
  program
    .command('consume')
    .description('print records of a topic: as a group member, from one partition, or from every partition')
    .argument('<topic>', 'topic name')
    .option(
      '-g, --group <group>',
      'read as a member of this consumer group (commits as it goes; Ctrl-C commits and leaves)',
    )
    .option('-p, --partition <n>', 'read only this partition (no group)', integerOption('--partition'))
    .option(
      '--from <position>',
      'where to start: beginning, end, an offset, or @TIMESTAMP_MS (with --group: beginning or end, for partitions without a committed offset; default end)',
    )
    .option('--follow', 'keep printing new records until Ctrl-C (the default unless -c or -e is given)')
    .option('-c, --count <n>', 'exit after n records', positiveIntegerOption('--count'))
    .option('-e, --exit-at-end', 'exit once every partition read is at its high watermark')
    .option(
      '-f, --format <format>',
      'kcat-style output: %t topic, %p partition, %o offset, %k key, %v value, %T timestamp, %h headers, %s value size; \\n \\t',
      '%v\\n',
    )
    .addHelpText(
      'after',
      `
Without --group or --partition, every partition is read (no group, nothing committed). With --json, each
record is one JSON line ({ topic, partition, offset, timestamp, key, value, format, headers }).

Examples:
  $ sluice consume orders --group billing --from beginning -e
  $ sluice consume orders --partition 0 --from beginning -e --format '%p %o %k %v\\n'
  $ sluice consume orders --from @1767225600000 -c 10 --json
  $ sluice consume orders --from end --follow --format '%T %k=%v\\n'`,
    )
    .action(
      withContext(io, async (ctx, topic: string, options: ConsumeOptions) => {
        if (options.group !== undefined && options.partition !== undefined) {
          throw new UsageError(
            '--group and --partition exclude each other: a group assigns the partitions itself',
          );
        }
        if (options.follow && options.exitAtEnd)
          throw new UsageError('--follow and --exit-at-end exclude each other');
        const from = options.from !== undefined ? parseFrom(options.from) : undefined;
        const sink = new RecordSink(ctx.io, { json: ctx.json, format: options.format }, options.count);
        if (options.group !== undefined) {
          if (from !== undefined && from.kind !== 'beginning' && from.kind !== 'end') {
            throw new UsageError(
              `with --group, --from takes beginning or end (where partitions without a committed offset start); ` +
                `to move the group's offsets, stop its members and run: sluice groups reset ${options.group} --to ${options.from}`,
            );
          }
          await consumeAsGroup(
            ctx,
            topic,
            options.group,
            from?.kind === 'beginning' ? 'earliest' : 'latest',
            {
              sink,
              exitAtEnd: options.exitAtEnd === true,
            },
          );
          return;
        }
        await consumePartitions(ctx, topic, options.partition, from ?? { kind: 'end' }, {
          sink,
          exitAtEnd: options.exitAtEnd === true,
          follow: options.exitAtEnd !== true && (options.follow === true || options.count === undefined),
        });
      }),
    );
}

/**
 * A group member: prints records as the client's consumer hands them out (commit-on-fetch). Stops at `-c`,
 * at the end with `-e`, or on Ctrl-C; each way commits what was printed and leaves the group.
 */
async function consumeAsGroup(
  ctx: Context,
  topic: string,
  group: string,
  autoOffsetReset: 'earliest' | 'latest',
  options: { sink: RecordSink; exitAtEnd: boolean },
): Promise<void> {
  const { sink } = options;
  const consumer = ctx.sluice.consumer({ group, topics: [topic], autoOffsetReset, waitMs: 2_000 });
  /** The next offset to print per partition (one past the last record printed). */
  const printedUpTo = new Map<number, number>();
  let last: ConsumerRecord | undefined;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // The record iterator marks a record processed when the next one is asked for: the last one printed
    // may not be yet. Commit through it, then close (commits the rest, leaves the group).
    if (last !== undefined) await consumer.commit(last).catch(() => undefined);
    await consumer.close();
  };
  const release = onInterrupt(() => void stop());
  const watcher = options.exitAtEnd
    ? watchForEnd(ctx.sluice, topic, group, autoOffsetReset, consumer, printedUpTo, () => stopping, stop)
    : undefined;
  try {
    for await (const record of consumer) {
      if (stopping) break;
      await sink.write(record);
      last = record;
      printedUpTo.set(record.partition, record.offset + 1);
      if (sink.full) {
        await stop();
        break;
      }
    }
  } finally {
    release();
    await stop();
    await watcher;
  }
}

/**
 * `-e` for a group member: the client's consumer hands out only non-empty batches, so "at the end" is
 * decided beside it: every partition the member owns has its position (one past the last record printed,
 * else the group's committed offset, else where autoOffsetReset starts) at the partition's high watermark.
 */
async function watchForEnd(
  sluice: Sluice,
  topic: string,
  group: string,
  autoOffsetReset: 'earliest' | 'latest',
  consumer: { generation: number; assignments: { topic: string; partition: number }[] },
  printedUpTo: ReadonlyMap<number, number>,
  stopped: () => boolean,
  stop: () => Promise<void>,
): Promise<void> {
  while (!stopped()) {
    await new Promise((resolve) => setTimeout(resolve, AT_END_POLL_MS));
    if (stopped() || consumer.generation === 0) continue;
    try {
      const owned = consumer.assignments.filter((a) => a.topic === topic).map((a) => a.partition);
      const [partitions, description] = await Promise.all([
        sluice.topics.partitions(topic),
        owned.some((p) => !printedUpTo.has(p)) ? sluice.groups.describe(group) : undefined,
      ]);
      const info = new Map(partitions.map((p) => [p.partition, p]));
      const committed = new Map(
        (description?.offsets ?? [])
          .filter((o) => o.topic === topic)
          .map((o) => [o.partition, o.committedOffset]),
      );
      const atEnd = owned.every((p) => {
        const partition = info.get(p);
        if (partition === undefined) return false;
        const position =
          printedUpTo.get(p) ??
          committed.get(p) ??
          (autoOffsetReset === 'earliest' ? partition.logStartOffset : partition.highWatermark);
        return position >= partition.highWatermark;
      });
      // The assignment must not have changed while we looked (a rebalance moves partitions).
      const still = consumer.assignments.filter((a) => a.topic === topic).map((a) => a.partition);
      if (atEnd && still.length === owned.length && still.every((p, i) => p === owned[i])) {
        await stop();
        return;
      }
    } catch {
      // A failed look is retried at the next tick; the consumer itself reports lasting failures.
    }
  }
}

/** Where a partition read starts, for `--from`. */
async function startOffset(
  sluice: Sluice,
  topic: string,
  partition: PartitionInfo,
  from: From,
): Promise<number> {
  switch (from.kind) {
    case 'beginning':
      return partition.logStartOffset;
    case 'end':
      return partition.highWatermark;
    case 'offset':
      return from.offset;
    case 'timestamp':
      return sluice.topics.offsetForTimestamp(topic, partition.partition, from.timestamp);
  }
}

/**
 * One partition or every partition, without a group: each partition is read with one-partition fetches
 * (`-e`: until the high watermark; `-c`: long-polling until enough) or followed with the client's live
 * tail (SSE, resuming after dropped connections) until Ctrl-C. Partitions are read side by side; their
 * records interleave, each partition's in order.
 */
async function consumePartitions(
  ctx: Context,
  topic: string,
  only: number | undefined,
  from: From,
  options: { sink: RecordSink; exitAtEnd: boolean; follow: boolean },
): Promise<void> {
  const { sink } = options;
  const all = await ctx.sluice.topics.partitions(topic);
  const chosen = only === undefined ? all : all.filter((p) => p.partition === only);
  if (only !== undefined && chosen.length === 0) {
    throw new UsageError(`topic ${topic} has no partition ${only} (it has ${all.length})`);
  }
  const stop = new AbortController();
  const release = onInterrupt(() => stop.abort());
  const done = () => {
    // -c reached (or stdout gone) on one partition ends the reads of the others too.
    if (sink.full) stop.abort();
    return stop.signal.aborted;
  };
  try {
    await Promise.all(
      chosen.map(async (partition) => {
        let offset = await startOffset(ctx.sluice, topic, partition, from);
        if (options.follow) {
          for await (const record of ctx.sluice.tail(topic, partition.partition, {
            from: offset,
            signal: stop.signal,
          })) {
            await sink.write({ ...record, topic });
            if (done()) break;
          }
          return;
        }
        while (!done()) {
          const result = await ctx.sluice.read(topic, partition.partition, {
            offset,
            waitMs: options.exitAtEnd ? 0 : 10_000,
            signal: stop.signal,
          });
          for (const record of result.records) {
            await sink.write({ ...record, topic });
            if (done()) break;
          }
          offset = result.nextOffset;
          if (options.exitAtEnd && offset >= result.highWatermark) return;
        }
      }),
    );
  } catch (error) {
    // Ctrl-C, or -c reached on another partition, aborts the reads in flight: that is the normal end.
    if (!stop.signal.aborted) throw error;
  } finally {
    stop.abort();
    release();
  }
}
