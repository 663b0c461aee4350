/**
 * Request counting for the SDK clients a Sluice instance uses, as SDK middleware.
 *
 * The counting middleware sits right after the deserializer, the innermost place of the stack: below the
 * retry middleware, so every attempt (an SDK retry too) is one request, and it sees the raw HTTP request
 * and response. For DynamoDB it buffers the response body (the deserializer accepts a byte array as well as
 * a stream) to read ConsumedCapacity and the items read, and it reads the request's JSON to compute the
 * write units and to record the produce phase's write commands for the ceiling replay. Every request is also
 * counted under a purpose (`classify`, by default Sluice's item layout: bench/purposes.ts), so a phase's
 * units can be split by what they paid for.
 */
import type {
  ServiceInputTypes as DdbInput,
  ServiceOutputTypes as DdbOutput,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import type {
  S3Client,
  ServiceInputTypes as S3Input,
  ServiceOutputTypes as S3Output,
} from '@aws-sdk/client-s3';
import type { DeserializeMiddleware } from '@smithy/types';
import { sluicePurpose } from './purposes.js';
import { ItemImages, READ_OPERATIONS, readUnitsOf, WRITE_OPERATIONS, writeUnitsOf } from './units.js';

interface RawRequest {
  headers: Record<string, string | undefined>;
  body?: unknown;
}

interface RawResponse {
  statusCode: number;
  headers: Record<string, string | undefined>;
  body?: unknown;
}

function isRawRequest(value: unknown): value is RawRequest {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { headers?: unknown }).headers === 'object'
  );
}

function isRawResponse(value: unknown): value is RawResponse {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { statusCode?: unknown }).statusCode === 'number'
  );
}

function header(headers: Record<string, string | undefined>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

function bodyText(body: unknown): string | undefined {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array)
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  return undefined;
}

async function readAll(body: unknown): Promise<Uint8Array> {
  if (body === undefined || body === null) return new Uint8Array(0);
  if (body instanceof Uint8Array) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (typeof body === 'object' && Symbol.asyncIterator in body) {
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Uint8Array | string>) {
      chunks.push(
        typeof chunk === 'string'
          ? Buffer.from(chunk)
          : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
      );
    }
    return Buffer.concat(chunks);
  }
  throw new Error(`cannot read a response body of type ${typeof body}`);
}

/** Where the counters go: innermost, below retries and above the HTTP handler. */
const RAW_POSITION = {
  relation: 'after',
  toMiddleware: 'deserializerMiddleware',
  override: true,
} as const;

// ---- S3 -----------------------------------------------------------------------------------------------------

export interface RecordedPut {
  /** performance.now() when the request was sent. */
  t: number;
  key: string;
  bytes: number;
}

export interface S3Counts {
  puts: number;
  putBytes: number;
  gets: number;
  getBytes: number;
  other: number;
  errors: number;
  maxPutsInFlight: number;
}

export class S3Counter {
  counts: S3Counts = { puts: 0, putBytes: 0, gets: 0, getBytes: 0, other: 0, errors: 0, maxPutsInFlight: 0 };
  putsInFlight = 0;
  recording = false;
  readonly recordedPuts: RecordedPut[] = [];
  readonly putLatenciesMs: number[] = [];
  readonly getLatenciesMs: number[] = [];

  snapshot(): S3Counts {
    return { ...this.counts };
  }

  /** Starts a new maximum of concurrent PUTs (for one phase). */
  resetMaxInFlight(): void {
    this.counts.maxPutsInFlight = this.putsInFlight;
  }
}

export function countS3(client: S3Client, counter: S3Counter): void {
  const middleware: DeserializeMiddleware<S3Input, S3Output> = (next, context) => async (args) => {
    const command = context.commandName ?? '';
    const input = args.input as { Key?: string; ContentLength?: number; Body?: unknown };
    const t0 = performance.now();
    if (command === 'PutObjectCommand') {
      const bytes =
        typeof input.ContentLength === 'number'
          ? input.ContentLength
          : input.Body instanceof Uint8Array
            ? input.Body.length
            : 0;
      counter.counts.puts++;
      counter.counts.putBytes += bytes;
      counter.putsInFlight++;
      counter.counts.maxPutsInFlight = Math.max(counter.counts.maxPutsInFlight, counter.putsInFlight);
      if (counter.recording) counter.recordedPuts.push({ t: t0, key: input.Key ?? '', bytes });
      try {
        const result = await next(args);
        counter.putLatenciesMs.push(performance.now() - t0);
        if (isRawResponse(result.response) && result.response.statusCode >= 300) counter.counts.errors++;
        return result;
      } catch (error) {
        counter.counts.errors++;
        throw error;
      } finally {
        counter.putsInFlight--;
      }
    }
    if (command === 'GetObjectCommand') counter.counts.gets++;
    else counter.counts.other++;
    try {
      const result = await next(args);
      const response = result.response;
      if (isRawResponse(response)) {
        if (response.statusCode >= 300) counter.counts.errors++;
        else if (command === 'GetObjectCommand') {
          counter.counts.getBytes += Number(header(response.headers, 'content-length') ?? 0);
          counter.getLatenciesMs.push(performance.now() - t0);
        }
      }
      return result;
    } catch (error) {
      counter.counts.errors++;
      throw error;
    }
  };
  client.middlewareStack.addRelativeTo(middleware, { ...RAW_POSITION, name: 'benchS3Counter' });
}

