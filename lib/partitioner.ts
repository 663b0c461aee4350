/**
 * Kafka-compatible partitioning, so a keyed record lands on the partition a Java producer would choose:
 * `toPositive(murmur2(keyBytes)) % numPartitions` (Kafka's BuiltInPartitioner.partitionForKey, formerly
 * DefaultPartitioner), and records without a key stick to one partition per request (KIP-480).
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;

/**
 * murmur2 exactly as org.apache.kafka.common.utils.Utils.murmur2: 32-bit murmur2 with seed 0x9747b28c over
 * little-endian 4-byte words, returning Java's signed 32-bit int.
 */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = (SEED ^ length) | 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k =
      (data[i] as number) |
      ((data[i + 1] as number) << 8) |
      ((data[i + 2] as number) << 16) |
      ((data[i + 3] as number) << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  // Java's switch on length % 4 falls through from case 3 to case 1.
  const tail = length & 3;
  if (tail === 3) h ^= (data[whole + 2] as number) << 16;
  if (tail >= 2) h ^= (data[whole + 1] as number) << 8;
  if (tail >= 1) {
    h ^= data[whole] as number;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's Utils.toPositive: clears the sign bit (not Math.abs, which would overflow on MIN_VALUE). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

export function partitionForKey(key: Uint8Array, numPartitions: number): number {
  if (!Number.isInteger(numPartitions) || numPartitions < 1) {
    throw new RangeError(`numPartitions must be a positive integer, got ${numPartitions}`);
  }
  return toPositive(murmur2(key)) % numPartitions;
}

/**
 * Kafka's sticky partitioning for records without a key: every null-key record of one request goes to one
 * partition, and the next request moves on. A topic starts at a random partition; each later call picks,
 * at random, a partition different from the previous one (when there is more than one).
 */
export class StickyPartitioner {
  private readonly random: () => number;
  private readonly current = new Map<string, number>();

  constructor(random: () => number = Math.random) {
    this.random = random;
  }

  /** The partition for the null-key records of the next request to `topic`. */
  next(topic: string, numPartitions: number): number {
    if (!Number.isInteger(numPartitions) || numPartitions < 1) {
      throw new RangeError(`numPartitions must be a positive integer, got ${numPartitions}`);
    }
    const previous = this.current.get(topic);
    let partition: number;
    if (numPartitions === 1) {
      partition = 0;
    } else if (previous === undefined || previous >= numPartitions) {
      partition = this.pick(numPartitions);
    } else {
      // Uniform over the other numPartitions - 1 partitions.
      partition = (previous + 1 + this.pick(numPartitions - 1)) % numPartitions;
    }
    this.current.set(topic, partition);
    return partition;
  }

  private pick(n: number): number {
    const r = Math.floor(this.random() * n);
    return r < 0 ? 0 : r >= n ? n - 1 : r;
  }
}
