/** Messages between the bench's main thread and its worker threads. */

export interface ProduceJob {
  role: 'produce';
  url: string;
  token: string;
  topic: string;
  /** Concurrent producers in this worker (each waits for its response before sending again). */
  producers: number;
  /** Index of this worker's first producer (keys differ per producer). */
  firstProducer: number;
  recordsPerRequest: number;
  /** Bytes of each record's JSON value as stored. */
  valueBytes: number;
  keyBytes: number;
  /** Requests each producer sends at most. */
  requestsPerProducer: number;
  /** Producers stop sending new requests after this many ms from the start signal. */
  maxMs: number;
}

export interface E2eJob {
  role: 'e2e';
  url: string;
  token: string;
  topic: string;
  partitions: number[];
  waitMs: number;
}

export interface ConsumeJob {
  role: 'consume';
  url: string;
  token: string;
  topic: string;
  partitions: number[];
  maxRecords: number;
  maxBytes: number;
  /**
   * Also hash every record read (offset, timestamp, key, value, headers) into one SHA-256 per partition, and
   * count a failure when a partition's offsets are not exactly 0, 1, 2, … (the compaction phase compares
   * the digests of its reads before and after compaction).
   */
  digest?: boolean;
}

/** N members of one consumer group, each looping fetch → commit until the group has committed everything. */
export interface GroupJob {
  role: 'group';
  url: string;
  token: string;
  topic: string;
  group: string;
  members: number;
  maxRecords: number;
  maxBytes: number;
  waitMs: number;
  sessionTimeoutMs: number;
  /** Per partition: the high watermark the group must commit (the topic is not written during the run). */
  highWatermarks: number[];
  /** Give up (and report a failure) after this many ms. */
  maxMs: number;
}

export type LoadJob = ProduceJob | E2eJob | ConsumeJob | GroupJob;

/** Sent by a load worker once it is ready; it then waits for `{ type: 'go' }`. */
export interface ReadyMessage {
  type: 'ready';
}

export interface ProduceResult {
  type: 'produce-result';
  /** Latency of every successful request, in microseconds. */
  latenciesUs: Float64Array;
  requests: number;
  records: number;
  /** Key + value bytes of the records acknowledged. */
  bytes: number;
  failures: number;
  firstFailure: string | undefined;
  startedAt: number;
  endedAt: number;
  /** Event-loop utilisation of the worker from the start signal to the end. */
  elu: number;
}

export interface E2eResult {
  type: 'e2e-result';
  /** Receive time minus send time of every record seen, in microseconds. */
  latenciesUs: Float64Array;
  records: number;
  polls: number;
  failures: number;
  firstFailure: string | undefined;
  elu: number;
}

export interface ConsumeResult {
  type: 'consume-result';
  records: number;
  bytes: number;
  requests: number;
  /** Per partition: the offset reached (the high watermark at the end). */
  reached: Record<number, number>;
  /** Per partition, with `digest`: SHA-256 (hex) of its records in order (see ConsumeJob.digest). */
  digests?: Record<number, string>;
  failures: number;
  firstFailure: string | undefined;
  startedAt: number;
  endedAt: number;
  elu: number;
}

export interface GroupMemberStats {
  /** The member's last memberId (a member that had to join again gets a new one). */
  memberId: string;
  records: number;
  fetches: number;
  commits: number;
}

export interface GroupResult {
  type: 'group-result';
  /** Records delivered to the members, redeliveries included. */
  records: number;
  /** Key + value bytes of the records delivered. */
  bytes: number;
  /**
   * Per partition, the offsets delivered as sorted, merged half-open ranges [from, to): their total length
   * is the number of distinct records delivered.
   */
  delivered: Record<number, Array<[number, number]>>;
  /** HTTP calls by kind and outcome. */
  joins: number;
  /** Joins after an UNKNOWN_MEMBER (the member's session was gone). */
  rejoins: number;
  heartbeats: number;
  fetches: number;
  /** Fetches that returned no record (the member's partitions were all committed or being read by others). */
  emptyFetches: number;
  /** Fetches answered 409 REBALANCE_IN_PROGRESS. */
  rebalances: number;
  commits: number;
  /** Commits answered 409 FENCED or REBALANCE_IN_PROGRESS (their records are redelivered). */
  fencedCommits: number;
  /** Answers 429 THROTTLED (retried). */
  throttled: number;
  finalGeneration: number;
  members: GroupMemberStats[];
  failures: number;
  firstFailure: string | undefined;
  startedAt: number;
  endedAt: number;
  elu: number;
}

export type LoadResult = ProduceResult | E2eResult | ConsumeResult | GroupResult;

/** The send time the producers put into every value: `{"t":<epoch ms>,"pad":"..."}`. */
export interface BenchValue {
  t: number;
  pad: string;
}

/** Length of `{"t":` + 13 digits + `,"pad":"` + `"}`: the value's JSON without the padding. */
export const VALUE_OVERHEAD_BYTES = 5 + 13 + 8 + 2;
