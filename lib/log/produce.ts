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
    const key = input.key === undefined || input.key === null ? null : Buffer.from(input.key, 'utf8');
    const value = encodeValue(input.value, format, index);
    const headers = input.headers ?? {};
    const headerNames = Object.keys(headers);
    if (headerNames.length > limits.maxHeadersPerRecord) {
      throw new InvalidRequestError(
        `record ${index} has ${headerNames.length} headers; at most ${limits.maxHeadersPerRecord} are allowed`,
      );
    }
    let size = (key?.length ?? 0) + (value?.length ?? 0);
    for (const name of headerNames) {
      const headerValue = headers[name];
      if (typeof headerValue !== 'string') {
        throw new InvalidRequestError(`record ${index} header '${name}' must be a string`);
      }
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

function encodeValue(value: unknown, format: ValueFormat, index: number): Buffer | null {
  if (value === null) return null;
  if (value === undefined)
    throw new InvalidRequestError(`record ${index} has no value (use null for a tombstone)`);
  switch (format) {
    case 'json':
      return Buffer.from(JSON.stringify(value), 'utf8');
    case 'text':
      if (typeof value !== 'string')
        throw new InvalidRequestError(`record ${index}: a text value must be a string`);
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
