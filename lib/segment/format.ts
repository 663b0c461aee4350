/**
 * The segment object format: one immutable object in S3 holding record batches of one or more partitions
 * (of one or more topics), the way WarpStream / KIP-1150 pack many partitions into one object.
 *
 * Offsets are not stored absolutely. They are assigned when the object is committed to the index; a batch
 * stores each record's offsetDelta and the record's offset is `baseOffset + offsetDelta`, baseOffset coming
 * from the index. Deltas need not be contiguous, so key compaction can rewrite a batch and leave gaps.
 *
 * All fixed-width integers are big-endian. "uvarint" is unsigned LEB128 (7 bits a byte, low group first,
 * high bit = more bytes follow, at most 8 bytes); "varint" is a zigzag-encoded uvarint (0→0, -1→1, 1→2…).
 * Strings are UTF-8.
 *
 * Object layout (format version 1)
 * ================================
 *
 *   offset  size  field
 *   ------  ----  -----------------------------------------------------------------------------------------
 *        0     4  magic "SLCE" (0x53 0x4C 0x43 0x45)
 *        4     2  u16 format version = 1
 *        6     2  u16 flags, reserved = 0 (a reader rejects an object with unknown flags)
 *        8     …  batches, back to back (zero or more; see "Batch"); the first starts at byte 8
 *        F     …  footer body, footerLength bytes (see "Footer")
 *    end-8     4  u32 footerLength (bytes of the footer body, trailer not included)
 *    end-4     4  magic "SLCF" (0x53 0x4C 0x43 0x46)
 *
 * Batch (decodable on its own from exactly its byte range; a ranged GET may cover one or several)
 * ----------------------------------------------------------------------------------------------------
 *   offset  size  field
 *        0     4  u32 batchLength: number of bytes after this field (the batch is batchLength + 4 bytes)
 *        4     1  u8 batch magic / batch format version = 1
 *        5     4  u32 CRC32C (Castagnoli) of every byte from offset 9 to the end of the batch
 *        9     1  u8 attributes: bits 0-2 codec (0 none, 1 gzip, 2 zstd); bits 3-7 reserved = 0
 *       10     2  u16 topic name length T
 *       12     T  topic name
 *     12+T     2  u16 topicId length I
 *     14+T     I  topicId
 *   14+T+I     4  u32 partition
 *   18+T+I     4  u32 recordCount (≥ 1, or 0 for a batch key compaction emptied: see BatchInput.timestamps)
 *   22+T+I     4  u32 lastOffsetDelta (≥ the last record's offsetDelta; equal unless compaction removed it)
 *   26+T+I     8  i64 firstTimestamp: the smallest record timestamp (epoch ms)
 *   34+T+I     8  i64 maxTimestamp: the largest record timestamp
 *   42+T+I     4  u32 uncompressed payload length U
 *   46+T+I     …  payload: the records, compressed with the codec (exactly U bytes once decompressed)
 *
 *   So a batch costs 46 + T + I bytes beside its payload. The batch magic byte and batchLength sit before
 *   the CRC and are not covered by it: the magic is checked for its one allowed value, and the length
 *   against the byte range being decoded.
 *
 *   Record (in the payload, recordCount of them, back to back, nothing after the last):
 *     uvarint offsetDelta         strictly increasing within a batch, ≤ lastOffsetDelta
 *     varint  timestampDelta      record timestamp − firstTimestamp (so never negative in practice)
 *     u8      format              0 json, 1 text, 2 binary
 *     varint  keyLength           −1 = null key, otherwise that many key bytes follow
 *     …       key
 *     varint  valueLength         −1 = null value (a tombstone), otherwise that many value bytes follow
 *     …       value
 *     uvarint headerCount
 *     headerCount × { uvarint nameLength, name (UTF-8), uvarint valueLength, value (UTF-8) }
 *
 * Footer (a directory of the batches, so a reader holding the whole object lists them without scanning)
 * ------------------------------------------------------------------------------------------------------
 *     u32     CRC32C of the rest of the footer body (from the byte after this field to the footerLength field)
 *     uvarint topicCount          distinct (topic, topicId) pairs, in order of first use
 *     topicCount × { uvarint topic length, topic, uvarint topicId length, topicId }
 *     uvarint batchCount
 *     batchCount × {
 *       uvarint topicIndex        index into the pair table above
 *       uvarint partition
 *       uvarint byteLength        whole batch, its length field included
 *       uvarint recordCount
 *       uvarint lastOffsetDelta
 *       varint  firstTimestamp − the previous entry's firstTimestamp (0 before the first entry)
 *       uvarint maxTimestamp − firstTimestamp
 *     }
 *
 *   Byte offsets are implicit: batch 0 starts at byte 8 (SEGMENT_HEADER_BYTES) and each next batch
 *   right after the previous one; the last batch must end exactly where the footer body starts. An entry
 *   costs about 8-12 bytes; a pair of names is stored once however many batches use it.
 *
 * Timestamps are integers in [MIN_TIMESTAMP, MAX_TIMESTAMP] = ±(2^51 − 1) ms (about ±71,000 years around
 * 1970), so every difference of two of them zigzag-encodes to a safe integer.
 */
