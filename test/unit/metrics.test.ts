import { describe, expect, it } from 'vitest';
import { EmfMetrics, EmfWriter, recordBytes } from '../../lib/metrics/metrics.js';

function collecting(now: () => number = Date.now) {
  const lines: Array<Record<string, any>> = [];
  const metrics = new EmfMetrics({
    namespace: 'Sluice',
    service: 'unit',
    write: (line) => lines.push(JSON.parse(line)),
    now,
    maxHoldMs: 60_000,
  });
  return { lines, metrics };
}

describe('EmfMetrics', () => {
  it('sums counts per topic until publish, then writes one line per topic and starts over', () => {
    const { lines, metrics } = collecting();
    metrics.produced('a', 2, 20);
    metrics.produced('a', 3, 30);
    metrics.fetched('a', 1, 7);
    metrics.fetched('b', 4, 40);
    expect(lines).toEqual([]);
    metrics.publish();
    expect(lines.map(({ _aws, ...rest }) => rest)).toEqual([
      {
        service: 'unit',
        topic: 'a',
        ProducedRecords: 5,
        ProducedBytes: 50,
        FetchedRecords: 1,
        FetchedBytes: 7,
      },
      { service: 'unit', topic: 'b', FetchedRecords: 4, FetchedBytes: 40 },
    ]);
    expect(lines[0]?._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service', 'topic'], ['service']]);
    expect(lines[1]?._aws.CloudWatchMetrics[0].Metrics).toEqual([
      { Name: 'FetchedRecords', Unit: 'Count' },
      { Name: 'FetchedBytes', Unit: 'Bytes' },
    ]);
    metrics.publish();
    expect(lines).toHaveLength(2);
  });

  it('ignores empty fetches and writes nothing when nothing was counted', () => {
    const { lines, metrics } = collecting();
    metrics.fetched('a', 0, 0);
    metrics.publish();
    expect(lines).toEqual([]);
  });

  it('publishes counts held longer than maxHoldMs with the next count (a long live tail)', () => {
    let now = 1_000_000;
    const { lines, metrics } = collecting(() => now);
    metrics.fetched('a', 1, 1);
    now += 59_999;
    metrics.fetched('a', 1, 1);
    expect(lines).toEqual([]);
    now += 1;
    metrics.fetched('a', 5, 5);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ FetchedRecords: 2, _aws: { Timestamp: now } });
    metrics.publish();
    expect(lines[1]).toMatchObject({ FetchedRecords: 5 });
  });

  it('writes nothing for a line without values', () => {
    const lines: string[] = [];
    new EmfWriter({ namespace: 'Sluice', service: 'unit', write: (l) => lines.push(l) }).emit({ x: 'y' }, []);
    expect(lines).toEqual([]);
  });
});

describe('recordBytes', () => {
  it('counts keys, values, header names and header values in bytes, and nothing for null', () => {
    expect(
      recordBytes([
        { key: Buffer.from('k'), value: Buffer.from('é'), headers: { ab: 'ü' } },
        { key: null, value: null, headers: {} },
      ]),
    ).toBe(1 + 2 + 2 + 2);
  });
});
