import { InvalidRequestError, PartitionNotFoundError, RecordTooLargeError } from '../errors.js';
import type { Limits } from '../limits.js';
import { partitionForKey, type StickyPartitioner } from '../partitioner.js';
import { MAX_TIMESTAMP } from '../segment/format.js';
import type { LogRecord, Topic, ValueFormat } from '../types.js';
import type { AppendRequest } from './appender.js';

/** A produce request as the API receives it (validated for shape at the edge, for meaning here). */
export interface ProduceInput {
  records: ReadonlyArray<{
    key?: string | null | undefined;
    value: unknown;
    headers?: Record<string, string> | undefined;
    partition?: number | undefined;
    timestamp?: number | undefined;
  }>;
  format?: ValueFormat | undefined;
}

export interface PreparedProduce {
  request: AppendRequest;
  /** For each input record, in request order: its partition, position in that partition's run, timestamp. */
  placements: Array<{ partition: number; position: number; timestamp: number }>;
  /** Bytes of keys, values and headers: what the batcher counts toward a flush's size. */
  bytes: number;
}

/** A lone (unpaired) UTF-16 surrogate: UTF-8 cannot encode it (Node would write U+FFFD in its place). */
const LONE_SURROGATE = /\p{Cs}/u;

/** Refuses text that UTF-8 cannot carry byte for byte (SPEC: a lone surrogate is refused, never altered). */
export function wellFormed(text: string, what: string): void {
  if (LONE_SURROGATE.test(text)) {
    throw new InvalidRequestError(`${what} is not well-formed Unicode (it holds a lone surrogate)`);
  }
}

/**
 * Whether a parsed JSON value nests arrays and objects more than `max` levels deep (`[]` is 1, `[[]]` is 2).
 * Iterative, so any depth is safe to ask about; it stops at the first node below the limit.
 */
export function jsonDepthExceeds(value: unknown, max: number): boolean {
  const stack: Array<{ node: unknown; depth: number }> = [{ node: value, depth: 0 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { node, depth } = item;
    if (node === null || typeof node !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      stack.push({ node: child, depth: depth + 1 });
    }
  }
  return false;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Turns API records into log records: encodes values by format, picks partitions (explicit, Kafka's
 * murmur2 of the key, or one sticky partition for all null-key records of the request), stamps the append
 * time where the producer gave none, and enforces the record and request limits.
 */
export function prepareProduce(
  topic: Topic,
  input: ProduceInput,
  limits: Limits,
  sticky: StickyPartitioner,
  now: number,
): PreparedProduce {
  const records = input.records;
  if (records.length === 0) throw new InvalidRequestError('records must hold at least one record');
  if (records.length > limits.maxRecordsPerRequest) {
    throw new InvalidRequestError(
      `a request may hold at most ${limits.maxRecordsPerRequest} records, got ${records.length}`,
    );
  }
  const format = input.format ?? 'json';
  const byPartition = new Map<number, LogRecord[]>();
  const placements: PreparedProduce['placements'] = [];
  let stickyPartition: number | undefined;
  let bytes = 0;

  records.forEach((input, index) => {
    if (input.key !== undefined && input.key !== null) wellFormed(input.key, `record ${index} key`);
    const key = input.key === undefined || input.key === null ? null : Buffer.from(input.key, 'utf8');
    const value = encodeValue(input.value, format, index, limits.maxJsonDepth);
    const headerNames = Object.keys(input.headers ?? {});
    if (headerNames.length > limits.maxHeadersPerRecord) {
      throw new InvalidRequestError(
        `record ${index} has ${headerNames.length} headers; at most ${limits.maxHeadersPerRecord} are allowed`,
      );
    }
    let size = (key?.length ?? 0) + (value?.length ?? 0);
    // Header names are the caller's: a null-prototype copy keeps `__proto__` and `constructor` as data.
    const headers: Record<string, string> = Object.create(null);
    for (const name of headerNames) {
      const headerValue = input.headers?.[name];
      if (typeof headerValue !== 'string') {
        throw new InvalidRequestError(`record ${index} header '${name}' must be a string`);
      }
      wellFormed(name, `record ${index} header name`);
      wellFormed(headerValue, `record ${index} header '${name}'`);
      headers[name] = headerValue;
      size += Buffer.byteLength(name) + Buffer.byteLength(headerValue);
    }
    if (size > topic.config.maxRecordBytes)
      throw new RecordTooLargeError(index, size, topic.config.maxRecordBytes);
    bytes += size;

    let partition: number;
    if (input.partition !== undefined) {
      partition = input.partition;
      if (!Number.isInteger(partition) || partition < 0 || partition >= topic.partitions) {
        throw new PartitionNotFoundError(topic.name, partition, topic.partitions);
      }
    } else if (key !== null) {
      partition = partitionForKey(key, topic.partitions);
    } else {
      if (stickyPartition === undefined) stickyPartition = sticky.next(topic.topicId, topic.partitions);
      partition = stickyPartition;
    }

    const timestamp = input.timestamp ?? now;
    if (!Number.isSafeInteger(timestamp) || timestamp < 0 || timestamp > MAX_TIMESTAMP) {
      throw new InvalidRequestError(
        `record ${index} timestamp must be an integer of epoch ms from 0 to ${MAX_TIMESTAMP}`,
      );
    }
    const list = byPartition.get(partition) ?? [];
    placements.push({ partition, position: list.length, timestamp });
    list.push({ key, value, format, headers, timestamp });
    byPartition.set(partition, list);
  });

  if (byPartition.size > limits.maxPartitionsPerRequest) {
    throw new InvalidRequestError(
      `a request may touch at most ${limits.maxPartitionsPerRequest} partitions (one atomic commit); ` +
        `this one touches ${byPartition.size}: split it`,
    );
  }
  return {
    request: {
      topic,
      batches: [...byPartition.entries()].map(([partition, recs]) => ({ partition, records: recs })),
    },
    placements,
    bytes,
  };
}

function encodeValue(value: unknown, format: ValueFormat, index: number, maxDepth: number): Buffer | null {
  if (value === null) return null;
  if (value === undefined)
    throw new InvalidRequestError(`record ${index} has no value (use null for a tombstone)`);
  switch (format) {
    case 'json':
      // Checked before JSON.stringify, which recurses and throws a RangeError on very deep values. Lone
      // surrogates need no check here: JSON.stringify writes them as \udxxx escapes, which read back the same.
      if (jsonDepthExceeds(value, maxDepth)) {
        throw new InvalidRequestError(
          `record ${index} value nests arrays and objects more than ${maxDepth} levels deep`,
        );
      }
      return Buffer.from(JSON.stringify(value), 'utf8');
    case 'text':
      if (typeof value !== 'string')
        throw new InvalidRequestError(`record ${index}: a text value must be a string`);
      wellFormed(value, `record ${index} value`);
      return Buffer.from(value, 'utf8');
    case 'binary':
      if (typeof value !== 'string' || !BASE64.test(value)) {
        throw new InvalidRequestError(`record ${index}: a binary value must be a base64 string`);
      }
      return Buffer.from(value, 'base64');
  }
}

/** The API form of a stored value: JSON as parsed JSON, text as a string, binary as base64. */
export function decodeValue(value: Buffer | null, format: ValueFormat): unknown {
  if (value === null) return null;
  switch (format) {
    case 'json':
      return JSON.parse(value.toString('utf8'));
    case 'text':
      return value.toString('utf8');
    case 'binary':
      return value.toString('base64');
  }
}
