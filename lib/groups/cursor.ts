import { z } from 'zod';
import { InvalidRequestError } from '../errors.js';

/**
 * The opaque cursor of a member's fetch: where each of its partitions' next read starts, so a member can
 * read ahead of its commits without any server-side session (any function instance can serve the next
 * call). It is not a secret and not signed: it only names positions in partitions the member is assigned
 * anyway, and a forged one can do no more than the member could with the per-partition fetch API.
 *
 * Encoding: base64url of JSON `{ v: 1, m: memberId, g: generation, p: [[topicId, partition, offset], …] }`.
 */
export interface Cursor {
  memberId: string;
  generation: number;
  positions: Array<{ topicId: string; partition: number; offset: number }>;
}

const CursorJson = z.object({
  v: z.literal(1),
  m: z.string().min(1),
  g: z.number().int().min(0),
  p: z.array(z.tuple([z.string(), z.number().int().min(0), z.number().int().min(0)])),
});

export function encodeCursor(cursor: Cursor): string {
  const json = {
    v: 1,
    m: cursor.memberId,
    g: cursor.generation,
    p: cursor.positions.map((p) => [p.topicId, p.partition, p.offset]),
  };
  return Buffer.from(JSON.stringify(json), 'utf8').toString('base64url');
}

/** Throws InvalidRequestError (400) for anything that is not a cursor this server wrote. */
export function decodeCursor(text: string): Cursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidRequestError('cursor is not valid: pass back the cursor of the previous response as is');
  }
  const result = CursorJson.safeParse(parsed);
  if (!result.success) {
    throw new InvalidRequestError('cursor is not valid: pass back the cursor of the previous response as is');
  }
  return {
    memberId: result.data.m,
    generation: result.data.g,
    positions: result.data.p.map(([topicId, partition, offset]) => ({ topicId, partition, offset })),
  };
}