// ---- DynamoDB -------------------------------------------------------------------------------------------------

export interface OperationCounts {
  requests: number;
  /** Responses with an HTTP status ≥ 300, by error type. */
  errors: Record<string, number>;
  /** Computed as AWS bills them (see units.ts). */
  writeUnits: number;
  readUnits: number;
  /** Sum of ConsumedCapacity.CapacityUnits that DynamoDB Local returned. */
  reportedUnits: number;
  /** Items written (each Put of a transaction is one). */
  itemsWritten: number;
  /** Updates and deletes of an item the client had never seen: sized as ≤ 1 KB (see ItemImages). */
  estimatedWrites: number;
}

export interface RecordedWrite {
  /** performance.now() when the request was sent. */
  t: number;
  operation: string;
  /** The request as sent (DynamoDB JSON, parsed from the wire: a deep copy). */
  input: Record<string, unknown>;
  status: number;
}

const CONSUMED_CAPACITY_OPERATIONS = new Set([...WRITE_OPERATIONS, ...READ_OPERATIONS]);
/** Errors after which AWS still bills the write (the condition was evaluated). */
const BILLED_WRITE_ERRORS = new Set(['ConditionalCheckFailedException', 'TransactionCanceledException']);
/** Writes sized from the stored item's image rather than from the request alone. */
const IMAGED_WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem']);

function emptyCounts(): OperationCounts {
  return {
    requests: 0,
    errors: {},
    writeUnits: 0,
    readUnits: 0,
    reportedUnits: 0,
    itemsWritten: 0,
    estimatedWrites: 0,
  };
}

function copyCounts(counts: Map<string, OperationCounts>): Map<string, OperationCounts> {
  return new Map([...counts].map(([op, s]) => [op, { ...s, errors: { ...s.errors } }]));
}

export class DynamoDbCounter {
  readonly operations = new Map<string, OperationCounts>();
  /** The same requests by `classify`'s label ("operation: purpose"). */
  readonly purposes = new Map<string, OperationCounts>();
  /** What a request was for, from its operation and its wire input. */
  classify: (operation: string, input: Record<string, unknown>) => string = sluicePurpose;
  /** Last known image of every item, to size updates and deletes as AWS bills them. */
  readonly images = new ItemImages();
  recording = false;
  readonly recordedWrites: RecordedWrite[] = [];
  readonly writeLatenciesMs: number[] = [];

  stats(operation: string): OperationCounts {
    return statsIn(this.operations, operation);
  }

  purposeStats(label: string): OperationCounts {
    return statsIn(this.purposes, label);
  }

  snapshot(): Map<string, OperationCounts> {
    return copyCounts(this.operations);
  }

  purposeSnapshot(): Map<string, OperationCounts> {
    return copyCounts(this.purposes);
  }
}

function statsIn(map: Map<string, OperationCounts>, key: string): OperationCounts {
  let stats = map.get(key);
  if (!stats) {
    stats = emptyCounts();
    map.set(key, stats);
  }
  return stats;
}

/** Per operation: `after` minus `before`. */
export function difference(
  after: Map<string, OperationCounts>,
  before: Map<string, OperationCounts>,
): Map<string, OperationCounts> {
  const out = new Map<string, OperationCounts>();
  for (const [op, a] of after) {
    const b = before.get(op);
    const errors: Record<string, number> = {};
    for (const [type, n] of Object.entries(a.errors)) {
      const d = n - (b?.errors[type] ?? 0);
      if (d > 0) errors[type] = d;
    }
    const d: OperationCounts = {
      requests: a.requests - (b?.requests ?? 0),
      errors,
      writeUnits: a.writeUnits - (b?.writeUnits ?? 0),
      readUnits: a.readUnits - (b?.readUnits ?? 0),
      reportedUnits: a.reportedUnits - (b?.reportedUnits ?? 0),
      itemsWritten: a.itemsWritten - (b?.itemsWritten ?? 0),
      estimatedWrites: a.estimatedWrites - (b?.estimatedWrites ?? 0),
    };
    if (d.requests > 0) out.set(op, d);
  }
  return out;
}

