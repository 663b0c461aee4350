import * as zlib from 'node:zlib';
import { crc32c } from '@node-rs/crc32';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { CorruptBatchError } from '../../lib/errors.js';
import { compress, decompress } from '../../lib/segment/compression.js';
import {
  type BatchInput,
  type DecodedBatch,
  decodeBatch,
  decodeBatches,
  decodeSegment,
  encodeSegment,
  MAX_TIMESTAMP,
  MIN_TIMESTAMP,
  readSegmentDirectory,
  SEGMENT_HEADER_BYTES,
  type SegmentRecord,
} from '../../lib/segment/format.js';
import type { Compression, LogRecord } from '../../lib/types.js';

/** Whether node:zlib has zstd (Node ≥ 22.15); without it, zstd goes through @mongodb-js/zstd. */
const NATIVE_ZSTD = 'zstdCompress' in zlib;

/** Calls reaching @mongodb-js/zstd, to show which zstd implementation the codec used. */
const zstdModuleCalls = vi.hoisted(() => ({ compress: 0, decompress: 0 }));
vi.mock('@mongodb-js/zstd', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@mongodb-js/zstd')>();
  return {
    ...actual,
    compress: (data: Buffer, level?: number) => {
      zstdModuleCalls.compress++;
      return actual.compress(data, level);
    },
    decompress: (data: Buffer) => {
      zstdModuleCalls.decompress++;
      return actual.decompress(data);
    },
  };
});

const CODECS: Compression[] = ['none', 'gzip', 'zstd'];
const T0 = 1_700_000_000_000;

function rec(overrides: Partial<LogRecord> = {}): LogRecord {
  return {
    key: Buffer.from('k'),
    value: Buffer.from('"v"'),
    format: 'json',
    headers: {},
    timestamp: T0,
    ...overrides,
  };
}

function batch(overrides: Partial<BatchInput> = {}): BatchInput {
  return { topic: 'orders', topicId: 'tid-orders-1', partition: 0, records: [rec()], ...overrides };
}

/** What decoding should give back for records encoded with default offset deltas. */
function expected(records: LogRecord[]): SegmentRecord[] {
  return records.map((r, offsetDelta) => ({ ...r, offsetDelta }));
}

async function onlyBatch(input: BatchInput, compression: Compression = 'none'): Promise<DecodedBatch> {
  const batches = await decodeSegment((await encodeSegment([input], { compression })).bytes);
  expect(batches).toHaveLength(1);
  return batches[0] as DecodedBatch;
}

/** The bytes of batch `index` of an encoded segment (a copy, safe to mutate). */
async function batchBytes(
  input: BatchInput[],
  index = 0,
  compression: Compression = 'none',
): Promise<Buffer> {
  const segment = await encodeSegment(input, { compression });
  const loc = segment.batches[index];
  if (loc === undefined) throw new Error('no such batch');
  return Buffer.from(segment.bytes.subarray(loc.byteOffset, loc.byteOffset + loc.byteLength));
}

/** Recomputes a batch's CRC after a deliberate edit, so a structural check (not the CRC) must catch it. */
function reseal(bytes: Buffer): Buffer {
  bytes.writeUInt32BE(crc32c(bytes.subarray(9)), 5);
  return bytes;
}

/** Offset of the fixed header fields (partition…payload length) in a batch of the given topic/topicId. */
function fixedFieldsAt(topic: string, topicId: string): number {
  return 14 + Buffer.byteLength(topic) + Buffer.byteLength(topicId);
}