import { crc32c } from '@node-rs/crc32';
import { CorruptBatchError } from '../errors.js';
import { COMPRESSIONS, type Compression, type LogRecord, VALUE_FORMATS, type ValueFormat } from '../types.js';
import { compress, decompress } from './compression.js';
import { ByteReader, unzigzag, uvarintSize, writeUVarint, zigzag } from './varint.js';

export interface SegmentRecord extends LogRecord {
  offsetDelta: number;
}

export interface BatchInput {
  topic: string;
  topicId: string;
  partition: number;
  /** Record i gets offsetDelta i unless `offsetDeltas` is given. */
  records: LogRecord[];
  /**
   * Explicit per-record offset deltas (same length as `records`, strictly increasing, ≥ 0), for rewriting a
   * batch with gaps (key compaction). Omitted: 0, 1, 2, …
   */
  offsetDeltas?: readonly number[];
  /** The batch's lastOffsetDelta, when it must stay past the last kept record. Default: the last record's. */
  lastOffsetDelta?: number;
  /**
   * For a batch with no records (key compaction removed them all while its index entry must stay): its
   * first and max timestamps, which otherwise come from the records. Such a batch also needs lastOffsetDelta.
   */
  timestamps?: { first: number; max: number };
}

export interface BatchLocation {
  topic: string;
  topicId: string;
  partition: number;
  /** Where the batch starts in the object (its length field). */
  byteOffset: number;
  /** The whole batch, its length field included: GET bytes [byteOffset, byteOffset + byteLength). */
  byteLength: number;
  recordCount: number;
  lastOffsetDelta: number;
  firstTimestamp: number;
  maxTimestamp: number;
}

export interface EncodedSegment {
  bytes: Buffer;
  /** One per input batch, in input order. */
  batches: BatchLocation[];
}

export interface DecodedBatch {
  topic: string;
  topicId: string;
  partition: number;
  recordCount: number;
  lastOffsetDelta: number;
  firstTimestamp: number;
  maxTimestamp: number;
  compression: Compression;
  records: SegmentRecord[];
}

export const SEGMENT_MAGIC = 'SLCE';
export const SEGMENT_FOOTER_MAGIC = 'SLCF';
export const SEGMENT_FORMAT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 8;
/** u32 footerLength + footer magic. */
export const SEGMENT_TRAILER_BYTES = 8;
export const BATCH_MAGIC = 1;
/** Bytes of a batch besides its topic name, topicId and payload. */
export const BATCH_OVERHEAD_BYTES = 46;
export const MAX_TIMESTAMP = 2 ** 51 - 1;
export const MIN_TIMESTAMP = -MAX_TIMESTAMP;

const SEGMENT_MAGIC_U32 = 0x534c4345;
const FOOTER_MAGIC_U32 = 0x534c4346;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;
const TWO_32 = 0x100000000;
/** Batch offsets (from the start of the batch, i.e. of its length field). */
const MAGIC_AT = 4;
const CRC_AT = 5;
const CRC_COVERS_FROM = 9;
const ATTRIBUTES_AT = 9;
const TOPIC_AT = 10;
const CODEC_MASK = 0x07;
/** Smallest possible encoded record: six one-byte fields. */
const MIN_RECORD_BYTES = 6;

/** Wire ids: a codec's (and a value format's) position in its list in lib/types.ts. */
const CODECS: readonly Compression[] = COMPRESSIONS;
const FORMATS: readonly ValueFormat[] = VALUE_FORMATS;

function codecId(codec: Compression): number {
  const id = CODECS.indexOf(codec);
  if (id < 0) throw new TypeError(`unknown compression codec '${String(codec)}'`);
  return id;
}

function formatId(format: ValueFormat): number {
  const id = FORMATS.indexOf(format);
  if (id < 0) throw new TypeError(`unknown value format '${String(format)}'`);
  return id;
}

// ---------------------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------------------