export function totals(ops: Map<string, OperationCounts>) {
  let requests = 0;
  let writeUnits = 0;
  let readUnits = 0;
  let reportedWriteUnits = 0;
  let reportedReadUnits = 0;
  let writeRequests = 0;
  for (const [op, s] of ops) {
    requests += s.requests;
    writeUnits += s.writeUnits;
    readUnits += s.readUnits;
    if (WRITE_OPERATIONS.has(op)) {
      reportedWriteUnits += s.reportedUnits;
      writeRequests += s.requests;
    } else reportedReadUnits += s.reportedUnits;
  }
  return { requests, writeRequests, writeUnits, readUnits, reportedWriteUnits, reportedReadUnits };
}

function sumConsumedCapacity(output: unknown): number {
  const consumed = (output as { ConsumedCapacity?: unknown } | undefined)?.ConsumedCapacity;
  const list = Array.isArray(consumed) ? consumed : consumed === undefined ? [] : [consumed];
  return list.reduce(
    (sum: number, c: unknown) => sum + Number((c as { CapacityUnits?: number }).CapacityUnits ?? 0),
    0,
  );
}

function itemsWrittenBy(operation: string, input: Record<string, unknown>): number {
  if (operation === 'TransactWriteItems') return (input.TransactItems as unknown[] | undefined)?.length ?? 0;
  if (operation === 'BatchWriteItem') {
    return Object.values((input.RequestItems ?? {}) as Record<string, unknown[]>).reduce(
      (n, l) => n + l.length,
      0,
    );
  }
  return 1;
}

export function countDynamoDb(client: DynamoDBClient, counter: DynamoDbCounter): void {
  // Ask for ConsumedCapacity on every request that accepts it.
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = (context.commandName ?? '').replace(/Command$/, '');
      if (!CONSUMED_CAPACITY_OPERATIONS.has(operation)) return next(args);
      return next({ ...args, input: { ...args.input, ReturnConsumedCapacity: 'TOTAL' } });
    },
    { step: 'initialize', name: 'benchReturnConsumedCapacity', override: true },
  );

  const middleware: DeserializeMiddleware<DdbInput, DdbOutput> = (next, context) => async (args) => {
    const request = args.request;
    const target = isRawRequest(request) ? header(request.headers, 'x-amz-target') : undefined;
    const operation = target?.split('.')[1] ?? (context.commandName ?? 'unknown').replace(/Command$/, '');
    const isWrite = WRITE_OPERATIONS.has(operation);
    const isRead = READ_OPERATIONS.has(operation);
    let input: Record<string, unknown> = {};
    if ((isWrite || isRead) && isRawRequest(request)) {
      const text = bodyText(request.body);
      if (text === undefined) {
        throw new Error(
          `bench: cannot read the body of a DynamoDB ${operation} request (${typeof request.body})`,
        );
      }
      input = JSON.parse(text) as Record<string, unknown>;
    }
    const both = [counter.stats(operation), counter.purposeStats(counter.classify(operation, input))];
    const add = (
      field: 'requests' | 'writeUnits' | 'readUnits' | 'reportedUnits' | 'itemsWritten' | 'estimatedWrites',
      n: number,
    ) => {
      for (const s of both) s[field] += n;
    };
    add('requests', 1);
    const t0 = performance.now();
    const recorded: RecordedWrite | undefined =
      isWrite && counter.recording ? { t: t0, operation, input, status: 0 } : undefined;
    if (recorded) counter.recordedWrites.push(recorded);

    const result = await next(args);
    const response = result.response;
    if (!isRawResponse(response)) return result;
    const bytes = await readAll(response.body);
    response.body = bytes;
    if (recorded) recorded.status = response.statusCode;
    if (isWrite) counter.writeLatenciesMs.push(performance.now() - t0);
    let output: unknown;
    try {
      output = bytes.length > 0 ? JSON.parse(Buffer.from(bytes).toString('utf8')) : {};
    } catch {
      output = {};
    }
    add('reportedUnits', sumConsumedCapacity(output));
    const billWrite = (failed: boolean) => {
      if (!IMAGED_WRITES.has(operation)) return add('writeUnits', writeUnitsOf(operation, input));
      const { units, estimated } = counter.images.write(operation, input, output, failed);
      add('writeUnits', units);
      if (estimated) add('estimatedWrites', 1);
    };
    if (response.statusCode >= 300) {
      const type = String((output as { __type?: unknown }).__type ?? `HTTP ${response.statusCode}`).replace(
        /^.*#/,
        '',
      );
      for (const s of both) s.errors[type] = (s.errors[type] ?? 0) + 1;
      if (isWrite && BILLED_WRITE_ERRORS.has(type)) billWrite(true);
      return result;
    }
    if (isWrite) {
      billWrite(false);
      add('itemsWritten', itemsWrittenBy(operation, input));
    }
    if (isRead) {
      add('readUnits', readUnitsOf(operation, input, output));
      counter.images.observeRead(operation, input, output);
    }
    return result;
  };
  client.middlewareStack.addRelativeTo(middleware, { ...RAW_POSITION, name: 'benchDynamoDbCounter' });
}
