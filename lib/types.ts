/**
 * How a record's value was given and how it is returned: the same JSON, the same string, the same bytes.
 * A format's position in this list is its id in the segment format (lib/segment/format.ts): append only.
 */
export const VALUE_FORMATS = ['json', 'text', 'binary'] as const;
export type ValueFormat = (typeof VALUE_FORMATS)[number];

/** Segment payload codecs. A codec's position in this list is its id in the segment format: append only. */
export const COMPRESSIONS = ['none', 'gzip', 'zstd'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/**
 * One record as the engine stores it. `key` and `value` are raw bytes: a JSON value is kept as its UTF-8
 * serialisation, text as UTF-8, binary as is. `value === null` is a tombstone.
 */
export interface LogRecord {
  key: Buffer | null;
  value: Buffer | null;
  format: ValueFormat;
  headers: Record<string, string>;
  /** Epoch milliseconds: the producer's, or the append time when none was given (Kafka's CreateTime). */
  timestamp: number;
}

/** A record read back from the log, with the offset its batch was committed at. */
export interface FetchedRecord extends LogRecord {
  partition: number;
  offset: number;
}

export interface TopicConfig {
  retentionMs: number;
  retentionBytes: number;
  cleanupPolicy: 'delete' | 'compact' | 'compact,delete';
  maxRecordBytes: number;
  deleteRetentionMs: number;
  minCompactionLagMs: number;
}

/** A partial config as a request gives it: absent or undefined members keep their current or default value. */
export type TopicConfigInput = { [K in keyof TopicConfig]?: TopicConfig[K] | undefined };

export const DEFAULT_TOPIC_CONFIG: TopicConfig = {
  retentionMs: 7 * 24 * 60 * 60 * 1000,
  retentionBytes: -1,
  cleanupPolicy: 'delete',
  maxRecordBytes: 1024 * 1024,
  deleteRetentionMs: 24 * 60 * 60 * 1000,
  minCompactionLagMs: 0,
};

/** A topic incarnation. `topicId` tells a topic apart from an earlier one deleted under the same name. */
export interface Topic {
  name: string;
  topicId: string;
  partitions: number;
  config: TopicConfig;
  createdAt: number;
  /** Per-partition log start offsets, present only where retention has advanced them past 0. */
  logStartOffsets: Record<number, number>;
  /**
   * Counts the changes made to the topic after its creation (partitions, config, log starts); absent is 0.
   * Each change also counts on the topic's chain mark in the same transaction, so a reader's head read
   * tells whether a cached topic is still current (docs/ARCHITECTURE.md §8).
   */
  version?: number;
}