interface BatchPlan {
  input: BatchInput;
  topicBytes: number;
  topicIdBytes: number;
  firstTimestamp: number;
  maxTimestamp: number;
  lastOffsetDelta: number;
  payloadLength: number;
  /** The compressed payload, or null when the payload is written straight into the object. */
  compressed: Buffer | null;
  /** Per record: header count, then (name bytes, value bytes) per header, computed once while sizing. */
  headerLengths: number[];
  byteLength: number;
}

function checkU32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) {
    throw new RangeError(`${what} must be an integer in [0, ${U32_MAX}], got ${value}`);
  }
}

/** Validates and sizes one batch, its payload uncompressed (`compressed: null`, `byteLength` to match). */
function planBatch(input: BatchInput): BatchPlan {
  const { records, offsetDeltas } = input;
  const count = records.length;
  const topicBytes = Buffer.byteLength(input.topic, 'utf8');
  const topicIdBytes = Buffer.byteLength(input.topicId, 'utf8');
  if (topicBytes > U16_MAX) throw new RangeError(`topic name is ${topicBytes} bytes, over ${U16_MAX}`);
  if (topicIdBytes > U16_MAX) throw new RangeError(`topicId is ${topicIdBytes} bytes, over ${U16_MAX}`);
  checkU32(input.partition, 'partition');
  if (count === 0 && (input.lastOffsetDelta === undefined || input.timestamps === undefined)) {
    throw new RangeError(
      `a batch needs at least one record, or lastOffsetDelta and timestamps (${input.topic}/${input.partition})`,
    );
  }

  let lastDelta = count - 1;
  if (offsetDeltas !== undefined) {
    if (offsetDeltas.length !== count) {
      throw new RangeError(`offsetDeltas has ${offsetDeltas.length} entries for ${count} records`);
    }
    let previous = -1;
    for (let i = 0; i < count; i++) {
      const delta = offsetDeltas[i] as number;
      checkU32(delta, 'offsetDelta');
      if (delta <= previous) throw new RangeError('offsetDeltas must be strictly increasing');
      previous = delta;
    }
    lastDelta = previous;
  }
  if (input.lastOffsetDelta !== undefined) {
    checkU32(input.lastOffsetDelta, 'lastOffsetDelta');
    if (input.lastOffsetDelta < lastDelta) {
      throw new RangeError(
        `lastOffsetDelta ${input.lastOffsetDelta} is before the last record's ${lastDelta}`,
      );
    }
    lastDelta = input.lastOffsetDelta;
  }
  checkU32(lastDelta, 'lastOffsetDelta');

  let first = count === 0 ? (input.timestamps?.first ?? 0) : Number.POSITIVE_INFINITY;
  let max = count === 0 ? (input.timestamps?.max ?? 0) : Number.NEGATIVE_INFINITY;
  if (count === 0 && (first < MIN_TIMESTAMP || max > MAX_TIMESTAMP || first > max)) {
    throw new RangeError(`batch timestamps [${first}, ${max}] are out of range`);
  }
  for (let i = 0; i < count; i++) {
    const ts = (records[i] as LogRecord).timestamp;
    if (!Number.isInteger(ts) || ts < MIN_TIMESTAMP || ts > MAX_TIMESTAMP) {
      throw new RangeError(`record timestamp must be an integer within ±${MAX_TIMESTAMP}, got ${ts}`);
    }
    if (ts < first) first = ts;
    if (ts > max) max = ts;
  }

  const headerLengths: number[] = [];
  let size = 0;
  for (let i = 0; i < count; i++) {
    const record = records[i] as LogRecord;
    const { key, value, headers } = record;
    size += uvarintSize(offsetDeltas === undefined ? i : (offsetDeltas[i] as number));
    size += uvarintSize(zigzag(record.timestamp - first));
    size += 1;
    size += key === null ? 1 : uvarintSize(key.length * 2) + key.length;
    size += value === null ? 1 : uvarintSize(value.length * 2) + value.length;
    const countAt = headerLengths.length;
    headerLengths.push(0);
    let headerCount = 0;
    for (const name in headers) {
      const nameBytes = Buffer.byteLength(name, 'utf8');
      const valueBytes = Buffer.byteLength(headers[name] as string, 'utf8');
      headerLengths.push(nameBytes, valueBytes);
      size += uvarintSize(nameBytes) + nameBytes + uvarintSize(valueBytes) + valueBytes;
      headerCount++;
    }
    headerLengths[countAt] = headerCount;
    size += uvarintSize(headerCount);
  }
  checkU32(size, 'uncompressed batch payload length');

  const byteLength = BATCH_OVERHEAD_BYTES + topicBytes + topicIdBytes + size;
  return {
    input,
    topicBytes,
    topicIdBytes,
    firstTimestamp: first,
    maxTimestamp: max,
    lastOffsetDelta: lastDelta,
    payloadLength: size,
    compressed: null,
    headerLengths,
    byteLength,
  };
}

