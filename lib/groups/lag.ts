import { mapBounded } from '../concurrency.js';
import { SluiceError } from '../errors.js';
import type { Log } from '../log/log.js';
import type { EmfWriter } from '../metrics/metrics.js';
import { type GroupStore, type PartitionState, partitionStateKey } from './group-store.js';

/** One partition of a group's topics: what the group committed, the partition's end, and the difference. */
export interface PartitionOffsets {
  topic: string;
  partition: number;
  /** Null when the group has committed nothing for this partition (of this incarnation of the topic). */
  committedOffset: number | null;
  highWatermark: number;
  /** highWatermark − committedOffset, or null when nothing is committed. */
  lag: number | null;
}

/** A partition's high watermark; the lag job memoises it so that groups reading one topic share the reads. */
export type HighWatermarkOf = (topic: string, partition: number) => Promise<number>;

/**
 * High watermarks read one topic at a time: the first partition asked of a topic reads the topic's chain
 * head (one strongly consistent read for all its partitions), and the others use that read.
 */
export function highWatermarksByTopic(log: Log): HighWatermarkOf {
  const topics = new Map<string, Promise<number[]>>();
  return async (topic, partition) => {
    let known = topics.get(topic);
    if (!known) {
      known = log.topicWatermarks(topic).then((w) => w.partitions.map((p) => p.highWatermark));
      topics.set(topic, known);
    }
    return (await known)[partition] ?? 0;
  };
}

/**
 * Per partition of `topics` (in that order): the committed offset among `stored` (matched by the topic's
 * current incarnation, so a re-created topic shows no old offsets), the high watermark and the lag. Topics
 * that no longer exist are left out.
 */
export async function partitionOffsets(
  log: Log,
  topics: readonly string[],
  stored: readonly PartitionState[],
  highWatermarkOf: HighWatermarkOf = highWatermarksByTopic(log),
): Promise<PartitionOffsets[]> {
  const committed = new Map(stored.map((s) => [partitionStateKey(s), s.committedOffset]));
  const rows: PartitionOffsets[] = [];
  for (const name of topics) {
    let topic: Awaited<ReturnType<Log['topics']['get']>>;
    try {
      topic = await log.topics.get(name);
    } catch (error) {
      if (error instanceof SluiceError && error.code === 'TOPIC_NOT_FOUND') continue;
      throw error;
    }
    rows.push(
      ...(await mapBounded(
        Array.from({ length: topic.partitions }, (_, partition) => partition),
        async (partition) => {
          const highWatermark = await highWatermarkOf(name, partition);
          const offset = committed.get(partitionStateKey({ topicId: topic.topicId, partition }));
          return {
            topic: name,
            partition,
            committedOffset: offset ?? null,
            highWatermark,
            lag: offset === undefined ? null : Math.max(0, highWatermark - offset),
          };
        },
      )),
    );
  }
  return rows;
}

/** A group's lag on one topic, over the partitions it has committed offsets for. */
export interface TopicLag {
  topic: string;
  partitions: number;
  /** Partitions with a committed offset: only these count (the others have no position to lag behind). */
  committedPartitions: number;
  /** Records between the committed offsets and the high watermarks, summed over those partitions. */
  lag: number;
  /** The largest lag of any one of them: a single stuck partition shows here even when the sum is small. */
  maxPartitionLag: number;
}

export interface GroupLag {
  group: string;
  /** Sums and maxima over `topics`. */
  lag: number;
  maxPartitionLag: number;
  committedPartitions: number;
  topics: TopicLag[];
}

/**
 * Every group's lag per topic it subscribes to or has committed on, read without a single write: the group
 * registry and states (one Query and BatchGets), each group's partition items (one Query per group) and each
 * topic's high watermarks (one head read per topic, shared by groups reading the same topic).
 * Expired members are not removed here, unlike in the coordinator: this only looks.
 */
export async function measureConsumerLag(store: GroupStore, log: Log): Promise<GroupLag[]> {
  const highWatermarkOf = highWatermarksByTopic(log);
  const result: GroupLag[] = [];
  for (const state of await store.listGroups()) {
    const stored = await store.listPartitions(state.group);
    const names = new Set(state.topics.keys());
    for (const s of stored) names.add(s.topic);
    const rows = await partitionOffsets(log, [...names].sort(), stored, highWatermarkOf);
    const topics = new Map<string, TopicLag>();
    for (const row of rows) {
      let topic = topics.get(row.topic);
      if (!topic) {
        topic = { topic: row.topic, partitions: 0, committedPartitions: 0, lag: 0, maxPartitionLag: 0 };
        topics.set(row.topic, topic);
      }
      topic.partitions++;
      if (row.lag === null) continue;
      topic.committedPartitions++;
      topic.lag += row.lag;
      topic.maxPartitionLag = Math.max(topic.maxPartitionLag, row.lag);
    }
    const all = [...topics.values()];
    result.push({
      group: state.group,
      lag: all.reduce((sum, t) => sum + t.lag, 0),
      maxPartitionLag: all.reduce((max, t) => Math.max(max, t.maxPartitionLag), 0),
      committedPartitions: all.reduce((sum, t) => sum + t.committedPartitions, 0),
      topics: all,
    });
  }
  return result;
}

/**
 * `ConsumerLag` (records) and `ConsumerLagMax` (the largest partition's) as EMF lines: one per group and
 * topic under {service, group, topic}, and one per group under {service, group} and also {service}, so
 * that the stack-wide series' Maximum is the worst group (what the optional lag alarm watches). Only
 * partitions with a committed offset count; a group or topic with none gets no line (its lag is unknown,
 * not zero).
 */
export function publishConsumerLag(writer: EmfWriter, lags: readonly GroupLag[], timestamp: number): number {
  let lines = 0;
  const emit = (dimensions: Record<string, string>, lag: number, max: number, alsoStackWide = false) => {
    writer.emit(
      dimensions,
      [
        { name: 'ConsumerLag', unit: 'Count', value: lag },
        { name: 'ConsumerLagMax', unit: 'Count', value: max },
      ],
      alsoStackWide ? [{}] : [],
      timestamp,
    );
    lines++;
  };
  for (const group of lags) {
    if (group.committedPartitions === 0) continue;
    emit({ group: group.group }, group.lag, group.maxPartitionLag, true);
    for (const topic of group.topics) {
      if (topic.committedPartitions > 0) {
        emit({ group: group.group, topic: topic.topic }, topic.lag, topic.maxPartitionLag);
      }
    }
  }
  return lines;
}
