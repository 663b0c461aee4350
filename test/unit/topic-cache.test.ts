import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { DEFAULT_LIMITS } from '../../lib/limits.js';
import { TopicService } from '../../lib/log/topics.js';
import { MemoryMetadataStore } from '../../lib/metadata/memory-metadata-store.js';
import type { Topic } from '../../lib/types.js';

/** The topic cache (docs/ARCHITECTURE.md §8): what an invalidation guarantees the next read. */
class RecordingMetadata extends MemoryMetadataStore {
  reads: Array<{ name: string; consistent: boolean }> = [];
  /** Holds the next read until released (a read under way while the topic changes). */
  hold: Promise<void> | undefined;
  override async getTopic(name: string, options: { consistent?: boolean } = {}): Promise<Topic | undefined> {
    this.reads.push({ name, consistent: options.consistent ?? false });
    const topic = structuredClone(await super.getTopic(name)); // as read now
    await this.hold;
    return topic;
  }
}

function setup() {
  const metadata = new RecordingMetadata();
  const clock = new ManualClock();
  const topics = new TopicService(metadata, clock, DEFAULT_LIMITS, {
    cacheTtlMs: 60_000,
    maxValidatedAgeMs: 60_000,
  });
  return { metadata, clock, topics };
}

describe('topic cache invalidation', () => {
  it('after invalidate, the next read is strongly consistent and later ones come from the cache', async () => {
    const { metadata, topics } = setup();
    await topics.create({ name: 't' });
    await topics.get('t');
    await topics.get('t');
    expect(metadata.reads).toEqual([{ name: 't', consistent: true }]); // create invalidates too
    await topics.get('t');
    topics.invalidate('t');
    await topics.get('t');
    await topics.get('t');
    expect(metadata.reads.at(-1)).toEqual({ name: 't', consistent: true });
    expect(metadata.reads).toHaveLength(2);
  });

  it('a read under way when the topic is invalidated is not cached, and later reads do not join it', async () => {
    const { metadata, topics } = setup();
    const created = await topics.create({ name: 't' });
    let release: () => void = () => undefined;
    metadata.hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    const early = topics.get('t'); // reads the log start before the change
    await metadata.advanceLogStartOffset('t', created.topicId, 0, 5);
    topics.invalidate('t');
    metadata.hold = undefined;
    const late = await topics.get('t'); // a new read, not the one under way
    release();
    expect((await early).logStartOffsets[0] ?? 0).toBe(0); // it answers what it read…
    expect(late.logStartOffsets[0]).toBe(5);
    expect((await topics.get('t')).logStartOffsets[0]).toBe(5); // …but does not replace the cached topic
  });

  it('invalidateAll reads every topic strongly consistently for the next second', async () => {
    const { metadata, clock, topics } = setup();
    await topics.create({ name: 'a' });
    await topics.create({ name: 'b' });
    await topics.get('a');
    await topics.get('b');
    topics.invalidateAll();
    clock.advance(500);
    await topics.get('a');
    expect(metadata.reads.at(-1)).toEqual({ name: 'a', consistent: true });
    clock.advance(600);
    await topics.get('b'); // was cached before: still read consistently once
    expect(metadata.reads.at(-1)).toEqual({ name: 'b', consistent: true });
  });
});
