import { describe, expect, it } from 'vitest';
import { startMaintenanceTimer } from '../../functions/local/maintenance-timer.js';
import { ManualClock } from '../../lib/clock.js';
import { DEFAULT_LIMITS } from '../../lib/limits.js';
import { DEFAULT_LOG_OPTIONS, Log } from '../../lib/log/log.js';
import type { MaintenanceOptions } from '../../lib/maintenance/maintenance.js';
import type { MaintenanceReport } from '../../lib/maintenance/report.js';
import { MemoryMetadataStore } from '../../lib/metadata/memory-metadata-store.js';
import { MemorySegmentStore } from '../../lib/storage/memory-segment-store.js';

function makeLog(maintenance: Partial<MaintenanceOptions> = {}, reports: MaintenanceReport[] = []) {
  const clock = new ManualClock();
  const store = new MemorySegmentStore();
  const metadata = new MemoryMetadataStore(() => clock.now());
  const log = new Log({
    store,
    metadata,
    clock,
    limits: DEFAULT_LIMITS,
    options: { ...DEFAULT_LOG_OPTIONS, lingerMs: 0 },
    maintenance: { minAgeMs: 0, ...maintenance },
    maintenanceHooks: { onReport: (r) => reports.push(r) },
  });
  return { log, clock, store, metadata };
}

describe('maintenance work partitioning', () => {
  it('stops at its partition budget and the next pass resumes where it stopped', async () => {
    const { log } = makeLog({ maxPartitionsPerRun: 2 });
    await log.topics.create({ name: 'a', partitions: 3 });
    await log.topics.create({ name: 'b', partitions: 2 });
    for (const topic of ['a', 'b']) {
      for (let i = 0; i < 3; i++) {
        await log.produce(topic, {
          records: [0, 1, 2].slice(0, topic === 'a' ? 3 : 2).map((p) => ({ partition: p, value: i })),
        });
      }
    }
    const passes: MaintenanceReport[] = [];
    for (let i = 0; i < 3; i++) passes.push(await log.maintenance.compact());
    expect(passes.map((p) => [p.partitions, p.complete])).toEqual([
      [2, false],
      [2, false],
      [1, true],
    ]);
    expect(passes.reduce((sum, p) => sum + p.objects.written, 0)).toBe(5); // every partition once
    // A complete pass starts the next one from the beginning.
    const next = await log.maintenance.compact();
    expect([next.partitions, next.complete]).toEqual([2, false]);
    expect((await log.partitions('a')).map((p) => p.segments)).toEqual([1, 1, 1]);
  });

  it('reports what a pass did as one structured record', async () => {
    const reports: MaintenanceReport[] = [];
    const { log } = makeLog({}, reports);
    await log.topics.create({ name: 't', partitions: 1 });
    for (let i = 0; i < 3; i++) await log.produce('t', { records: [{ value: i }] });
    const report = await log.maintenance.run('compact');
    expect(reports).toEqual([report]);
    expect(report).toMatchObject({
      job: 'compact',
      complete: true,
      partitions: 1,
      batches: { read: 3, written: 3, deleted: 0 },
      objects: { read: 3, written: 1, deleted: 0 },
    });
    expect(report.dynamodb.writeUnits).toBe(4); // three entries swapped (one conditional put each), the mark
  });
});

describe('compaction levels', () => {
  it('merges small objects into outputs near the target, then leaves them alone when the log start moves', async () => {
    const { log, metadata } = makeLog({ targetObjectBytes: 4096 });
    await log.topics.create({ name: 't', partitions: 1 });
    for (let i = 0; i < 60; i++) await log.produce('t', { records: [{ value: 'x'.repeat(200) }] });
    const first = await log.maintenance.compact();
    expect(first.objects.written).toBeGreaterThan(1);
    const segments = (await log.partitions('t'))[0]?.segments ?? 0;
    expect(segments).toBeLessThan(10);
    const topic = await log.topics.getFresh('t');
    await metadata.advanceLogStartOffset('t', topic.topicId, 0, 7);
    const again = await log.maintenance.compact();
    expect(again.objects.written).toBeLessThanOrEqual(1); // at most the small tail output merges
    expect(again.batches.read).toBeLessThan(20);
    const third = await log.maintenance.compact();
    expect(third.objects.written).toBe(0);
    expect(third.batches.read).toBe(0); // nothing to gain: nothing read
  });
});

describe('a pass over a settled log', () => {
  it('lists only the batches after the partition’s compaction mark', async () => {
    const { log, metadata } = makeLog({ targetObjectBytes: 4096 });
    await log.topics.create({ name: 't', partitions: 1 });
    for (let i = 0; i < 60; i++) await log.produce('t', { records: [{ value: 'x'.repeat(200) }] });
    await log.maintenance.compact();
    let listed = 0;
    const list = metadata.listEntries.bind(metadata);
    metadata.listEntries = async function* (ref, from) {
      for await (const e of list(ref, from)) {
        listed++;
        yield e;
      }
    };
    const quiet = await log.maintenance.compact();
    expect(listed).toBe(0); // settled, and no batch arrived since: one tail read, no listing
    // cursor, topics, topic, mark, tail; and for indexing: topics, topic, the chain's index mark
    expect(quiet.dynamodb.readUnits).toBeLessThanOrEqual(8);
    listed = 0;
    await log.produce('t', { records: [{ value: 'new' }] });
    await log.maintenance.compact();
    expect(listed).toBeLessThan(20);
    expect(
      (await log.fetch('t', 0, { offset: 0, maxRecords: 100, maxBytes: 1 << 20, waitMs: 0 })).records,
    ).toHaveLength(61);
  });
});

describe('the local maintenance timer', () => {
  it('runs compact, retention and gc in turn, and stops cleanly', async () => {
    const reports: MaintenanceReport[] = [];
    const { log } = makeLog({}, reports);
    const timer = startMaintenanceTimer(log, 20, (error) => {
      throw error;
    });
    const deadline = Date.now() + 5_000;
    while (reports.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await timer.stop();
    expect(reports.slice(0, 3).map((r) => r.job)).toEqual(['compact', 'retention', 'gc']);
    const after = reports.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(reports.length).toBe(after);
  });
});