describe('segment round trip', () => {
  it('round-trips json, text and binary values with their format', async () => {
    const records = [
      rec({ format: 'json', value: Buffer.from('{"a":[1,2,{"b":null}]}') }),
      rec({ format: 'text', value: Buffer.from('plain text, ünïcödé ✓') }),
      rec({ format: 'binary', value: Buffer.from([0, 1, 2, 255, 254, 0, 128]) }),
    ];
    const decoded = await onlyBatch(batch({ records }));
    expect(decoded.records).toEqual(expected(records));
    expect(decoded.records.map((r) => r.format)).toEqual(['json', 'text', 'binary']);
  });

  it('keeps null keys, null values (tombstones) and empty buffers apart', async () => {
    const records = [
      rec({ key: null }),
      rec({ key: Buffer.alloc(0) }),
      rec({ value: null }),
      rec({ value: Buffer.alloc(0) }),
      rec({ key: null, value: null }),
    ];
    const decoded = (await onlyBatch(batch({ records }))).records;
    expect(decoded).toEqual(expected(records));
    expect(decoded[0]?.key).toBeNull();
    expect(decoded[1]?.key).toEqual(Buffer.alloc(0));
    expect(decoded[2]?.value).toBeNull();
    expect(decoded[3]?.value).toEqual(Buffer.alloc(0));
  });

  it('round-trips headers, including unicode, empty values and empty header sets', async () => {
    const records = [
      rec({ headers: {} }),
      rec({ headers: { 'content-type': 'application/json', trace: '' } }),
      rec({ headers: { ключ: 'значение', 名前: '値 🎉', '': 'empty name', emoji: '👩‍💻' } }),
    ];
    expect((await onlyBatch(batch({ records }))).records).toEqual(expected(records));
  });

  it('keeps a header named __proto__ as an ordinary header', async () => {
    const headers: Record<string, string> = {};
    Object.defineProperty(headers, '__proto__', {
      value: 'x',
      enumerable: true,
      writable: true,
      configurable: true,
    });
    const [decoded] = (await onlyBatch(batch({ records: [rec({ headers })] }))).records;
    expect(Object.keys(decoded?.headers ?? {})).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(decoded?.headers, '__proto__')?.value).toBe('x');
  });

  it('keeps non-monotonic timestamps and reports the smallest and largest', async () => {
    const timestamps = [T0 + 500, T0 - 2_000, T0 + 10_000, T0, T0 - 2_000];
    const records = timestamps.map((timestamp) => rec({ timestamp }));
    const decoded = await onlyBatch(batch({ records }));
    expect(decoded.records.map((r) => r.timestamp)).toEqual(timestamps);
    expect(decoded.firstTimestamp).toBe(T0 - 2_000);
    expect(decoded.maxTimestamp).toBe(T0 + 10_000);
  });

  it('round-trips extreme and negative timestamps', async () => {
    const timestamps = [0, -1, MAX_TIMESTAMP, MIN_TIMESTAMP, 2 ** 32, -(2 ** 32) - 1];
    const records = timestamps.map((timestamp) => rec({ timestamp }));
    expect((await onlyBatch(batch({ records }))).records.map((r) => r.timestamp)).toEqual(timestamps);
    for (const ts of timestamps) {
      expect((await onlyBatch(batch({ records: [rec({ timestamp: ts })] }))).firstTimestamp).toBe(ts);
    }
  });

  it('stores several topics and partitions in one object, in input order', async () => {
    const inputs = [
      batch({ topic: 'orders', topicId: 'o-1', partition: 0, records: [rec({ value: Buffer.from('1') })] }),
      batch({ topic: 'payments', topicId: 'p-1', partition: 7, records: [rec(), rec({ key: null })] }),
      batch({ topic: 'orders', topicId: 'o-1', partition: 3, records: [rec({ timestamp: T0 + 1 })] }),
      batch({ topic: 'orders', topicId: 'o-2', partition: 0, records: [rec({ format: 'text' })] }),
      batch({ topic: 'ünïcode-topic', topicId: 'u', partition: 4_294_967_295, records: [rec()] }),
    ];
    const decoded = await decodeSegment((await encodeSegment(inputs)).bytes);
    expect(decoded.map((b) => [b.topic, b.topicId, b.partition, b.recordCount])).toEqual([
      ['orders', 'o-1', 0, 1],
      ['payments', 'p-1', 7, 2],
      ['orders', 'o-1', 3, 1],
      ['orders', 'o-2', 0, 1],
      ['ünïcode-topic', 'u', 4_294_967_295, 1],
    ]);
    decoded.forEach((b, i) => {
      expect(b.records).toEqual(expected(inputs[i]?.records ?? []));
    });
  });

  it('assigns offset deltas 0..n-1 by default and keeps explicit deltas with gaps', async () => {
    const plain = await onlyBatch(batch({ records: [rec(), rec(), rec()] }));
    expect(plain.records.map((r) => r.offsetDelta)).toEqual([0, 1, 2]);
    expect(plain.lastOffsetDelta).toBe(2);

    const compacted = await onlyBatch(
      batch({ records: [rec(), rec()], offsetDeltas: [1, 5], lastOffsetDelta: 9 }),
    );
    expect(compacted.records.map((r) => r.offsetDelta)).toEqual([1, 5]);
    expect(compacted.lastOffsetDelta).toBe(9);
    expect(compacted.recordCount).toBe(2);
  });

  it('rejects offset deltas that are not strictly increasing or a lastOffsetDelta before the last record', async () => {
    await expect(encodeSegment([batch({ records: [rec(), rec()], offsetDeltas: [3, 3] })])).rejects.toThrow(
      RangeError,
    );
    await expect(
      encodeSegment([batch({ records: [rec()], offsetDeltas: [4], lastOffsetDelta: 3 })]),
    ).rejects.toThrow(RangeError);
    await expect(encodeSegment([batch({ records: [rec()], offsetDeltas: [] })])).rejects.toThrow(RangeError);
  });

  it('rejects an empty batch (unless compaction gives its span) and out-of-range timestamps or partitions', async () => {
    await expect(encodeSegment([batch({ records: [] })])).rejects.toThrow(RangeError);
    await expect(encodeSegment([batch({ records: [], lastOffsetDelta: 3 })])).rejects.toThrow(RangeError);
    await expect(
      encodeSegment([batch({ records: [rec({ timestamp: MAX_TIMESTAMP + 1 })] })]),
    ).rejects.toThrow(RangeError);
    await expect(encodeSegment([batch({ records: [rec({ timestamp: 1.5 })] })])).rejects.toThrow(RangeError);
    await expect(encodeSegment([batch({ partition: -1 })])).rejects.toThrow(RangeError);
  });

  it('round-trips a batch key compaction emptied: no records, its offset span and timestamps kept', async () => {
    const segment = await encodeSegment([
      batch({ records: [], lastOffsetDelta: 6, timestamps: { first: 1_000, max: 2_000 } }),
      batch({ records: [rec()] }),
    ]);
    const [empty, full] = await decodeSegment(segment.bytes);
    expect(empty).toMatchObject({
      recordCount: 0,
      lastOffsetDelta: 6,
      firstTimestamp: 1_000,
      maxTimestamp: 2_000,
    });
    expect(empty?.records).toEqual([]);
    expect(full?.records).toHaveLength(1);
    expect(readSegmentDirectory(segment.bytes)[0]).toMatchObject({ recordCount: 0, lastOffsetDelta: 6 });
    await expect(
      encodeSegment([batch({ records: [], lastOffsetDelta: 6, timestamps: { first: 2, max: 1 } })]),
    ).rejects.toThrow(RangeError);
  });

  it('encodes an object with no batches', async () => {
    const segment = await encodeSegment([]);
    expect(segment.batches).toEqual([]);
    expect(readSegmentDirectory(segment.bytes)).toEqual([]);
    expect(await decodeSegment(segment.bytes)).toEqual([]);
  });

  it('frames the object with SLCE, version 1 and a trailing SLCF', async () => {
    const { bytes } = await encodeSegment([batch()]);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('SLCE');
    expect(bytes.readUInt16BE(4)).toBe(1);
    expect(bytes.readUInt16BE(6)).toBe(0);
    expect(bytes.subarray(bytes.length - 4).toString('latin1')).toBe('SLCF');
    expect(SEGMENT_HEADER_BYTES).toBe(8);
  });

  it('returns key and value as views of the object, not copies, when uncompressed', async () => {
    const { bytes } = await encodeSegment([
      batch({ records: [rec({ key: Buffer.from('kk'), value: Buffer.from('vv') })] }),
    ]);
    const [record] = (await decodeSegment(bytes))[0]?.records ?? [];
    expect(record?.value?.buffer).toBe(bytes.buffer);
    expect(record?.key?.buffer).toBe(bytes.buffer);
  });

  it.each(CODECS)('round-trips every batch with codec %s and reports it', async (compression) => {
    const records = Array.from({ length: 50 }, (_, i) =>
      rec({
        key: i % 7 === 0 ? null : Buffer.from(`key-${i}`),
        value: i % 11 === 0 ? null : Buffer.from(JSON.stringify({ i, text: 'repetitive '.repeat(20) })),
        headers: i % 2 === 0 ? { h: `v${i}`, ü: '✓' } : {},
        timestamp: T0 + ((i * 37) % 100) - 50,
      }),
    );
    const inputs = [batch({ records }), batch({ partition: 1, records: records.slice(0, 3) })];
    const segment = await encodeSegment(inputs, { compression });
    const decoded = await decodeSegment(segment.bytes);
    expect(decoded.map((b) => b.compression)).toEqual([compression, compression]);
    expect(decoded[0]?.records).toEqual(expected(records));
    expect(decoded[1]?.records).toEqual(expected(records.slice(0, 3)));
    if (compression !== 'none') {
      const plain = await encodeSegment(inputs);
      expect(segment.bytes.length).toBeLessThan(plain.bytes.length / 3);
    }
  });
});