/**
 * Serializes the payload of every plan (synchronously: the records are read before the first await), then
 * compresses them all at once (the codecs run on libuv's thread pool) and sets each plan's `compressed` and
 * `byteLength`.
 */
async function compressPayloads(plans: BatchPlan[], codec: Compression): Promise<void> {
  const payloads = plans.map((plan) => {
    const payload = Buffer.allocUnsafe(plan.payloadLength);
    writeRecords(payload, 0, plan.input, plan.firstTimestamp, plan.headerLengths, plan.payloadLength);
    return payload;
  });
  const compressed = await Promise.all(payloads.map((payload) => compress(codec, payload)));
  plans.forEach((plan, i) => {
    const payload = compressed[i] as Buffer;
    plan.compressed = payload;
    plan.byteLength = BATCH_OVERHEAD_BYTES + plan.topicBytes + plan.topicIdBytes + payload.length;
  });
}

/** Writes the records of `input` at `pos`, exactly `expectedBytes` of them (sized by planBatch). */
function writeRecords(
  out: Buffer,
  pos: number,
  input: BatchInput,
  firstTimestamp: number,
  headerLengths: number[],
  expectedBytes: number,
): void {
  const { records, offsetDeltas } = input;
  const count = records.length;
  let p = pos;
  let h = 0;
  for (let i = 0; i < count; i++) {
    const record = records[i] as LogRecord;
    const { key, value, headers } = record;
    p = writeUVarint(out, p, offsetDeltas === undefined ? i : (offsetDeltas[i] as number));
    p = writeUVarint(out, p, zigzag(record.timestamp - firstTimestamp));
    out[p++] = formatId(record.format);
    if (key === null) {
      out[p++] = 1; // zigzag(-1)
    } else {
      p = writeUVarint(out, p, key.length * 2);
      out.set(key, p);
      p += key.length;
    }
    if (value === null) {
      out[p++] = 1;
    } else {
      p = writeUVarint(out, p, value.length * 2);
      out.set(value, p);
      p += value.length;
    }
    const headerCount = headerLengths[h++] as number;
    p = writeUVarint(out, p, headerCount);
    if (headerCount > 0) {
      let written = 0;
      for (const name in headers) {
        if (written === headerCount) break;
        const nameBytes = headerLengths[h++] as number;
        const valueBytes = headerLengths[h++] as number;
        p = writeUVarint(out, p, nameBytes);
        p += out.write(name, p, nameBytes, 'utf8');
        p = writeUVarint(out, p, valueBytes);
        p += out.write(headers[name] as string, p, valueBytes, 'utf8');
        written++;
      }
      if (written !== headerCount)
        throw new Error('record headers changed while the batch was being encoded');
    }
  }
  if (p - pos !== expectedBytes) {
    throw new Error(`batch payload came to ${p - pos} bytes, expected ${expectedBytes} (records changed?)`);
  }
}

function writeTimestamp(out: Buffer, pos: number, ts: number): void {
  const high = Math.floor(ts / TWO_32);
  out.writeInt32BE(high, pos);
  out.writeUInt32BE(ts - high * TWO_32, pos + 4);
}

function readTimestamp(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4);
}

/** Writes one planned batch at `start`; returns the position after it. */
function writeBatch(out: Buffer, start: number, plan: BatchPlan, codec: number): number {
  const { input } = plan;
  const end = start + plan.byteLength;
  out.writeUInt32BE(plan.byteLength - 4, start);
  out[start + MAGIC_AT] = BATCH_MAGIC;
  out[start + ATTRIBUTES_AT] = codec;
  let p = start + TOPIC_AT;
  out.writeUInt16BE(plan.topicBytes, p);
  p += 2;
  p += out.write(input.topic, p, plan.topicBytes, 'utf8');
  out.writeUInt16BE(plan.topicIdBytes, p);
  p += 2;
  p += out.write(input.topicId, p, plan.topicIdBytes, 'utf8');
  out.writeUInt32BE(input.partition, p);
  out.writeUInt32BE(input.records.length, p + 4);
  out.writeUInt32BE(plan.lastOffsetDelta, p + 8);
  writeTimestamp(out, p + 12, plan.firstTimestamp);
  writeTimestamp(out, p + 20, plan.maxTimestamp);
  out.writeUInt32BE(plan.payloadLength, p + 28);
  p += 32;
  if (plan.compressed === null) {
    writeRecords(out, p, input, plan.firstTimestamp, plan.headerLengths, plan.payloadLength);
  } else {
    out.set(plan.compressed, p);
  }
  out.writeUInt32BE(crc32c(out.subarray(start + CRC_COVERS_FROM, end)), start + CRC_AT);
  return end;
}

