import type { TopicPartition } from './assignor.js';

export type AutoOffsetReset = 'earliest' | 'latest';

/** One member's session, as stored in its group's state item. */
export interface MemberState {
  /** Subscribed topic names, sorted and unique. */
  topics: string[];
  sessionTimeoutMs: number;
  autoOffsetReset: AutoOffsetReset;
  /** Epoch ms (the clock of the call that last extended the session). See GroupCoordinator on skew. */
  expiresAt: number;
  joinedAt: number;
}

/** A subscribed topic as the generation saw it: a change of either starts a new generation. */
export interface TopicSnapshot {
  /** The incarnation; '' when the topic did not exist (it is then assigned to nobody). */
  topicId: string;
  partitions: number;
}

/**
 * A partition a member owns in the current generation, with its assignment epoch: the generation since
 * which the member has owned it without interruption (as the assignment epochs of Kafka's newer group
 * protocol). A commit from any generation at or after the epoch is the owner's own (SPEC "Consumer groups").
 */
export interface AssignedPartition extends TopicPartition {
  epoch: number;
}

/**
 * A group's membership and its current generation's assignment: one item, so a generation is written by
 * one conditional write (compare-and-set on `generation`). Every map is keyed by a name a caller chose
 * (member id, topic), so every map is a `Map`: `__proto__` or `constructor` is data like any other name.
 */
export interface GroupState {
  group: string;
  generation: number;
  members: Map<string, MemberState>;
  /** memberId → its partitions, sorted by (topic, partition); every member has an entry. */
  assignments: Map<string, AssignedPartition[]>;
  /** Every topic some member subscribes to, as of this generation. */
  topics: Map<string, TopicSnapshot>;
  createdAt: number;
  updatedAt: number;
  /**
   * Epoch ms until which the group is forming (Kafka's initial rebalance delay): set by the generation that
   * takes the group from no live member to one; member fetches hand out no records before it. Absent: no
   * window. Only a delay, never a safety property: clock skew between instances lengthens or shortens it.
   */
  formingUntil?: number;
}

/**
 * Per (group, topic incarnation, partition): the lease (who owns it, since which generation) and the
 * committed offset. Keyed by topicId, so a topic re-created under the same name starts with no offsets.
 * The committed offset is the larger of the lease's own (what earlier owners committed, folded in by each
 * claim) and the current owner's commits (kept in its per-member item, docs/ARCHITECTURE.md §9.1).
 */
export interface PartitionState {
  topic: string;
  topicId: string;
  partition: number;
  /** Absent after an admin reset or before any member claimed the partition. */
  owner?: string;
  /** The generation in which `owner` claimed it (or in which the admin reset it). */
  generation: number;
  committedOffset?: number;
  committedAt?: number;
}

export interface PartitionKey {
  topic: string;
  topicId: string;
  partition: number;
}

/** How a generation changes: the new state, and what the write must find to be allowed. */
export interface GenerationChange {
  next: GroupState;
  /** Members to write whole (joined, or re-joined with new settings). */
  upserted: string[];
  /** Members to remove. */
  removed: string[];
  /**
   * Removed members presumed dead, with the expiresAt this decision saw: the write fails if a heartbeat
   * extended any of them meanwhile.
   */
  expired: Map<string, number>;
}

export type CommitOutcome =
  /** The offset is now committed. */
  | 'committed'
  /** A higher offset was already committed: nothing changed (commits never move backwards). */
  | 'behind'
  /** Another member holds the partition in this or a later generation. */
  | 'fenced';

/** One partition of a member's commit: the next offset to read, and the member's assignment epoch of it. */
export interface MemberCommit {
  key: PartitionKey;
  offset: number;
  epoch: number;
}

export interface ResetOffset extends PartitionKey {
  offset: number;
}

/**
 * The port for consumer-group state (DynamoDB in AWS and locally, memory in unit tests). Every write is
 * conditional; a write that loses its condition reports it and writes nothing (docs/ARCHITECTURE.md §6).
 */
export interface GroupStore {
  /** The group's state, strongly consistent, or undefined when no member ever joined it. */
  getGroup(group: string): Promise<GroupState | undefined>;
  /** Every group (eventually consistent): for listing. */
  listGroups(): Promise<GroupState[]>;
  /**
   * Writes the next generation. Creates the group when `previous` is undefined (fails if it exists);
   * otherwise succeeds only if the stored generation is still `previous.generation` and every `expired`
   * member's expiresAt is unchanged. Returns the stored state, or undefined when a condition failed.
   */
  writeGeneration(
    previous: GroupState | undefined,
    change: GenerationChange,
  ): Promise<GroupState | undefined>;
  /**
   * Extends a member's session to `now + sessionTimeoutMs` if its session has not run out as of
   * `aliveAfter` (expiresAt ≥ aliveAfter). Returns the group's state after the write, or undefined when the
   * member is unknown or expired.
   */
  heartbeat(
    group: string,
    memberId: string,
    now: number,
    aliveAfter: number,
  ): Promise<GroupState | undefined>;
  /** Partition states (strongly consistent); missing ones are absent from the map (key: `topicId/p`). */
  getPartitions(group: string, keys: readonly PartitionKey[]): Promise<Map<string, PartitionState>>;
  /** Every partition state of the group, any incarnation. */
  listPartitions(group: string): Promise<PartitionState[]>;
  /**
   * Makes `owner` the partition's lease holder for `generation`, if nobody holds it, it is `owner`'s from
   * this or an earlier generation, or another member holds it from an earlier generation. A previous
   * holder's commits are fenced and folded into the lease first (docs/ARCHITECTURE.md §9.4), so the answer's
   * committed offset is the latest accepted commit. Returns the partition state after the claim, or 'fenced'.
   */
  claimPartition(
    group: string,
    key: PartitionKey,
    owner: string,
    generation: number,
  ): Promise<PartitionState | 'fenced'>;
  /**
   * Commits offsets on behalf of `owner` in `generation` (in which it owns every one of them, each since its
   * `epoch`): one conditional write per topic, whatever the number of partitions. A partition is 'fenced'
   * when another member claimed it since the owner's claim, or when the owner has not claimed it since its
   * epoch and cannot (the store then claims it, as claimPartition, and commits); 'behind' when a higher
   * offset is committed already (never backwards). Outcomes in the order of `commits`.
   */
  commitOffsets(
    group: string,
    owner: string,
    generation: number,
    commits: readonly MemberCommit[],
    now: number,
  ): Promise<CommitOutcome[]>;
  /**
   * Admin reset: sets committed offsets and clears owners (and the members' own commits of those
   * partitions), only while the group is still at `generation` with no member. Atomic in chunks of at most 99 partitions; returns false (nothing of that
   * chunk written) when the group changed.
   */
  resetOffsets(
    group: string,
    generation: number,
    offsets: readonly ResetOffset[],
    now: number,
  ): Promise<boolean>;
}

export function partitionStateKey(key: { topicId: string; partition: number }): string {
  return `${key.topicId}/${key.partition}`;
}