describe('ranged reads', () => {
  const inputs = [
    batch({ partition: 0, records: [rec({ value: Buffer.from('a') })] }),
    batch({ partition: 1, records: [rec({ value: Buffer.from('b') }), rec({ value: null })] }),
    batch({ topic: 'other', topicId: 'x', partition: 2, records: [rec({ key: null })] }),
    batch({ partition: 3, records: [rec({ headers: { a: 'b' } })] }),
  ];

  it.each(CODECS)('decodes each batch alone from its BatchLocation byte range (%s)', async (compression) => {
    const segment = await encodeSegment(inputs, { compression });
    expect(segment.batches).toHaveLength(inputs.length);
    for (const [i, loc] of segment.batches.entries()) {
      const input = inputs[i] as BatchInput;
      const slice = Buffer.from(segment.bytes.subarray(loc.byteOffset, loc.byteOffset + loc.byteLength));
      const decoded = await decodeBatch(slice);
      expect(decoded).toMatchObject({
        topic: input.topic,
        topicId: input.topicId,
        partition: input.partition,
        recordCount: input.records.length,
        lastOffsetDelta: loc.lastOffsetDelta,
        firstTimestamp: loc.firstTimestamp,
        maxTimestamp: loc.maxTimestamp,
        compression,
      });
      expect(decoded.records).toEqual(expected(input.records));
    }
  });

  it('lays batches back to back from the end of the object header', async () => {
    const segment = await encodeSegment(inputs);
    let offset = SEGMENT_HEADER_BYTES;
    for (const loc of segment.batches) {
      expect(loc.byteOffset).toBe(offset);
      expect(segment.bytes.readUInt32BE(loc.byteOffset)).toBe(loc.byteLength - 4);
      offset += loc.byteLength;
    }
  });

  it('decodes a range covering several adjacent batches', async () => {
    const segment = await encodeSegment(inputs, { compression: 'zstd' });
    const first = segment.batches[1];
    const last = segment.batches[3];
    if (first === undefined || last === undefined) throw new Error('missing batches');
    const range = segment.bytes.subarray(first.byteOffset, last.byteOffset + last.byteLength);
    const decoded = await decodeBatches(range);
    expect(decoded.map((b) => b.partition)).toEqual([1, 2, 3]);
    expect(decoded.map((b) => b.records)).toEqual(inputs.slice(1).map((input) => expected(input.records)));
    expect(await decodeBatches(Buffer.alloc(0))).toEqual([]);
  });

  it('rejects a range that ends inside a batch', async () => {
    const segment = await encodeSegment(inputs);
    const last = segment.batches[2];
    if (last === undefined) throw new Error('missing batch');
    const range = segment.bytes.subarray(SEGMENT_HEADER_BYTES, last.byteOffset + last.byteLength - 1);
    await expect(decodeBatches(range)).rejects.toThrow(CorruptBatchError);
    const twoBytesIn = segment.bytes.subarray(SEGMENT_HEADER_BYTES, last.byteOffset + 2);
    await expect(decodeBatches(twoBytesIn)).rejects.toThrow(/truncated/);
  });

  it('lists the batches from the footer exactly as encoding reported them', async () => {
    for (const compression of CODECS) {
      const segment = await encodeSegment(inputs, { compression });
      expect(readSegmentDirectory(segment.bytes)).toEqual(segment.batches);
    }
  });

  it('keeps the footer small', async () => {
    const many = Array.from({ length: 100 }, (_, partition) =>
      batch({ partition, records: [rec({ timestamp: T0 + partition })] }),
    );
    const { bytes } = await encodeSegment(many);
    const footerLength = bytes.readUInt32BE(bytes.length - 8);
    expect(footerLength).toBeLessThan(100 * 14 + 40);
  });
});

