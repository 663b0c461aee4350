/**
 * The raw backend ceiling: the S3 and DynamoDB requests the produce phase made, replayed directly with the
 * SDK (no HTTP server, no encoding, no Sluice logic), in the same shape: for each flush its PutObject (a body
 * of the same size) and then its commit(s) (the same DynamoDB write requests, re-keyed so their conditions
 * pass), with as many flushes in flight at once as Sluice had.
 */
import { randomBytes } from 'node:crypto';
import {
  type DynamoDBClient,
  PutItemCommand,
  type PutItemCommandInput,
  TransactWriteItemsCommand,
  type TransactWriteItemsCommandInput,
} from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { RecordedPut, RecordedWrite } from './counting.js';
import type { WireItem } from './units.js';

export interface Flush {
  put: RecordedPut;
  /** The write requests (attempts) that committed this object's batches, in the order Sluice sent them. */
  writes: RecordedWrite[];
}

/** Pairs each recorded PutObject with the write requests whose index items point at that object. */
export function groupFlushes(
  puts: readonly RecordedPut[],
  writes: readonly RecordedWrite[],
): { flushes: Flush[]; unmatchedWrites: number } {
  const byKey = new Map<string, Flush>();
  const flushes = puts.map((put) => {
    const flush: Flush = { put, writes: [] };
    byKey.set(put.key, flush);
    return flush;
  });
  let unmatchedWrites = 0;
  for (const write of writes) {
    const key = itemsOf(write)
      .map((item) => item.objectKey?.S)
      .find((k) => k !== undefined);
    const flush = key === undefined ? undefined : byKey.get(key);
    if (flush) flush.writes.push(write);
    else unmatchedWrites++;
  }
  return { flushes, unmatchedWrites };
}

function itemsOf(write: RecordedWrite): WireItem[] {
  const input = write.input as {
    Item?: WireItem;
    TransactItems?: Array<{ Put?: { Item?: WireItem } }>;
  };
  if (input.Item) return [input.Item];
  return (input.TransactItems ?? []).flatMap((t) => (t.Put?.Item ? [t.Put.Item] : []));
}

/** A random string of the given length (lowercase letters and digits). */
function randomText(length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[(bytes[i] as number) % alphabet.length];
  return out;
}

/**
 * The recorded request with fresh keys of the same lengths (so item sizes and units are unchanged):
 * the index `pk` ("<topicId>/<partition>") gets a new topic id and `objectKey` the replayed object's key.
 * Conditions are kept; they pass because the keys are new.
 */
function rekey(
  write: RecordedWrite,
  topicIds: Map<string, string>,
  objectKey: string,
): Record<string, unknown> {
  const input = structuredClone(write.input);
  delete input.ReturnConsumedCapacity;
  // The SDK's idempotency token of the original transaction: reusing it with other keys is an error.
  delete input.ClientRequestToken;
  const fix = (item: WireItem | undefined) => {
    if (!item) return;
    const pk = item.pk?.S;
    if (pk !== undefined) {
      const slash = pk.lastIndexOf('/');
      const id = slash >= 0 ? pk.slice(0, slash) : pk;
      let fresh = topicIds.get(id);
      if (fresh === undefined) {
        fresh = randomText(id.length);
        topicIds.set(id, fresh);
      }
      item.pk = { S: `${fresh}${slash >= 0 ? pk.slice(slash) : ''}` };
    }
    if (item.objectKey?.S !== undefined) item.objectKey = { S: objectKey };
  };
  const typed = input as { Item?: WireItem; TransactItems?: Array<{ Put?: { Item?: WireItem } }> };
  fix(typed.Item);
  for (const t of typed.TransactItems ?? []) fix(t.Put?.Item);
  return input;
}

/** A key like Sluice's (`segments/<13 digits>-<16 hex>.seg`), of the original key's length. */
function replayKey(original: string): string {
  const key = `segments/${String(Date.now()).padStart(13, '0')}-${randomBytes(8).toString('hex')}.seg`;
  return key.length === original.length ? key : `r${randomText(Math.max(0, original.length - 1))}`;
}

export interface ReplayResult {
  wallMs: number;
  flushes: number;
  puts: number;
  putBytes: number;
  writes: number;
  failures: number;
  firstFailure: string | undefined;
  concurrency: number;
  putLatenciesMs: number[];
  writeLatenciesMs: number[];
}

export async function replayFlushes(options: {
  s3: S3Client;
  dynamodb: DynamoDBClient;
  bucket: string;
  flushes: readonly Flush[];
  concurrency: number;
}): Promise<ReplayResult> {
  const { s3, dynamodb, bucket, flushes } = options;
  const concurrency = Math.max(1, options.concurrency);
  const topicIds = new Map<string, string>();
  // Prepare everything that is not a request before the clock starts: bodies, keys, re-keyed commands.
  const maxBytes = flushes.reduce((m, f) => Math.max(m, f.put.bytes), 0);
  const slack = 64 * 1024;
  const pool = randomBytes(maxBytes + slack);
  const prepared = flushes.map((flush) => {
    const key = replayKey(flush.put.key);
    const offset = Math.floor(Math.random() * slack);
    return {
      key,
      body: pool.subarray(offset, offset + flush.put.bytes),
      writes: flush.writes.map((w) => ({ operation: w.operation, input: rekey(w, topicIds, key) })),
    };
  });

  const putLatenciesMs: number[] = [];
  const writeLatenciesMs: number[] = [];
  let puts = 0;
  let putBytes = 0;
  let writes = 0;
  let failures = 0;
  let firstFailure: string | undefined;
  const fail = (error: unknown) => {
    failures++;
    firstFailure ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  };

  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const job = prepared[next++];
        if (!job) return;
        const t0 = performance.now();
        try {
          await s3.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: job.key,
              Body: job.body,
              ContentLength: job.body.length,
              ContentType: 'application/vnd.sluice.segment',
            }),
          );
          puts++;
          putBytes += job.body.length;
          putLatenciesMs.push(performance.now() - t0);
        } catch (error) {
          fail(error);
          continue;
        }
        for (const write of job.writes) {
          const t1 = performance.now();
          try {
            if (write.operation === 'PutItem') {
              await dynamodb.send(new PutItemCommand(write.input as unknown as PutItemCommandInput));
            } else if (write.operation === 'TransactWriteItems') {
              await dynamodb.send(
                new TransactWriteItemsCommand(write.input as unknown as TransactWriteItemsCommandInput),
              );
            } else {
              throw new Error(`cannot replay ${write.operation}`);
            }
            writes++;
            writeLatenciesMs.push(performance.now() - t1);
          } catch (error) {
            fail(error);
          }
        }
      }
    }),
  );
  return {
    wallMs: performance.now() - started,
    flushes: prepared.length,
    puts,
    putBytes,
    writes,
    failures,
    firstFailure,
    concurrency,
    putLatenciesMs,
    writeLatenciesMs,
  };
}