function encodeFooter(locations: BatchLocation[]): Buffer {
  const pairIndex = new Map<string, number>();
  const pairs: { topic: string; topicId: string; topicBytes: number; topicIdBytes: number }[] = [];
  const indexes: number[] = [];
  let size = 4;
  for (const loc of locations) {
    const pairKey = `${loc.topicId}\u0000${loc.topic}`;
    let index = pairIndex.get(pairKey);
    if (index === undefined) {
      index = pairs.length;
      pairIndex.set(pairKey, index);
      const topicBytes = Buffer.byteLength(loc.topic, 'utf8');
      const topicIdBytes = Buffer.byteLength(loc.topicId, 'utf8');
      pairs.push({ topic: loc.topic, topicId: loc.topicId, topicBytes, topicIdBytes });
      size += uvarintSize(topicBytes) + topicBytes + uvarintSize(topicIdBytes) + topicIdBytes;
    }
    indexes.push(index);
  }
  size += uvarintSize(pairs.length) + uvarintSize(locations.length);
  let previousFirst = 0;
  for (let i = 0; i < locations.length; i++) {
    const loc = locations[i] as BatchLocation;
    size +=
      uvarintSize(indexes[i] as number) +
      uvarintSize(loc.partition) +
      uvarintSize(loc.byteLength) +
      uvarintSize(loc.recordCount) +
      uvarintSize(loc.lastOffsetDelta) +
      uvarintSize(zigzag(loc.firstTimestamp - previousFirst)) +
      uvarintSize(loc.maxTimestamp - loc.firstTimestamp);
    previousFirst = loc.firstTimestamp;
  }

  const out = Buffer.allocUnsafe(size);
  let p = writeUVarint(out, 4, pairs.length);
  for (const pair of pairs) {
    p = writeUVarint(out, p, pair.topicBytes);
    p += out.write(pair.topic, p, pair.topicBytes, 'utf8');
    p = writeUVarint(out, p, pair.topicIdBytes);
    p += out.write(pair.topicId, p, pair.topicIdBytes, 'utf8');
  }
  p = writeUVarint(out, p, locations.length);
  previousFirst = 0;
  for (let i = 0; i < locations.length; i++) {
    const loc = locations[i] as BatchLocation;
    p = writeUVarint(out, p, indexes[i] as number);
    p = writeUVarint(out, p, loc.partition);
    p = writeUVarint(out, p, loc.byteLength);
    p = writeUVarint(out, p, loc.recordCount);
    p = writeUVarint(out, p, loc.lastOffsetDelta);
    p = writeUVarint(out, p, zigzag(loc.firstTimestamp - previousFirst));
    p = writeUVarint(out, p, loc.maxTimestamp - loc.firstTimestamp);
    previousFirst = loc.firstTimestamp;
  }
  if (p !== size) throw new Error(`segment footer came to ${p} bytes, expected ${size}`);
  out.writeUInt32BE(crc32c(out.subarray(4)), 0);
  return out;
}

/**
 * Encodes batches into one segment object. Every batch uses the same codec; compressed payloads are
 * compressed in parallel first. The object is allocated once; uncompressed payloads are written straight
 * into it. Invalid input rejects with a RangeError.
 */
export async function encodeSegment(
  batches: BatchInput[],
  options: { compression?: Compression } = {},
): Promise<EncodedSegment> {
  const codec = options.compression ?? 'none';
  const codecBits = codecId(codec);
  const plans = batches.map((input) => planBatch(input));
  if (codec !== 'none') await compressPayloads(plans, codec);
  const locations: BatchLocation[] = [];
  let offset = SEGMENT_HEADER_BYTES;
  for (const plan of plans) {
    const { input } = plan;
    checkU32(plan.byteLength - 4, 'batch length');
    locations.push({
      topic: input.topic,
      topicId: input.topicId,
      partition: input.partition,
      byteOffset: offset,
      byteLength: plan.byteLength,
      recordCount: input.records.length,
      lastOffsetDelta: plan.lastOffsetDelta,
      firstTimestamp: plan.firstTimestamp,
      maxTimestamp: plan.maxTimestamp,
    });
    offset += plan.byteLength;
  }
  const footer = encodeFooter(locations);
  checkU32(footer.length, 'segment footer length');
  const bytes = Buffer.allocUnsafe(offset + footer.length + SEGMENT_TRAILER_BYTES);
  bytes.writeUInt32BE(SEGMENT_MAGIC_U32, 0);
  bytes.writeUInt16BE(SEGMENT_FORMAT_VERSION, 4);
  bytes.writeUInt16BE(0, 6);
  let p = SEGMENT_HEADER_BYTES;
  for (const plan of plans) p = writeBatch(bytes, p, plan, codecBits);
  bytes.set(footer, p);
  p += footer.length;
  bytes.writeUInt32BE(footer.length, p);
  bytes.writeUInt32BE(FOOTER_MAGIC_U32, p + 4);
  return { bytes, batches: locations };
}