describe('round-trip property', () => {
  const timestamp = fc.oneof(
    fc.integer({ min: T0 - 1e9, max: T0 + 1e9 }),
    fc.integer({ min: MIN_TIMESTAMP, max: MAX_TIMESTAMP }),
    fc.constantFrom(0, MIN_TIMESTAMP, MAX_TIMESTAMP),
  );
  const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
  const record: fc.Arbitrary<LogRecord> = fc.record({
    key: fc.option(bytes(24), { nil: null }),
    value: fc.option(bytes(200), { nil: null }),
    format: fc.constantFrom('json' as const, 'text' as const, 'binary' as const),
    headers: fc.dictionary(
      fc.string({ unit: 'binary', maxLength: 8 }),
      fc.string({ unit: 'binary', maxLength: 12 }),
      {
        maxKeys: 3,
        noNullPrototype: true,
      },
    ),
    timestamp,
  });
  const batchInput: fc.Arbitrary<BatchInput> = fc.record({
    topic: fc.string({ unit: 'binary', maxLength: 20 }),
    topicId: fc.string({ maxLength: 12 }),
    partition: fc.nat({ max: 4_294_967_295 }),
    records: fc.array(record, { minLength: 1, maxLength: 12 }),
  });

  it('decodes what it encodes, whole and batch by batch, for every codec', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(batchInput, { maxLength: 5 }),
        fc.constantFrom(...CODECS),
        async (inputs, compression) => {
          const segment = await encodeSegment(inputs, { compression });
          const decoded = await decodeSegment(segment.bytes);
          expect(decoded).toHaveLength(inputs.length);
          expect(readSegmentDirectory(segment.bytes)).toEqual(segment.batches);
          for (const [i, input] of inputs.entries()) {
            const batchOut = decoded[i] as DecodedBatch;
            expect(batchOut.topic).toBe(input.topic);
            expect(batchOut.topicId).toBe(input.topicId);
            expect(batchOut.partition).toBe(input.partition);
            expect(batchOut.records).toEqual(expected(input.records));
            const loc = segment.batches[i];
            if (loc === undefined) throw new Error('missing location');
            const alone = await decodeBatch(
              segment.bytes.subarray(loc.byteOffset, loc.byteOffset + loc.byteLength),
            );
            expect(alone).toEqual(batchOut);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('corruption', () => {
  const small = [
    batch({
      records: [
        rec({
          key: Buffer.from('key'),
          value: Buffer.from('{"x":1}'),
          headers: { h: 'v' },
          timestamp: T0 + 3,
        }),
        rec({ key: null, value: null, format: 'binary', timestamp: T0 }),
      ],
    }),
  ];

  it.each(CODECS)('detects every single flipped byte of a batch (%s)', async (compression) => {
    const good = await batchBytes(small, 0, compression);
    await expect(decodeBatch(good)).resolves.toMatchObject({ compression });
    let checked = 0;
    for (let i = 0; i < good.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const bad = Buffer.from(good);
        bad[i] = (bad[i] ?? 0) ^ mask;
        await expect(decodeBatch(bad), `byte ${i} ^ 0x${mask.toString(16)}`).rejects.toThrow(
          CorruptBatchError,
        );
        checked++;
      }
    }
    expect(checked).toBe(good.length * 3);
  });

  it('detects every single flipped byte of a whole object, header and footer included', async () => {
    const inputs = [...small, batch({ topic: 'b', topicId: 'b1', partition: 9, records: [rec()] })];
    const good = (await encodeSegment(inputs)).bytes;
    for (let i = 0; i < good.length; i++) {
      const bad = Buffer.from(good);
      bad[i] = (bad[i] ?? 0) ^ 0xff;
      await expect(decodeSegment(bad), `byte ${i}`).rejects.toThrow(CorruptBatchError);
    }
  });

  it('detects a truncated batch at every length', async () => {
    const good = await batchBytes(small);
    for (let length = 0; length < good.length; length++) {
      await expect(decodeBatch(good.subarray(0, length)), `length ${length}`).rejects.toThrow(
        CorruptBatchError,
      );
    }
  });

  it('detects bytes past the end of a single batch', async () => {
    const good = await batchBytes(small);
    await expect(decodeBatch(Buffer.concat([good, Buffer.from([0])]))).rejects.toThrow(CorruptBatchError);
  });

  it('detects a length field that points past the buffer', async () => {
    const bad = await batchBytes(small);
    bad.writeUInt32BE(bad.length + 100, 0);
    await expect(decodeBatch(bad)).rejects.toThrow(/truncated/);
    await expect(decodeBatches(bad)).rejects.toThrow(/truncated/);
  });

  it('detects a truncated object', async () => {
    const { bytes } = await encodeSegment(small);
    for (const length of [0, 4, 8, 20, bytes.length - 9, bytes.length - 4, bytes.length - 1]) {
      expect(() => readSegmentDirectory(bytes.subarray(0, length)), `length ${length}`).toThrow(
        CorruptBatchError,
      );
    }
  });

  it('detects bad magic in the object header, footer and batch', async () => {
    const { bytes } = await encodeSegment(small);
    const header = Buffer.from(bytes);
    header.write('XLCE', 0, 'latin1');
    expect(() => readSegmentDirectory(header)).toThrow(/magic/);
    const footer = Buffer.from(bytes);
    footer.write('SLCX', footer.length - 4, 'latin1');
    expect(() => readSegmentDirectory(footer)).toThrow(/magic/);
    const batchMagic = await batchBytes(small);
    batchMagic[4] = 2;
    await expect(decodeBatch(batchMagic)).rejects.toThrow(/magic/);
  });

  it('rejects an unknown object format version or flags', async () => {
    const { bytes } = await encodeSegment(small);
    const version = Buffer.from(bytes);
    version.writeUInt16BE(2, 4);
    expect(() => readSegmentDirectory(version)).toThrow(/version/);
    const flags = Buffer.from(bytes);
    flags.writeUInt16BE(1, 6);
    expect(() => readSegmentDirectory(flags)).toThrow(/flags/);
  });

  it('rejects an unknown codec even with a valid CRC', async () => {
    for (const codec of [3, 7]) {
      const bad = await batchBytes(small);
      bad[9] = codec;
      await expect(decodeBatch(reseal(bad))).rejects.toThrow(/unknown compression codec/);
    }
    const reserved = await batchBytes(small);
    reserved[9] = 0x10;
    await expect(decodeBatch(reseal(reserved))).rejects.toThrow(/attribute/);
  });

  it('rejects a record count that disagrees with the payload, even with a valid CRC', async () => {
    const at = fixedFieldsAt('orders', 'tid-orders-1') + 4;
    const more = await batchBytes(small);
    more.writeUInt32BE(3, at);
    await expect(decodeBatch(reseal(more))).rejects.toThrow(CorruptBatchError);
    const fewer = await batchBytes(small);
    fewer.writeUInt32BE(1, at);
    await expect(decodeBatch(reseal(fewer))).rejects.toThrow(/bytes left in the payload/);
    const zero = await batchBytes(small);
    zero.writeUInt32BE(0, at);
    await expect(decodeBatch(reseal(zero))).rejects.toThrow(CorruptBatchError);
    const huge = await batchBytes(small);
    huge.writeUInt32BE(0xffffffff, at);
    await expect(decodeBatch(reseal(huge))).rejects.toThrow(/cannot fit/);
  });

  it('rejects a varint that runs off the end of the payload, even with a valid CRC', async () => {
    // The last payload byte is the second record's header count (0); make it claim a continuation byte.
    const bad = await batchBytes(small);
    bad[bad.length - 1] = 0x80;
    await expect(decodeBatch(reseal(bad))).rejects.toThrow(/varint runs off the end/);
  });

  it('rejects a payload length that disagrees with the payload, even with a valid CRC', async () => {
    const at = fixedFieldsAt('orders', 'tid-orders-1') + 28;
    for (const compression of CODECS) {
      const bad = await batchBytes(small, 0, compression);
      bad.writeUInt32BE(bad.readUInt32BE(at) + 1, at);
      await expect(decodeBatch(reseal(bad)), compression).rejects.toThrow(CorruptBatchError);
    }
  });

  it('rejects timestamps outside the batch range, even with a valid CRC', async () => {
    const at = fixedFieldsAt('orders', 'tid-orders-1') + 20; // maxTimestamp
    const bad = await batchBytes(small);
    bad.writeUInt32BE(bad.readUInt32BE(at + 4) - 1, at + 4);
    await expect(decodeBatch(reseal(bad))).rejects.toThrow(/timestamp/);
  });

  it('rejects a batch that disagrees with its footer entry', async () => {
    const inputs = [batch({ partition: 1 }), batch({ partition: 2 })];
    const { bytes, batches } = await encodeSegment(inputs);
    const loc = batches[1];
    if (loc === undefined) throw new Error('missing batch');
    const bad = Buffer.from(bytes);
    const start = loc.byteOffset;
    bad.writeUInt32BE(5, start + fixedFieldsAt('orders', 'tid-orders-1'));
    reseal(bad.subarray(start, start + loc.byteLength));
    await expect(decodeSegment(bad)).rejects.toThrow(/disagrees with the segment footer/);
  });

  it('rejects garbage given to a decompressor', async () => {
    await expect(decompress('gzip', Buffer.from('not gzip at all'))).rejects.toThrow(CorruptBatchError);
    await expect(decompress('zstd', Buffer.from('not zstd at all'))).rejects.toThrow(CorruptBatchError);
  });
});

describe('compression helpers', () => {
  it.each(CODECS)('round-trips through %s', async (codec) => {
    const data = Buffer.from('abc'.repeat(1000));
    const packed = await compress(codec, data);
    expect(await decompress(codec, packed)).toEqual(data);
    expect(await decompress(codec, packed, data.length)).toEqual(data);
    if (codec !== 'none') expect(packed.length).toBeLessThan(data.length / 10);
  });

  it.each(['gzip', 'zstd'] as const)('rejects %s output of an unexpected length', async (codec) => {
    const data = Buffer.from('abc'.repeat(1000));
    const packed = await compress(codec, data);
    for (const length of [0, 1, data.length - 1, data.length + 1, data.length * 2]) {
      await expect(decompress(codec, packed, length), `length ${length}`).rejects.toThrow(CorruptBatchError);
    }
    expect(await decompress(codec, packed, data.length)).toEqual(data);
  });

  it('passes none through without copying', async () => {
    const data = Buffer.from('abc');
    expect(await compress('none', data)).toBe(data);
    expect(await decompress('none', data)).toBe(data);
    expect(await decompress('none', data, 3)).toBe(data);
    await expect(decompress('none', data, 4)).rejects.toThrow(CorruptBatchError);
  });

  it('compresses the batches of a segment concurrently and keeps them in input order', async () => {
    const inputs = Array.from({ length: 40 }, (_, partition) =>
      batch({
        partition,
        records: [rec({ value: Buffer.from(`{"p":${partition},"pad":"${'x'.repeat(500)}"}`) })],
      }),
    );
    for (const compression of ['gzip', 'zstd'] as const) {
      const decoded = await decodeSegment((await encodeSegment(inputs, { compression })).bytes);
      expect(decoded.map((b) => b.partition)).toEqual(inputs.map((b) => b.partition));
      expect(decoded.map((b) => b.records)).toEqual(inputs.map((b) => expected(b.records)));
    }
  });
});

describe('zstd', () => {
  const text = 'hello sluice zstd fixture, hello sluice zstd fixture\n';
  // `zstd -c file` (frame content size recorded) and `zstd -c < file` (streamed: no content size), as
  // other zstd writers (node:zlib on Lambda, for one) may produce either kind.
  const withSize = Buffer.from(
    '28b52ffd2435150100e068656c6c6f20736c75696365207a73746420666978747572652c200a0100fb32c73aa929d4',
    'hex',
  );
  const streamed = Buffer.from(
    '28b52ffd0458150100e068656c6c6f20736c75696365207a73746420666978747572652c200a0100fb32c73aa929d4',
    'hex',
  );

  it('uses node:zlib where the runtime has zstd, else @mongodb-js/zstd', async () => {
    const data = Buffer.from('abc'.repeat(1000));
    const before = { ...zstdModuleCalls };
    const packed = await compress('zstd', data);
    expect(await decompress('zstd', packed, data.length)).toEqual(data);
    const used = {
      compress: zstdModuleCalls.compress - before.compress,
      decompress: zstdModuleCalls.decompress - before.decompress,
    };
    expect(used).toEqual(NATIVE_ZSTD ? { compress: 0, decompress: 0 } : { compress: 1, decompress: 1 });
  });

  it('decodes frames from other zstd writers, with or without a content size', async () => {
    for (const frame of [withSize, streamed]) {
      expect((await decompress('zstd', frame)).toString()).toBe(text);
      expect((await decompress('zstd', frame, text.length)).toString()).toBe(text);
    }
    const twoFrames = Buffer.concat([withSize, streamed]);
    expect((await decompress('zstd', twoFrames, text.length * 2)).toString()).toBe(text + text);
  });

  it('rejects a frame with a wrong expected length as a CorruptBatchError', async () => {
    for (const frame of [withSize, streamed]) {
      for (const length of [0, text.length - 1, text.length + 1]) {
        const result = decompress('zstd', frame, length);
        await expect(result, `length ${length}`).rejects.toThrow(CorruptBatchError);
        await expect(result).rejects.toThrow(/zstd payload/);
      }
    }
  });

  it('rejects a batch whose zstd payload is shorter or longer than its length field says', async () => {
    const at = fixedFieldsAt('orders', 'tid-orders-1') + 28;
    for (const delta of [-1, 1]) {
      const bad = await batchBytes([batch({ records: [rec(), rec()] })], 0, 'zstd');
      bad.writeUInt32BE(bad.readUInt32BE(at) + delta, at);
      await expect(decodeBatch(reseal(bad))).rejects.toThrow(
        /zstd payload decompresses to \d+ bytes|zstd payload does not decompress/,
      );
    }
  });

  it('rejects truncated or damaged frames', async () => {
    for (let length = 0; length < withSize.length; length++) {
      await expect(
        decompress('zstd', withSize.subarray(0, length), text.length),
        `length ${length}`,
      ).rejects.toThrow(CorruptBatchError);
    }
    const damaged = Buffer.from(withSize);
    damaged[damaged.length - 1] = (damaged[damaged.length - 1] ?? 0) ^ 0xff; // the frame checksum
    await expect(decompress('zstd', damaged, text.length)).rejects.toThrow(CorruptBatchError);
  });
});
