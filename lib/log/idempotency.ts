import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { ProduceInput } from './produce.js';

/** How long an attempt holds an Idempotency-Key before another may take it over (it is presumed dead). */
export const IDEMPOTENCY_LEASE_MS = 60_000;
/** How long a key is remembered (SPEC.md: a retry within 24 h returns the first response). */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

export type ProduceOffsets = Array<{ partition: number; offset: number; timestamp: number }>;

/** Same topic and same body (as parsed: whitespace and key order of the JSON text do not matter). */
export function produceBodyHash(topic: string, input: ProduceInput): string {
  return createHash('sha256')
    .update(JSON.stringify([topic, input.format ?? 'json', input.records]))
    .digest('base64url');
}

/**
 * The stored result of an idempotent produce: enough to rebuild the exact response. A request's records
 * in one partition have consecutive offsets, so per-partition base offsets plus each record's partition
 * and timestamp suffice; gzip keeps a 10,000-record result to a few KB (an item is at most 400 KB).
 */
export function encodeProduceResult(offsets: ProduceOffsets): Buffer {
  const bases: Record<number, number> = {};
  for (const o of offsets) if (!(o.partition in bases)) bases[o.partition] = o.offset;
  const compact = {
    bases,
    partitions: offsets.map((o) => o.partition),
    timestamps: offsets.map((o) => o.timestamp),
  };
  return gzipSync(JSON.stringify(compact));
}

export function decodeProduceResult(stored: Buffer): ProduceOffsets {
  const compact = JSON.parse(gunzipSync(stored).toString('utf8')) as {
    bases: Record<string, number>;
    partitions: number[];
    timestamps: number[];
  };
  const next = new Map<number, number>();
  return compact.partitions.map((partition, i) => {
    const offset = next.get(partition) ?? compact.bases[String(partition)] ?? 0;
    next.set(partition, offset + 1);
    return { partition, offset, timestamp: compact.timestamps[i] ?? 0 };
  });
}
