import pLimit from 'p-limit';

/**
 * Store calls (DynamoDB or S3) one request may have in flight at once. A member owning 1,000 partitions
 * must not open 1,000 connections at once: the SDK's connection pool queues them and the last ones time
 * out. 16 is where DynamoDB Local's throughput from one process stops growing (docs/ARCHITECTURE.md §9).
 */
export const STORE_CONCURRENCY = 16;

/**
 * `Promise.all(items.map(fn))` with at most `concurrency` calls of `fn` running at once (p-limit: a small,
 * well-kept queue; hand-written limiters tend to get rejection and ordering wrong). On the first failure
 * the calls not yet started are dropped, and the failure is thrown.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  fn: (item: T, index: number) => Promise<R>,
  concurrency: number = STORE_CONCURRENCY,
): Promise<R[]> {
  if (items.length <= concurrency) return Promise.all(items.map(fn));
  const limit = pLimit(concurrency);
  try {
    return await limit.map(items, fn);
  } finally {
    limit.clearQueue();
  }
}