// ---------------------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------------------

function readRecordBytes(reader: ByteReader, what: string): Buffer | null {
  const z = reader.uvarint(what);
  if (z === 1) return null;
  if (z % 2 !== 0) throw new CorruptBatchError(`${what}: negative length ${unzigzag(z)}`);
  return reader.bytes(z / 2, what);
}

function setHeader(headers: Record<string, string>, name: string, value: string): void {
  if (name === '__proto__') {
    Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true });
  } else {
    headers[name] = value;
  }
}

function decodeRecords(
  payload: Buffer,
  recordCount: number,
  lastOffsetDelta: number,
  firstTimestamp: number,
  maxTimestamp: number,
): SegmentRecord[] {
  if (recordCount > payload.length / MIN_RECORD_BYTES) {
    throw new CorruptBatchError(`record count ${recordCount} cannot fit in a ${payload.length}-byte payload`);
  }
  const reader = new ByteReader(payload);
  const records: SegmentRecord[] = [];
  let previousDelta = -1;
  let seenFirst = false;
  let seenMax = false;
  for (let i = 0; i < recordCount; i++) {
    const offsetDelta = reader.uvarint('record offsetDelta');
    if (offsetDelta <= previousDelta || offsetDelta > lastOffsetDelta) {
      throw new CorruptBatchError(
        `record ${i} has offsetDelta ${offsetDelta} (previous ${previousDelta}, last ${lastOffsetDelta})`,
      );
    }
    previousDelta = offsetDelta;
    const timestampDelta = reader.varint('record timestampDelta');
    const timestamp = firstTimestamp + timestampDelta;
    if (timestampDelta < 0 || timestamp > maxTimestamp) {
      throw new CorruptBatchError(`record ${i} timestamp ${timestamp} is outside the batch's range`);
    }
    if (timestampDelta === 0) seenFirst = true;
    if (timestamp === maxTimestamp) seenMax = true;
    const formatByte = reader.u8('record format');
    const format = FORMATS[formatByte];
    if (format === undefined)
      throw new CorruptBatchError(`record ${i} has unknown value format ${formatByte}`);
    const key = readRecordBytes(reader, 'record key');
    const value = readRecordBytes(reader, 'record value');
    const headerCount = reader.uvarint('record header count');
    if (headerCount > reader.remaining / 2) {
      throw new CorruptBatchError(`record ${i} claims ${headerCount} headers in ${reader.remaining} bytes`);
    }
    const headers: Record<string, string> = {};
    for (let j = 0; j < headerCount; j++) {
      const name = reader.utf8(reader.uvarint('header name length'), 'header name');
      setHeader(headers, name, reader.utf8(reader.uvarint('header value length'), 'header value'));
    }
    records.push({ offsetDelta, key, value, format, headers, timestamp });
  }
  if (reader.remaining !== 0) {
    throw new CorruptBatchError(`${reader.remaining} bytes left in the payload after ${recordCount} records`);
  }
  if (recordCount > 0 && (!seenFirst || !seenMax)) {
    throw new CorruptBatchError('batch firstTimestamp/maxTimestamp disagree with its records');
  }
  return records;
}

/**
 * Decodes exactly one batch: `bytes` must be the batch's whole byte range, no more, no less. Checks the
 * length and the CRC before parsing anything else; any inconsistency is a CorruptBatchError.
 */
