/**
 * Varints for the segment format: unsigned LEB128 (7 bits a byte, least significant group first, high bit
 * set on every byte but the last) and zigzag for signed values (0 → 0, -1 → 1, 1 → 2, -2 → 3, …).
 *
 * Values are JavaScript numbers, so a varint holds a non-negative safe integer (at most 2^53 - 1, 8 bytes).
 * Zigzag uses arithmetic rather than 32-bit bit tricks so that values past 2^31 (timestamp deltas) work; it
 * is exact while the zigzag result is itself a safe integer (|n| < 2^52).
 */
import { CorruptBatchError } from '../errors.js';

const TWO_31 = 0x80000000;

/** Largest varint length accepted when decoding: 8 × 7 = 56 bits covers every safe integer. */
const MAX_VARINT_BYTES = 8;

export function uvarintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  if (value < 0x800000000) return 5;
  if (value < 0x40000000000) return 6;
  if (value < 0x2000000000000) return 7;
  return 8;
}

/** Writes `value` (a non-negative safe integer, not checked here) at `pos`; returns the position after it. */
export function writeUVarint(buf: Buffer, pos: number, value: number): number {
  let v = value;
  let p = pos;
  if (v >= TWO_31) {
    while (v >= TWO_31) {
      buf[p++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
  }
  while (v >= 0x80) {
    buf[p++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[p++] = v;
  return p;
}

export function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

export function unzigzag(z: number): number {
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}

/**
 * A cursor over one buffer. Every read is bounds-checked against the end of the buffer and throws
 * CorruptBatchError when it would run past it, so a reader never returns bytes it did not find.
 */
export class ByteReader {
  readonly buf: Buffer;
  pos: number;

  constructor(buf: Buffer, pos = 0) {
    this.buf = buf;
    this.pos = pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  uvarint(what: string): number {
    const buf = this.buf;
    let b = buf[this.pos];
    if (b === undefined) throw new CorruptBatchError(`${what}: varint runs off the end`);
    this.pos++;
    if (b < 0x80) return b;
    let result = b & 0x7f;
    let multiplier = 0x80;
    for (let i = 1; i < MAX_VARINT_BYTES; i++) {
      b = buf[this.pos];
      if (b === undefined) throw new CorruptBatchError(`${what}: varint runs off the end`);
      this.pos++;
      result += (b & 0x7f) * multiplier;
      if (b < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) throw new CorruptBatchError(`${what}: varint too large`);
        return result;
      }
      multiplier *= 0x80;
    }
    throw new CorruptBatchError(`${what}: varint longer than ${MAX_VARINT_BYTES} bytes`);
  }

  varint(what: string): number {
    return unzigzag(this.uvarint(what));
  }

  u8(what: string): number {
    const b = this.buf[this.pos];
    if (b === undefined) throw new CorruptBatchError(`${what}: runs off the end`);
    this.pos++;
    return b;
  }

  /** A view of the next `length` bytes (no copy). */
  bytes(length: number, what: string): Buffer {
    const start = this.take(length, what);
    return this.buf.subarray(start, start + length);
  }

  utf8(length: number, what: string): string {
    const start = this.take(length, what);
    return this.buf.toString('utf8', start, start + length);
  }

  /** Advances past `length` bytes and returns where they start; throws when the buffer is too short. */
  private take(length: number, what: string): number {
    const start = this.pos;
    if (start + length > this.buf.length) {
      throw new CorruptBatchError(
        `${what}: ${length} bytes claimed but only ${this.buf.length - start} left`,
      );
    }
    this.pos = start + length;
    return start;
  }
}
