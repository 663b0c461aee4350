import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { murmur2, partitionForKey, StickyPartitioner, toPositive } from '../../lib/partitioner.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('murmur2', () => {
  // Apache Kafka, clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2()
  // (https://github.com/apache/kafka/blob/8ab0994919752cd4870e771221ba934a6a539a67/clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java#L66-L78):
  // the Java implementation's own expected values, so a key hashes here exactly as in a Java producer.
  it.each([
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ])('matches Kafka Utils.murmur2 for %j', (input, expected) => {
    expect(murmur2(utf8(input))).toBe(expected);
  });

  it("matches Kafka Utils.murmur2 for the bytes {'a', 'b', 'c'}", () => {
    expect(murmur2(new Uint8Array([0x61, 0x62, 0x63]))).toBe(479470107);
  });

  // Lengths 1, 2, 3, 4 and 5 exercise every branch of the tail (length % 4 = 1, 2, 3, 0, 1). Values from
  // Akka's Kafka-compatible murmur2 test, "expected correct hash values from the kafka murmur2 impl":
  // akka/akka akka-cluster-sharding-typed/src/test/scala/akka/cluster/sharding/typed/internal/Murmur2Spec.scala
  it.each([
    ['1', 1, -1993445489],
    ['12', 2, 126087238],
    ['123', 3, -267702483],
    ['1234', 0, -1614185708],
    ['12345', 1, -1188365604],
  ])('handles the tail of %j (length %% 4 = %i)', (input, tail, expected) => {
    expect(input.length % 4).toBe(tail);
    expect(murmur2(utf8(input))).toBe(expected);
  });

  it('returns a signed 32-bit integer for any input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const h = murmur2(bytes);
        expect(Number.isInteger(h)).toBe(true);
        expect(h).toBe(h | 0);
      }),
    );
  });

  it('hashes a subarray by its own bytes, not its backing buffer', () => {
    const backing = Buffer.from('xxfoobaryy');
    expect(murmur2(backing.subarray(2, 8))).toBe(-790332482);
  });
});

describe('toPositive', () => {
  it('clears the sign bit like Kafka Utils.toPositive', () => {
    expect(toPositive(-973932308)).toBe(-973932308 & 0x7fffffff);
    expect(toPositive(-2147483648)).toBe(0);
    expect(toPositive(-1)).toBe(0x7fffffff);
    expect(toPositive(0)).toBe(0);
    expect(toPositive(479470107)).toBe(479470107);
  });
});

describe('partitionForKey', () => {
  // kafka-python test/test_partitioner.py, test_murmur2_java_compatibility: "compare with output from
  // Kafka's org.apache.kafka.clients.producer.Partitioner" with 1000 partitions.
  it.each([
    ['', Buffer.from(''), 681],
    ['a', Buffer.from('a'), 524],
    ['ab', Buffer.from('ab'), 434],
    ['abc', Buffer.from('abc'), 107],
    ['123456789', Buffer.from('123456789'), 566],
    ['\\x00 ', Buffer.from([0x00, 0x20]), 742],
  ])('puts key %j on the partition the Java producer picks among 1000', (_name, key, expected) => {
    expect(partitionForKey(key, 1000)).toBe(expected);
  });

  it('is toPositive(murmur2(key)) % numPartitions', () => {
    expect(partitionForKey(utf8('foobar'), 7)).toBe((-790332482 & 0x7fffffff) % 7);
    expect(partitionForKey(utf8('21'), 3)).toBe((-973932308 & 0x7fffffff) % 3);
  });

  it('always lands in [0, numPartitions)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 1, max: 10_000 }), (key, n) => {
        const p = partitionForKey(key, n);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(n);
      }),
    );
  });

  it('rejects a non-positive partition count', () => {
    expect(() => partitionForKey(utf8('k'), 0)).toThrow(RangeError);
  });
});

describe('StickyPartitioner', () => {
  it('starts a topic at a random partition', () => {
    expect(new StickyPartitioner(() => 0).next('t', 6)).toBe(0);
    expect(new StickyPartitioner(() => 0.5).next('t', 6)).toBe(3);
    expect(new StickyPartitioner(() => 0.999999).next('t', 6)).toBe(5);
  });

  it('moves to a different partition on every call when there are several', () => {
    const sticky = new StickyPartitioner();
    let previous = sticky.next('t', 3);
    for (let i = 0; i < 500; i++) {
      const p = sticky.next('t', 3);
      expect(p).not.toBe(previous);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(3);
      previous = p;
    }
  });

  it('moves even when the random source keeps returning the same value', () => {
    const sticky = new StickyPartitioner(() => 0);
    expect([1, 2, 3, 4, 5].map(() => sticky.next('t', 4))).toEqual([0, 1, 2, 3, 0]);
  });

  it('spreads requests over all partitions', () => {
    const sticky = new StickyPartitioner();
    const counts = new Array<number>(4).fill(0);
    for (let i = 0; i < 4000; i++) {
      const p = sticky.next('t', 4);
      counts[p] = (counts[p] ?? 0) + 1;
    }
    for (const c of counts) expect(c).toBeGreaterThan(700);
  });

  it('keeps separate state per topic', () => {
    const values = [0, 0.5];
    const sticky = new StickyPartitioner(() => values.shift() ?? 0);
    expect(sticky.next('a', 10)).toBe(0);
    expect(sticky.next('b', 10)).toBe(5);
  });

  it('always answers 0 for a single-partition topic', () => {
    const sticky = new StickyPartitioner();
    expect([sticky.next('t', 1), sticky.next('t', 1), sticky.next('t', 1)]).toEqual([0, 0, 0]);
  });

  it('stays in range when the partition count changes', () => {
    const sticky = new StickyPartitioner(() => 0.99);
    expect(sticky.next('t', 8)).toBe(7);
    const p = sticky.next('t', 4);
    expect(p).toBeGreaterThanOrEqual(0);
    expect(p).toBeLessThan(4);
  });
});