export async function decodeBatch(bytes: Buffer): Promise<DecodedBatch> {
  if (bytes.length < BATCH_OVERHEAD_BYTES) {
    throw new CorruptBatchError(
      `batch truncated: ${bytes.length} bytes, a batch has at least ${BATCH_OVERHEAD_BYTES}`,
    );
  }
  const batchLength = bytes.readUInt32BE(0);
  if (batchLength !== bytes.length - 4) {
    throw new CorruptBatchError(
      batchLength > bytes.length - 4
        ? `batch truncated: its length field says ${batchLength} bytes follow, only ${bytes.length - 4} do`
        : `batch length field says ${batchLength} bytes follow, but the range holds ${bytes.length - 4}`,
    );
  }
  const magic = bytes[MAGIC_AT];
  if (magic !== BATCH_MAGIC) throw new CorruptBatchError(`unknown batch magic/version ${String(magic)}`);
  const storedCrc = bytes.readUInt32BE(CRC_AT);
  const actualCrc = crc32c(bytes.subarray(CRC_COVERS_FROM));
  if (storedCrc !== actualCrc) {
    throw new CorruptBatchError(
      `batch CRC32C mismatch: stored ${storedCrc.toString(16)}, computed ${actualCrc.toString(16)}`,
    );
  }

  const attributes = bytes[ATTRIBUTES_AT] ?? 0;
  const compression = CODECS[attributes & CODEC_MASK];
  if (compression === undefined)
    throw new CorruptBatchError(`unknown compression codec ${attributes & CODEC_MASK}`);
  if ((attributes & ~CODEC_MASK) !== 0) {
    throw new CorruptBatchError(`unknown batch attribute bits 0x${attributes.toString(16)}`);
  }
  const reader = new ByteReader(bytes, TOPIC_AT);
  const topic = reader.utf8(readU16(reader, 'topic length'), 'topic');
  const topicId = reader.utf8(readU16(reader, 'topicId length'), 'topicId');
  const fixed = reader.bytes(32, 'batch header');
  const partition = fixed.readUInt32BE(0);
  const recordCount = fixed.readUInt32BE(4);
  const lastOffsetDelta = fixed.readUInt32BE(8);
  const firstTimestamp = readTimestamp(fixed, 12);
  const maxTimestamp = readTimestamp(fixed, 20);
  const payloadLength = fixed.readUInt32BE(28);
  if (firstTimestamp < MIN_TIMESTAMP || maxTimestamp > MAX_TIMESTAMP || firstTimestamp > maxTimestamp) {
    throw new CorruptBatchError(`batch timestamps [${firstTimestamp}, ${maxTimestamp}] are out of range`);
  }
  const stored = bytes.subarray(reader.pos);
  if (compression === 'none' && stored.length !== payloadLength) {
    throw new CorruptBatchError(`payload is ${stored.length} bytes, the batch says ${payloadLength}`);
  }
  const payload = compression === 'none' ? stored : await decompress(compression, stored, payloadLength);
  const records = decodeRecords(payload, recordCount, lastOffsetDelta, firstTimestamp, maxTimestamp);
  return {
    topic,
    topicId,
    partition,
    recordCount,
    lastOffsetDelta,
    firstTimestamp,
    maxTimestamp,
    compression,
    records,
  };
}

function readU16(reader: ByteReader, what: string): number {
  return reader.u8(what) * 0x100 + reader.u8(what);
}

/**
 * Decodes one or more adjacent batches, e.g. a ranged GET spanning several; the range must end on a batch.
 * The framing is checked first, then the batches are decoded concurrently; results are in byte order.
 */
export async function decodeBatches(bytes: Buffer): Promise<DecodedBatch[]> {
  const slices: Buffer[] = [];
  let p = 0;
  while (p < bytes.length) {
    if (bytes.length - p < 4) {
      throw new CorruptBatchError(
        `batch truncated: ${bytes.length - p} trailing bytes where a batch should start`,
      );
    }
    const end = p + 4 + bytes.readUInt32BE(p);
    if (end > bytes.length) {
      throw new CorruptBatchError(
        `batch truncated: batch at byte ${p} needs ${end - p} bytes, the range has ${bytes.length - p}`,
      );
    }
    slices.push(bytes.subarray(p, end));
    p = end;
  }
  return Promise.all(slices.map(decodeBatch));
}

