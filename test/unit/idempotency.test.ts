import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { ConflictError, IdempotencyKeyReusedError } from '../../lib/errors.js';
import { DEFAULT_LIMITS } from '../../lib/limits.js';
import type { AppenderHooks } from '../../lib/log/appender.js';
import { decodeProduceResult, encodeProduceResult, IDEMPOTENCY_LEASE_MS } from '../../lib/log/idempotency.js';
import { DEFAULT_LOG_OPTIONS, Log, type LogOptions } from '../../lib/log/log.js';
import { MemoryMetadataStore } from '../../lib/metadata/memory-metadata-store.js';
import { IdempotencyLostError } from '../../lib/metadata/metadata-store.js';
import { MemorySegmentStore } from '../../lib/storage/memory-segment-store.js';

function makeLog(options: Partial<LogOptions> = {}, hooks: AppenderHooks = {}, clock?: ManualClock) {
  return new Log({
    store: new MemorySegmentStore(),
    metadata: new MemoryMetadataStore(),
    clock: clock ?? { now: () => Date.now() },
    limits: DEFAULT_LIMITS,
    options: { ...DEFAULT_LOG_OPTIONS, lingerMs: 0, ...options },
    hooks,
  });
}

const body = {
  records: [
    { key: 'a', value: 1 },
    { key: 'b', value: 2 },
  ],
};
const idem = (key: string) => ({ idempotency: { scope: 'topic:t', key } });

async function highWatermarks(log: Log, partitions: number): Promise<number> {
  let total = 0;
  for (let p = 0; p < partitions; p++) {
    total += (await log.fetch('t', p, { offset: 'latest', maxRecords: 1, maxBytes: 1, waitMs: 0 }))
      .highWatermark;
  }
  return total;
}

function gate() {
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('idempotent produce', () => {
  it('returns the first response to a retry with the same key and body, and appends nothing', async () => {
    const log = makeLog();
    await log.topics.create({ name: 't', partitions: 3 });
    const first = await log.produce('t', body, idem('k1'));
    const retry = await log.produce('t', body, idem('k1'));
    expect(first.replayed).toBe(false);
    expect(retry).toEqual({ offsets: first.offsets, replayed: true });
    expect(await highWatermarks(log, 3)).toBe(2);
  });

  it('refuses the same key with a different body (IDEMPOTENCY_KEY_REUSED)', async () => {
    const log = makeLog();
    await log.topics.create({ name: 't', partitions: 1 });
    await log.produce('t', body, idem('k1'));
    await expect(log.produce('t', { records: [{ value: 'other' }] }, idem('k1'))).rejects.toBeInstanceOf(
      IdempotencyKeyReusedError,
    );
    expect(await highWatermarks(log, 1)).toBe(2);
  });

  it('answers CONFLICT while the same key is still in flight', async () => {
    const g = gate();
    let hold = true;
    const log = makeLog({}, { afterSegmentPut: async () => (hold ? g.opened : undefined) });
    await log.topics.create({ name: 't', partitions: 1 });
    const first = log.produce('t', body, idem('k1'));
    await new Promise((r) => setTimeout(r, 20));
    await expect(log.produce('t', body, idem('k1'))).rejects.toBeInstanceOf(ConflictError);
    hold = false;
    g.open();
    await first;
    expect((await log.produce('t', body, idem('k1'))).replayed).toBe(true);
  });

  it('returns the original offsets after a response lost between commit and answer', async () => {
    let lose = true;
    const log = makeLog(
      {},
      {
        afterCommit: () => {
          if (lose) {
            lose = false;
            throw new Error('injected: the response is lost after the commit');
          }
        },
      },
    );
    await log.topics.create({ name: 't', partitions: 2 });
    await expect(log.produce('t', body, idem('lost'))).rejects.toThrow('injected');
    const retry = await log.produce('t', body, idem('lost'));
    expect(retry.replayed).toBe(true);
    // The replayed offsets point at exactly the records the lost attempt appended.
    for (const [i, o] of retry.offsets.entries()) {
      const page = await log.fetch('t', o.partition, {
        offset: o.offset,
        maxRecords: 1,
        maxBytes: 100,
        waitMs: 0,
      });
      expect(JSON.parse(String(page.records[0]?.value))).toBe(body.records[i]?.value);
    }
    expect(await highWatermarks(log, 2)).toBe(2);
  });

  it('appends once when duplicates race, in agent mode too', async () => {
    for (const lingerMs of [0, 15]) {
      const log = makeLog({ lingerMs });
      await log.topics.create({ name: 't', partitions: 2 });
      const outcomes = await Promise.allSettled(
        Array.from({ length: 8 }, () => log.produce('t', body, idem('race'))),
      );
      const ok = outcomes.filter((o) => o.status === 'fulfilled');
      for (const o of outcomes) {
        if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(ConflictError);
      }
      expect(ok.length).toBeGreaterThanOrEqual(1);
      expect(await highWatermarks(log, 2)).toBe(2);
      const retry = await log.produce('t', body, idem('race'));
      expect(retry.replayed).toBe(true);
    }
  });

  it('frees the key when an attempt fails before its commit, so a retry appends at once', async () => {
    let fail = true;
    const log = makeLog(
      {},
      {
        afterSegmentPut: () => {
          if (fail) {
            fail = false;
            throw new Error('injected: S3 put lost');
          }
        },
      },
    );
    await log.topics.create({ name: 't', partitions: 1 });
    await expect(log.produce('t', body, idem('k'))).rejects.toThrow('injected');
    const retry = await log.produce('t', body, idem('k'));
    expect(retry.replayed).toBe(false);
    expect(await highWatermarks(log, 1)).toBe(2);
  });

  it('lets a retry take over a stalled attempt after its lease, and the stalled one then commits nothing', async () => {
    const clock = new ManualClock(Date.now());
    const g = gate();
    let stall = true;
    const log = makeLog(
      {},
      {
        afterSegmentPut: async () => {
          if (stall) {
            stall = false;
            await g.opened;
          }
        },
      },
      clock,
    );
    await log.topics.create({ name: 't', partitions: 1 });
    const stalled = log.produce('t', body, idem('k'));
    await new Promise((r) => setTimeout(r, 20));
    clock.advance(IDEMPOTENCY_LEASE_MS + 1);
    const takeover = await log.produce('t', body, idem('k'));
    expect(takeover.replayed).toBe(false);
    g.open();
    await expect(stalled).rejects.toBeInstanceOf(IdempotencyLostError);
    expect(await highWatermarks(log, 1)).toBe(2);
  });

  it('scopes keys: the same key in another scope is a different request', async () => {
    const log = makeLog();
    await log.topics.create({ name: 't', partitions: 1 });
    await log.produce('t', body, { idempotency: { scope: 'key:a', key: 'k' } });
    const other = await log.produce('t', body, { idempotency: { scope: 'key:b', key: 'k' } });
    expect(other.replayed).toBe(false);
    expect(await highWatermarks(log, 1)).toBe(4);
  });

  it('stores a 10,000-record result in a few KB and rebuilds it exactly', () => {
    const offsets = Array.from({ length: 10_000 }, (_, i) => ({
      partition: i % 7,
      offset: 1_000_000 + Math.floor(i / 7),
      timestamp: 1_700_000_000_000 + (i % 3),
    }));
    const stored = encodeProduceResult(offsets);
    expect(stored.length).toBeLessThan(20_000);
    expect(decodeProduceResult(stored)).toEqual(offsets);
  });
});
