import { createHash } from 'node:crypto';
import { z } from 'zod';
import { InvalidRequestError } from '../errors.js';

/**
 * The opaque cursor of a member's fetch: where each of its partitions' next read starts, so a member can
 * read ahead of its commits without any server-side session (any function instance can serve the next
 * call). It is not a secret and not signed: it only names positions in partitions the member is assigned
 * anyway, and a forged one can do no more than the member could with the per-partition fetch API.
 *
 * It must stay small at 1,000 partitions (SPEC: a cursor never outgrows a URL), so it names no partition:
 * its offsets are in the order of the member's assignment, and a digest of that assignment tells whether
 * it still applies. Encoding (version 2), base64url of:
 *   - byte 2 (the version);
 *   - varint generation;
 *   - 6 bytes: SHA-256 of the memberId (a cursor of another member is refused);
 *   - 8 bytes: SHA-256 of the assignment (`topicId/partition`, one per line, in order);
 *   - varint count; varint base (the smallest offset); per partition the varint of (offset − base).
 * Bound: a varint of a safe integer (< 2^53) is at most 8 bytes, so at 1,000 partitions a cursor is at most
 * 1 + 8 + 6 + 8 + 2 + 8 + 8,000 = 8,033 bytes, 10,711 base64url characters, whatever the offsets;
 * partitions read to similar offsets take 1–3 bytes each (about 2–4 KB at 1,000 partitions). That fits a
 * URL and the `Sluice-Cursor` header alike within Node's 16 KiB limit on a request's head.
 *
 * Version 1 (base64url JSON naming each partition, ~19 characters per partition) is still read, so a
 * consumer holding one across an upgrade goes on.
 */
export interface CursorPosition {
  topicId: string;
  partition: number;
  offset: number;
}

export interface Cursor {
  memberId: string;
  generation: number;
  /** The member's assignment in that generation, in order, with the next offset of each. */
  positions: CursorPosition[];
}

/** What a cursor says; whether it applies is for the coordinator to decide against the current assignment. */
export type DecodedCursor =
  | {
      version: 2;
      generation: number;
      memberTag: string;
      assignmentTag: string;
      offsets: number[];
    }
  | { version: 1; memberId: string; generation: number; positions: CursorPosition[] };

const VERSION = 2;
const MEMBER_TAG_BYTES = 6;
const ASSIGNMENT_TAG_BYTES = 8;

/** The largest cursor any assignment of up to `partitions` partitions makes (characters). */
export function maxCursorLength(partitions: number): number {
  const bytes =
    1 + 8 + MEMBER_TAG_BYTES + ASSIGNMENT_TAG_BYTES + varintLength(partitions) + 8 + partitions * 8;
  return Math.ceil((bytes * 4) / 3);
}

export function memberTag(memberId: string): string {
  return digest(memberId, MEMBER_TAG_BYTES);
}

export function assignmentTag(partitions: ReadonlyArray<{ topicId: string; partition: number }>): string {
  return digest(partitions.map((p) => `${p.topicId}/${p.partition}`).join('\n'), ASSIGNMENT_TAG_BYTES);
}

export function encodeCursor(cursor: Cursor): string {
  const bytes: number[] = [VERSION];
  writeVarint(bytes, cursor.generation);
  bytes.push(...Buffer.from(memberTag(cursor.memberId), 'hex'));
  bytes.push(...Buffer.from(assignmentTag(cursor.positions), 'hex'));
  writeVarint(bytes, cursor.positions.length);
  const base = cursor.positions.reduce((min, p) => Math.min(min, p.offset), Number.MAX_SAFE_INTEGER);
  writeVarint(bytes, cursor.positions.length === 0 ? 0 : base);
  for (const { offset } of cursor.positions) writeVarint(bytes, offset - base);
  return Buffer.from(bytes).toString('base64url');
}

/**
 * A cursor of `assignment` that carries no positions (count 0): the next fetch starts from the committed
 * offsets, as without a cursor. A forming group (no records handed out yet) answers one.
 */
export function encodeStartCursor(
  memberId: string,
  generation: number,
  assignment: ReadonlyArray<{ topicId: string; partition: number }>,
): string {
  const bytes: number[] = [VERSION];
  writeVarint(bytes, generation);
  bytes.push(...Buffer.from(memberTag(memberId), 'hex'));
  bytes.push(...Buffer.from(assignmentTag(assignment), 'hex'));
  writeVarint(bytes, 0);
  writeVarint(bytes, 0);
  return Buffer.from(bytes).toString('base64url');
}

/** Throws InvalidRequestError (400) for anything that is not a cursor this server wrote. */
export function decodeCursor(text: string): DecodedCursor {
  const bytes = Buffer.from(text, 'base64url');
  if (bytes[0] === VERSION) {
    const decoded = decodeVersion2(bytes);
    if (decoded) return decoded;
    throw invalid();
  }
  return decodeVersion1(text);
}

function decodeVersion2(bytes: Buffer): DecodedCursor | undefined {
  const reader = { at: 1 };
  const generation = readVarint(bytes, reader);
  const tagsEnd = reader.at + MEMBER_TAG_BYTES + ASSIGNMENT_TAG_BYTES;
  if (generation === undefined || tagsEnd > bytes.length) return undefined;
  const memberTagHex = bytes.subarray(reader.at, reader.at + MEMBER_TAG_BYTES).toString('hex');
  const assignmentTagHex = bytes.subarray(reader.at + MEMBER_TAG_BYTES, tagsEnd).toString('hex');
  reader.at = tagsEnd;
  const count = readVarint(bytes, reader);
  const base = readVarint(bytes, reader);
  if (count === undefined || base === undefined || count > bytes.length) return undefined;
  const offsets: number[] = [];
  for (let i = 0; i < count; i++) {
    const delta = readVarint(bytes, reader);
    if (delta === undefined || !Number.isSafeInteger(base + delta)) return undefined;
    offsets.push(base + delta);
  }
  if (reader.at !== bytes.length) return undefined;
  return { version: 2, generation, memberTag: memberTagHex, assignmentTag: assignmentTagHex, offsets };
}

const CursorJsonV1 = z.object({
  v: z.literal(1),
  m: z.string().min(1),
  g: z.number().int().min(0),
  p: z.array(z.tuple([z.string(), z.number().int().min(0), z.number().int().min(0)])),
});

function decodeVersion1(text: string): DecodedCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const result = CursorJsonV1.safeParse(parsed);
  if (!result.success) throw invalid();
  return {
    version: 1,
    memberId: result.data.m,
    generation: result.data.g,
    positions: result.data.p.map(([topicId, partition, offset]) => ({ topicId, partition, offset })),
  };
}

function invalid(): InvalidRequestError {
  return new InvalidRequestError('cursor is not valid: pass back the cursor of the previous response as is');
}

function digest(text: string, bytes: number): string {
  return createHash('sha256').update(text, 'utf8').digest().subarray(0, bytes).toString('hex');
}

/** Unsigned LEB128 of a non-negative safe integer (arithmetic, not bit operations: values exceed 2^32). */
function writeVarint(out: number[], value: number): void {
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) + 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

function varintLength(value: number): number {
  let length = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) length++;
  return length;
}

function readVarint(bytes: Buffer, reader: { at: number }): number | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    const byte = bytes[reader.at++];
    if (byte === undefined) return undefined;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return Number.isSafeInteger(value) ? value : undefined;
    scale *= 0x80;
  }
  return undefined;
}