/** Lists the batches of a whole segment object from its footer. Validates header, footer CRC and magic. */
export function readSegmentDirectory(object: Buffer): BatchLocation[] {
  const minimum = SEGMENT_HEADER_BYTES + 6 + SEGMENT_TRAILER_BYTES;
  if (object.length < minimum) {
    throw new CorruptBatchError(
      `segment object is ${object.length} bytes, shorter than the minimum ${minimum}`,
    );
  }
  if (object.readUInt32BE(0) !== SEGMENT_MAGIC_U32) throw new CorruptBatchError('bad segment magic');
  const version = object.readUInt16BE(4);
  if (version !== SEGMENT_FORMAT_VERSION) {
    throw new CorruptBatchError(`unsupported segment format version ${version}`);
  }
  const flags = object.readUInt16BE(6);
  if (flags !== 0) throw new CorruptBatchError(`unknown segment flags 0x${flags.toString(16)}`);
  if (object.readUInt32BE(object.length - 4) !== FOOTER_MAGIC_U32) {
    throw new CorruptBatchError('bad segment footer magic (truncated object?)');
  }
  const footerLength = object.readUInt32BE(object.length - 8);
  const footerEnd = object.length - SEGMENT_TRAILER_BYTES;
  const footerStart = footerEnd - footerLength;
  if (footerLength < 6 || footerStart < SEGMENT_HEADER_BYTES) {
    throw new CorruptBatchError(`segment footer length ${footerLength} does not fit the object`);
  }
  const footer = object.subarray(footerStart, footerEnd);
  const storedCrc = footer.readUInt32BE(0);
  const actualCrc = crc32c(footer.subarray(4));
  if (storedCrc !== actualCrc) {
    throw new CorruptBatchError(
      `segment footer CRC32C mismatch: stored ${storedCrc.toString(16)}, computed ${actualCrc.toString(16)}`,
    );
  }

  const reader = new ByteReader(footer, 4);
  const pairCount = reader.uvarint('footer topic count');
  if (pairCount > reader.remaining / 2) throw new CorruptBatchError(`footer claims ${pairCount} topics`);
  const pairs: { topic: string; topicId: string }[] = [];
  for (let i = 0; i < pairCount; i++) {
    const topic = reader.utf8(reader.uvarint('footer topic length'), 'footer topic');
    const topicId = reader.utf8(reader.uvarint('footer topicId length'), 'footer topicId');
    pairs.push({ topic, topicId });
  }
  const batchCount = reader.uvarint('footer batch count');
  if (batchCount > reader.remaining / 7) throw new CorruptBatchError(`footer claims ${batchCount} batches`);
  const locations: BatchLocation[] = [];
  let byteOffset = SEGMENT_HEADER_BYTES;
  let previousFirst = 0;
  for (let i = 0; i < batchCount; i++) {
    const pair = pairs[reader.uvarint('footer topic index')];
    if (pair === undefined) throw new CorruptBatchError(`footer entry ${i} names an unknown topic`);
    const partition = reader.uvarint('footer partition');
    const byteLength = reader.uvarint('footer batch length');
    const recordCount = reader.uvarint('footer record count');
    const lastOffsetDelta = reader.uvarint('footer lastOffsetDelta');
    const firstTimestamp = previousFirst + reader.varint('footer firstTimestamp');
    const maxTimestamp = firstTimestamp + reader.uvarint('footer maxTimestamp');
    if (
      partition > U32_MAX ||
      byteLength < BATCH_OVERHEAD_BYTES ||
      recordCount > U32_MAX ||
      lastOffsetDelta > U32_MAX ||
      firstTimestamp < MIN_TIMESTAMP ||
      maxTimestamp > MAX_TIMESTAMP
    ) {
      throw new CorruptBatchError(`footer entry ${i} is out of range`);
    }
    if (byteOffset + byteLength > footerStart) {
      throw new CorruptBatchError(`footer entry ${i} runs past the batches into the footer`);
    }
    locations.push({
      topic: pair.topic,
      topicId: pair.topicId,
      partition,
      byteOffset,
      byteLength,
      recordCount,
      lastOffsetDelta,
      firstTimestamp,
      maxTimestamp,
    });
    byteOffset += byteLength;
    previousFirst = firstTimestamp;
  }
  if (reader.remaining !== 0)
    throw new CorruptBatchError(`${reader.remaining} unexpected bytes in the footer`);
  if (byteOffset !== footerStart) {
    throw new CorruptBatchError(`batches end at byte ${byteOffset} but the footer starts at ${footerStart}`);
  }
  return locations;
}

/** Decodes a whole segment object (its batches concurrently), checking every batch against its footer entry. */
export async function decodeSegment(object: Buffer): Promise<DecodedBatch[]> {
  const directory = readSegmentDirectory(object);
  const batches = await Promise.all(
    directory.map((loc) => decodeBatch(object.subarray(loc.byteOffset, loc.byteOffset + loc.byteLength))),
  );
  directory.forEach((loc, i) => {
    const batch = batches[i] as DecodedBatch;
    if (
      batch.topic !== loc.topic ||
      batch.topicId !== loc.topicId ||
      batch.partition !== loc.partition ||
      batch.recordCount !== loc.recordCount ||
      batch.lastOffsetDelta !== loc.lastOffsetDelta ||
      batch.firstTimestamp !== loc.firstTimestamp ||
      batch.maxTimestamp !== loc.maxTimestamp
    ) {
      throw new CorruptBatchError(`batch at byte ${loc.byteOffset} disagrees with the segment footer`);
    }
  });
  return batches;
}
