import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { type RecordAck, SluiceError } from '../../client/index.js';
import { withContext } from '../context.js';
import { UsageError } from '../errors.js';
import { type Io, printJson } from '../format.js';
import { collect, integerOption, parseHeaders, splitKey } from '../parse.js';

type ValueFormat = 'json' | 'text' | 'binary';

interface ProduceOptions {
  file?: string;
  keySeparator?: string;
  format: string;
  partition?: number;
  header?: string[];
}

/** One line of input as a record to send, or a usage error naming the line. */
export function lineToRecord(
  line: string,
  lineNumber: number,
  options: {
    keySeparator?: string | undefined;
    format: ValueFormat;
    partition?: number | undefined;
    headers?: Record<string, string> | undefined;
  },
): { key: string | null; value: unknown; partition?: number; headers?: Record<string, string> } {
  const { key, value: text } = splitKey(line, options.keySeparator);
  let value: unknown = text;
  if (options.format === 'json') {
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new UsageError(`line ${lineNumber}: not JSON (--format json): ${(error as Error).message}`);
    }
  } else if (options.format === 'binary' && !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw new UsageError(`line ${lineNumber}: not base64 (--format binary takes one base64 value per line)`);
  }
  return {
    key,
    value,
    ...(options.partition !== undefined ? { partition: options.partition } : {}),
    ...(options.headers !== undefined ? { headers: options.headers } : {}),
  };
}

/** Lines per `send`: the producer merges and splits them into requests under the server's limits. */
const CHUNK_RECORDS = 500;
/** Chunks whose acknowledgements may be outstanding at once (the producer's own maxInFlightBytes also holds). */
const CHUNKS_IN_FLIGHT = 8;

export function registerProduceCommand(program: Command, io: Io): void {
  program
    .command('produce')
    .description('append one record per line of stdin (or --file) to a topic')
    .argument('<topic>', 'topic name (it must exist: sluice topics create NAME)')
    .option('--file <path>', 'read lines from this file instead of stdin')
    .option(
      '-K, --key-separator <sep>',
      'the text before the first SEP is the key (a line without SEP has no key)',
    )
    .option(
      '--format <format>',
      'how each value is given: text (the line), json (a JSON value), binary (base64)',
      'text',
    )
    .option(
      '-p, --partition <n>',
      'send every record to this partition (default: by key, else sticky)',
      integerOption('--partition'),
    )
    .option('-H, --header <name=value>', 'a header on every record, repeatable', collect)
    .addHelpText(
      'after',
      `
Prints a summary (records, partitions, first and last offsets) on stderr; with --json, one JSON line per
record ({ line, partition, offset, timestamp }) on stdout. Empty lines are skipped. Records are batched,
sent with an Idempotency-Key each request and retried on 429/503 and network errors, so a retry never
appends twice. A topic that does not exist is an error (exit 1): create it first.

Examples:
  $ printf 'customer-7:{"total":42}\\ncustomer-9:{"total":7}\\n' | sluice produce orders --key-separator : --format json
  $ sluice produce orders --key-separator : --file orders.txt
  $ sluice produce logs --header source=nginx < access.log
  $ sluice --json produce orders --partition 0 --file lines.txt > acks.jsonl`,
    )
    .action(
      withContext(io, async (ctx, topic: string, options: ProduceOptions) => {
        const format = (['json', 'text', 'binary'] as const).find((f) => f === options.format);
        if (format === undefined)
          throw new UsageError(`--format takes json, text or binary, not '${options.format}'`);
        const headers = options.header !== undefined ? parseHeaders(options.header) : undefined;
        if (options.keySeparator === '') throw new UsageError('--key-separator may not be empty');
        const input = options.file !== undefined ? createReadStream(options.file) : process.stdin;
        const opened = new Promise<void>((resolve, reject) => {
          if (options.file === undefined) return resolve();
          input.once('open', () => resolve());
          input.once('error', (error: Error) => reject(new UsageError(`--file: ${error.message}`)));
        });
        await opened;
        // The topic is looked up first, before any input is read (readline drops the lines it
        // reads before its iterator starts, so nothing may be awaited between the two).
        await ctx.sluice.topics.get(topic).catch((error: unknown) => {
          if (error instanceof SluiceError && error.code === 'TOPIC_NOT_FOUND') {
            throw new SluiceError({
              ...error.problem,
              detail: `${error.detail}; create it first: sluice topics create ${topic}`,
            });
          }
          throw error;
        });
        const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
        const producer = ctx.sluice.producer({ lingerMs: 5 });
        const summary = new Map<number, { first: number; last: number; count: number }>();
        let records = 0;
        /** Sends in input order, each with the line numbers of its records; acknowledged in this order. */
        const pending: { acks: Promise<RecordAck[]>; lines: number[] }[] = [];
        let chunk: ReturnType<typeof lineToRecord>[] = [];
        let chunkLines: number[] = [];
        const flushChunk = () => {
          if (chunk.length === 0) return;
          const acks = producer.send(topic, chunk, { format });
          // Awaited in order below; a later send that fails first must not count as an unhandled rejection.
          acks.catch(() => undefined);
          pending.push({ acks, lines: chunkLines });
          chunk = [];
          chunkLines = [];
        };
        /** Waits for the oldest send and reports its records (stdout lines in input order with --json). */
        const settleOldest = async () => {
          const oldest = pending.shift();
          if (oldest === undefined) return;
          const acks = await oldest.acks;
          acks.forEach((ack, i) => {
            const entry = summary.get(ack.partition);
            if (entry === undefined)
              summary.set(ack.partition, { first: ack.offset, last: ack.offset, count: 1 });
            else {
              entry.first = Math.min(entry.first, ack.offset);
              entry.last = Math.max(entry.last, ack.offset);
              entry.count++;
            }
            if (ctx.json) printJson(ctx.io, { line: oldest.lines[i], ...ack });
          });
        };
        try {
          let lineNumber = 0;
          for await (const line of lines) {
            lineNumber++;
            if (line === '') continue;
            chunk.push(
              lineToRecord(line, lineNumber, {
                keySeparator: options.keySeparator,
                format,
                partition: options.partition,
                headers,
              }),
            );
            chunkLines.push(lineNumber);
            records++;
            if (chunk.length >= CHUNK_RECORDS) {
              flushChunk();
              // Bounded: wait for the oldest send once enough are out (the producer's own
              // maxInFlightBytes holds as well).
              while (pending.length >= CHUNKS_IN_FLIGHT) await settleOldest();
            }
          }
          flushChunk();
          while (pending.length > 0) await settleOldest();
        } finally {
          // Sends already queued are flushed or rejected; an error above stays the one reported.
          await producer.close().catch(() => undefined);
          lines.close();
        }
        const parts = [...summary.entries()].sort(([a], [b]) => a - b);
        ctx.io.stderr.write(
          `produced ${records} record(s) to ${topic}` +
            (parts.length > 0 ? ` on ${parts.length} partition(s): ` : '') +
            parts
              .map(([p, s]) =>
                s.first === s.last ? `p${p} offset ${s.first}` : `p${p} offsets ${s.first}–${s.last}`,
              )
              .join(', ') +
            '\n',
        );
      }),
    );
}
