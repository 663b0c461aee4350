import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import { mapBounded } from '../concurrency.js';
import {
  ConflictError,
  FencedError,
  GroupNotFoundError,
  InvalidRequestError,
  OffsetOutOfRangeError,
  RebalanceInProgressError,
  SluiceError,
  ThrottledError,
  UnknownMemberError,
} from '../errors.js';
import type { Log, PartitionFetchResult, TopicReads } from '../log/log.js';
import { assignSticky, type TopicPartition } from './assignor.js';
import { assignmentTag, decodeCursor, encodeCursor, encodeStartCursor, memberTag } from './cursor.js';
import {
  type AssignedPartition,
  type AutoOffsetReset,
  type GenerationChange,
  type GroupState,
  type GroupStore,
  type MemberState,
  type PartitionKey,
  partitionStateKey,
  type ResetOffset,
  type TopicSnapshot,
} from './group-store.js';
import { type PartitionOffsets, partitionOffsets } from './lag.js';

export interface GroupCoordinatorOptions {
  /**
   * A member counts as expired only this long after its `expiresAt`. Sessions are extended with the clock
   * of whichever instance served the heartbeat and judged with the clock of whichever serves the next call;
   * this allowance keeps a member alive across that much skew. Safety never depends on it: ownership is
   * fenced by generations, not by time (docs/ARCHITECTURE.md §6.4).
   */
  expiryGraceMs: number;
  /** Attempts of a conditional group write before answering 429 THROTTLED. */
  maxWriteAttempts: number;
  /**
   * Members per group. A group is one DynamoDB item (≤ 400 KB) that every heartbeat rewrites, so its size
   * bounds both the group and the cost of each session write; about 200 bytes per member.
   */
  maxMembers: number;
  /** How long a fetch by a member that owns no partition waits at most (it learns of a rebalance after). */
  idleFetchWaitMs: number;
  /**
   * Kafka's `group.initial.rebalance.delay.ms`: a member joining a group with no live member starts a
   * forming window this long, in which member fetches hand out no records, so that the members starting
   * together have joined before anyone reads (no start-up redelivery when a later join moves partitions).
   * 0 turns it off.
   */
  initialRebalanceDelayMs: number;
}

export const DEFAULT_GROUP_OPTIONS: GroupCoordinatorOptions = {
  expiryGraceMs: 1_000,
  maxWriteAttempts: 25,
  maxMembers: 1_000,
  idleFetchWaitMs: 5_000,
  initialRebalanceDelayMs: 3_000,
};

export const GROUP_NAME_PATTERN = /^[a-zA-Z0-9._-]{1,249}$/;
export const MEMBER_ID_PATTERN = /^[a-zA-Z0-9._:-]{1,128}$/;

export interface JoinRequest {
  topics: readonly string[];
  memberId?: string | undefined;
  sessionTimeoutMs: number;
  autoOffsetReset: AutoOffsetReset;
}

export interface JoinResult {
  memberId: string;
  generation: number;
  assignments: TopicPartition[];
  heartbeatIntervalMs: number;
}

export interface MemberFetchRequest {
  cursor?: string | undefined;
  /** With a cursor: first commit the positions it carries (commit-on-fetch), then fetch. */
  commit?: boolean | undefined;
  maxRecords: number;
  maxBytes: number;
  waitMs: number;
  signal?: AbortSignal | undefined;
}

export interface MemberFetchResult {
  generation: number;
  partitions: PartitionFetchResult[];
  cursor: string;
}

export interface CommitRequest {
  memberId: string;
  generation: number;
  offsets: ReadonlyArray<{ topic: string; partition: number; offset: number }>;
}

export type ResetTarget =
  | { to: 'earliest' }
  | { to: 'latest' }
  | { to: 'timestamp'; timestamp: number }
  | { to: 'offset'; offset: number };

export interface GroupDescription {
  group: string;
  generation: number;
  members: Array<{ memberId: string; topics: string[]; assignments: TopicPartition[]; expiresAt: number }>;
  offsets: PartitionOffsets[];
}

/** Throws (403) unless the caller may act on all of these topics. */
export type TopicGuard = (topics: readonly string[]) => void;

/**
 * How current the topics a group call works with must be: 'cached' within the topic cache's bound;
 * 'confirmed-by-fetch' known current within TOPIC_MAX_VALIDATED_AGE_MS, for a member fetch, whose head
 * reads confirm each topic's version (docs/ARCHITECTURE.md §8).
 */
export type TopicFreshness = 'cached' | 'confirmed-by-fetch';

const allowAll: TopicGuard = () => undefined;

/**
 * Consumer groups over stateless calls (docs/ARCHITECTURE.md §6). All state is in the GroupStore; every
 * transition is one conditional write; a call never waits for another member. Session expiry is detected
 * lazily by whichever call reads the group next, which then writes the next generation.
 */
export class GroupCoordinator {
  private readonly options: GroupCoordinatorOptions;

  constructor(
    private readonly store: GroupStore,
    private readonly log: Log,
    private readonly clock: Clock,
    options: Partial<GroupCoordinatorOptions> = {},
  ) {
    this.options = { ...DEFAULT_GROUP_OPTIONS, ...options };
  }

  /** Joins (or re-joins with the same memberId); a new member or new settings start a new generation. */
  async join(group: string, request: JoinRequest): Promise<JoinResult> {
    validateGroup(group);
    const topics = [...new Set(request.topics)].sort(compareStrings);
    if (topics.length === 0) throw new InvalidRequestError('topics: subscribe to at least one topic');
    // Unknown topics are refused (404) rather than silently assigned nothing.
    await Promise.all(topics.map((topic) => this.log.topics.get(topic)));
    const memberId = request.memberId ?? randomUUID();
    if (!MEMBER_ID_PATTERN.test(memberId)) {
      throw new InvalidRequestError(`memberId must match ${MEMBER_ID_PATTERN.source}`);
    }
    const heartbeatIntervalMs = Math.floor(request.sessionTimeoutMs / 3);
    for (let attempt = 0; attempt < this.options.maxWriteAttempts; attempt++) {
      const now = this.clock.now();
      const state = await this.store.getGroup(group);
      const existing = state?.members.get(memberId);
      if (
        state &&
        existing &&
        !this.expired(existing, now) &&
        sameList(existing.topics, topics) &&
        existing.sessionTimeoutMs === request.sessionTimeoutMs &&
        existing.autoOffsetReset === request.autoOffsetReset
      ) {
        // The same join again (a retry whose answer was lost, or a restart with a static memberId): it
        // extends the session and changes nothing else, so it starts no generation.
        const extended = await this.store.heartbeat(group, memberId, now, this.aliveAfter(now));
        if (!extended) continue;
        const settled = await this.settle(group, extended);
        if (!settled?.members.has(memberId)) continue;
        return { memberId, ...viewOf(settled, memberId), heartbeatIntervalMs };
      }
      if (!existing && state && state.members.size >= this.options.maxMembers) {
        throw new ConflictError(
          `group '${group}' has ${this.options.maxMembers} members, its limit: use another group or fewer members`,
        );
      }
      const member: MemberState = {
        topics,
        sessionTimeoutMs: request.sessionTimeoutMs,
        autoOffsetReset: request.autoOffsetReset,
        expiresAt: now + request.sessionTimeoutMs,
        joinedAt: existing?.joinedAt ?? now,
      };
      const change = await this.plan(group, state, now, { upsert: [memberId, member] });
      if (!change) throw new Error('a join always changes the group');
      const written = await this.store.writeGeneration(state, change);
      if (written) return { memberId, ...viewOf(written, memberId), heartbeatIntervalMs };
    }
    throw this.contended(group);
  }

  /** Extends the member's session; answers its current generation and assignment. */
  async heartbeat(
    group: string,
    memberId: string,
    guard: TopicGuard = allowAll,
  ): Promise<{ generation: number; assignments: TopicPartition[] }> {
    const { member } = await this.memberOf(group, memberId);
    guard(member.topics);
    const now = this.clock.now();
    const extended = await this.store.heartbeat(group, memberId, now, this.aliveAfter(now));
    if (!extended) throw new UnknownMemberError(group, memberId);
    return viewOf(extended, memberId);
  }

  /** Leaves the group: its partitions go to the others at once (a new generation). */
  async leave(group: string, memberId: string, guard: TopicGuard = allowAll): Promise<void> {
    for (let attempt = 0; attempt < this.options.maxWriteAttempts; attempt++) {
      const { state, member } = await this.memberOf(group, memberId);
      guard(member.topics);
      const change = await this.plan(group, state, this.clock.now(), { remove: memberId });
      if (change && (await this.store.writeGeneration(state, change))) return;
    }
    throw this.contended(group);
  }

  /**
   * Records of the member's partitions: from the cursor's positions, else from the committed offsets (the
   * member claims each such partition's lease first), else from the member's autoOffsetReset.
   */
  async fetch(
    group: string,
    memberId: string,
    request: MemberFetchRequest,
    guard: TopicGuard = allowAll,
  ): Promise<MemberFetchResult> {
    const { state, member } = await this.memberOf(group, memberId, 'confirmed-by-fetch');
    guard(member.topics);
    const generation = state.generation;
    const assigned: PartitionKey[] = (state.assignments.get(memberId) ?? [])
      .map(({ topic, partition }) => ({ topic, partition, topicId: state.topics.get(topic)?.topicId ?? '' }))
      .filter((key) => key.topicId !== '');

    const positions =
      request.cursor === undefined
        ? new Map<string, number>()
        : cursorPositions(group, memberId, generation, assigned, request.cursor);

    // The topics and chain heads this fetch reads, each once, shared by its commit's range check.
    const reads: TopicReads = new Map();
    if (request.commit && request.cursor !== undefined) {
      // Commit-on-fetch (Kafka's auto-commit at the next poll): the records handed out up to the cursor were
      // processed. Fenced exactly as an explicit commit, in the cursor's generation; a refusal fetches nothing.
      await this.commitIn(
        group,
        state,
        {
          memberId,
          generation: decodeCursor(request.cursor).generation,
          offsets: assigned.flatMap((key) => {
            const offset = positions.get(partitionStateKey(key));
            return offset === undefined ? [] : [{ topic: key.topic, partition: key.partition, offset }];
          }),
        },
        reads,
      );
    }

    const now = this.clock.now();
    // A fetch is also a heartbeat once half the session has passed: a member that fetches in a loop needs
    // no separate heartbeats, and pays for at most two session writes per session timeout.
    if (member.expiresAt - now < member.sessionTimeoutMs / 2) {
      const extended = await this.store.heartbeat(group, memberId, now, this.aliveAfter(now));
      if (!extended) throw new UnknownMemberError(group, memberId);
    }

    if (state.formingUntil !== undefined && now < state.formingUntil) {
      // The group is forming (initial rebalance delay): hand out nothing and claim nothing, so that a join
      // moving a partition meanwhile redelivers nothing. Wait out (part of) the window rather than spin; the
      // answer keeps the cursor's positions, or carries none (the next fetch starts from the commits).
      if (request.waitMs > 0) await sleep(Math.min(request.waitMs, state.formingUntil - now), request.signal);
      const known = assigned.every((key) => positions.has(partitionStateKey(key)));
      const cursor =
        positions.size > 0 && known
          ? encodeCursor({
              memberId,
              generation,
              positions: assigned.map((key) => ({
                ...key,
                offset: positions.get(partitionStateKey(key)) ?? 0,
              })),
            })
          : encodeStartCursor(memberId, generation, assigned);
      return { generation, partitions: [], cursor };
    }

    // At most STORE_CONCURRENCY claims at once: a member may own 1,000 partitions (docs/ARCHITECTURE.md §9).
    await mapBounded(
      assigned.filter((key) => !positions.has(partitionStateKey(key))),
      async (key) => {
        const claimed = await this.store.claimPartition(group, key, memberId, generation);
        // Someone holds it from a later generation: this member's view is already stale.
        if (claimed === 'fenced') throw new RebalanceInProgressError(group, generation + 1);
        if (claimed.committedOffset !== undefined) {
          positions.set(partitionStateKey(key), claimed.committedOffset);
        }
      },
    );

    if (assigned.length === 0 && request.waitMs > 0) {
      // Nothing to read until a rebalance: wait (briefly, so that it learns of one soon), do not spin.
      await sleep(Math.min(request.waitMs, this.options.idleFetchWaitMs), request.signal);
    }
    const partitions = await this.log.fetchMany(
      assigned.map((key) => ({
        ...key,
        // -1 is below every log start: it resolves through autoOffsetReset.
        offset: positions.get(partitionStateKey(key)) ?? -1,
        reset: member.autoOffsetReset,
      })),
      { ...request, reads },
    );
    const next = new Map(partitions.map((p) => [partitionStateKey(p), Math.max(0, p.nextOffset)]));
    const cursor = encodeCursor({
      memberId,
      generation,
      // In the assignment's order: the cursor names no partition, only the assignment's digest.
      positions: assigned.map((key) => ({
        topicId: key.topicId,
        partition: key.partition,
        offset: next.get(partitionStateKey(key)) ?? 0,
      })),
    });
    return { generation, partitions, cursor };
  }

  /**
   * Commits offsets (each the next offset to read), fenced by ownership: each partition must be the
   * member's now, and owned by it without interruption since the request's generation (its assignment
   * epoch ≤ that generation), so a rebalance that leaves a partition in place fences no commit of it while
   * one that moved it does (Kafka's assignment epochs). Partitions are committed independently (as Kafka's
   * per-partition answers): the fenced ones are named in the 409, the others are committed. A commit below
   * the committed offset changes nothing.
   */
  async commit(group: string, request: CommitRequest): Promise<void> {
    const seen = new Set<string>();
    for (const { topic, partition } of request.offsets) {
      const key = `${topic}/${partition}`;
      if (seen.has(key)) throw new InvalidRequestError(`offsets: ${key} is given twice`);
      seen.add(key);
    }
    const { state } = await this.memberOf(group, request.memberId);
    await this.commitIn(group, state, request);
  }

  /** `commit` against the group state just read (a commit-on-fetch reuses the fetch's read). */
  private async commitIn(
    group: string,
    state: GroupState,
    request: CommitRequest,
    /** The fetch's topic and head reads, when the commit rides on a fetch (shared, read once). */
    reads?: TopicReads,
  ): Promise<void> {
    if (request.generation > state.generation) {
      throw new FencedError(
        `generation ${request.generation} is not one of group '${group}' (it is at generation ` +
          `${state.generation}): heartbeat to learn the assignment, then fetch without a cursor`,
        state.generation,
      );
    }
    const epochs = new Map(
      (state.assignments.get(request.memberId) ?? []).map((tp) => [`${tp.topic}/${tp.partition}`, tp.epoch]),
    );
    const owned = (o: { topic: string; partition: number }) => {
      const epoch = epochs.get(`${o.topic}/${o.partition}`);
      return epoch !== undefined && epoch <= request.generation;
    };
    const notOwned = request.offsets.filter((o) => !owned(o));
    // As Kafka's OffsetCommit answers per partition: the partitions the member may commit are committed
    // even when others of the request are fenced (the answer is 409 FENCED naming those).
    const keys = await mapBounded(request.offsets.filter(owned), async (o) => {
      const marks = await this.log.watermarks(o.topic, o.partition, o.offset, reads);
      if (marks.topicId !== state.topics.get(o.topic)?.topicId) {
        // The topic was deleted and re-created after this generation began: the next call rebalances.
        throw new RebalanceInProgressError(group, state.generation + 1);
      }
      if (o.offset > marks.highWatermark) {
        throw new OffsetOutOfRangeError(o.offset, marks.logStartOffset, marks.highWatermark);
      }
      return {
        key: { topic: o.topic, topicId: marks.topicId, partition: o.partition },
        offset: o.offset,
        epoch: epochs.get(`${o.topic}/${o.partition}`) ?? state.generation,
      };
    });
    // One write per member item (per topic, up to 25 partitions), in the generation just read (the member owns
    // every one of these partitions since its epoch): a later owner's claim has fenced that item for a
    // partition that moved, which fails its part of the write (docs/ARCHITECTURE.md §9.4).
    const outcomes = await this.store.commitOffsets(
      group,
      request.memberId,
      state.generation,
      keys,
      this.clock.now(),
    );
    const fenced = [
      ...notOwned.map((o) => `${o.topic}/${o.partition}`),
      ...keys.filter((_, i) => outcomes[i] === 'fenced').map(({ key }) => `${key.topic}/${key.partition}`),
    ];
    if (fenced.length > 0) {
      const committed = request.offsets.length - fenced.length;
      throw new FencedError(
        `member '${request.memberId}' has not owned ${fenced.join(', ')} without interruption since generation ` +
          `${request.generation} (group '${group}' is at generation ${state.generation}); ` +
          `${committed > 0 ? `the other ${committed} partition(s) were committed; ` : 'nothing was committed; '}` +
          'heartbeat to learn the assignment, then fetch without a cursor',
        state.generation,
      );
    }
  }

  /**
   * Admin: sets the committed offsets of `topics` (default: every topic the group has offsets for), only
   * while the group has no live member (as Kafka requires). Returns the offsets now committed.
   */
  async reset(
    group: string,
    target: ResetTarget,
    topics: readonly string[] | undefined,
    guard: TopicGuard = allowAll,
  ): Promise<ResetOffset[]> {
    validateGroup(group);
    const state = await this.current(group);
    if (!state) throw new GroupNotFoundError(group);
    let names = topics ? [...new Set(topics)] : undefined;
    if (!names) {
      const stored = await this.store.listPartitions(group);
      names = [...new Set(stored.map((s) => s.topic))];
      if (names.length === 0) {
        throw new InvalidRequestError(`group '${group}' has no committed offsets: name the topics to reset`);
      }
    }
    names.sort(compareStrings);
    // Permission on the topics comes first: only a caller allowed to reset learns of live members.
    guard(names);
    const live = state.members.size;
    if (live > 0) {
      throw new ConflictError(
        `group '${group}' has ${live} live member(s): offsets can be reset only when it has none (stop its ` +
          'consumers, or wait for their sessions to expire)',
      );
    }
    const offsets: ResetOffset[] = [];
    for (const name of names) {
      const topic = await this.log.topics.getFresh(name);
      for (let partition = 0; partition < topic.partitions; partition++) {
        const marks = await this.log.watermarks(name, partition);
        let offset: number;
        if (target.to === 'earliest') offset = marks.logStartOffset;
        else if (target.to === 'latest') offset = marks.highWatermark;
        else if (target.to === 'timestamp') {
          offset = await this.log.offsetForTimestamp(name, partition, target.timestamp);
        } else offset = Math.min(Math.max(target.offset, marks.logStartOffset), marks.highWatermark);
        offsets.push({ topic: name, topicId: topic.topicId, partition, offset });
      }
    }
    if (!(await this.store.resetOffsets(group, state.generation, offsets, this.clock.now()))) {
      throw new ConflictError(
        `group '${group}' changed (a member joined) during the reset: nothing more was reset`,
      );
    }
    return offsets;
  }

  /** Members, assignments, and per partition the committed offset, high watermark and lag. */
  async describe(group: string, guard: TopicGuard = allowAll): Promise<GroupDescription> {
    validateGroup(group);
    const state = await this.current(group);
    if (!state) throw new GroupNotFoundError(group);
    const stored = await this.store.listPartitions(group);
    const names = new Set(state.topics.keys());
    for (const s of stored) names.add(s.topic);
    const topics = [...names].sort(compareStrings);
    guard(topics);
    const offsets = await partitionOffsets(this.log, topics, stored);
    const members = [...state.members]
      .sort(([a], [b]) => compareStrings(a, b))
      .map(([memberId, m]) => ({
        memberId,
        topics: m.topics,
        assignments: viewOf(state, memberId).assignments,
        expiresAt: m.expiresAt,
      }));
    return { group, generation: state.generation, members, offsets };
  }

  /** Every group with its generation and live member count (eventually consistent; no writes). */
  async list(): Promise<Array<{ group: string; generation: number; members: number; topics: string[] }>> {
    const now = this.clock.now();
    return (await this.store.listGroups()).map((state) => ({
      group: state.group,
      generation: state.generation,
      members: [...state.members.values()].filter((m) => !this.expired(m, now)).length,
      topics: [...state.topics.keys()].sort(compareStrings),
    }));
  }

  // ---- internals ----------------------------------------------------------------------------------------

  /** The group after lazy maintenance, and the member, or UNKNOWN_MEMBER. */
  private async memberOf(
    group: string,
    memberId: string,
    topics: TopicFreshness = 'cached',
  ): Promise<{ state: GroupState; member: MemberState }> {
    validateGroup(group);
    const state = await this.current(group, topics);
    const member = state?.members.get(memberId);
    if (!state || !member) throw new UnknownMemberError(group, memberId);
    return { state, member };
  }

  /** Reads the group and brings it up to date (expired members removed, topic changes applied). */
  private async current(group: string, topics: TopicFreshness = 'cached'): Promise<GroupState | undefined> {
    return this.settle(group, undefined, topics);
  }

  /**
   * Writes the generations that lazy maintenance calls for, starting from `state` (or a fresh read), and
   * returns the state it ends at; undefined when the group does not exist.
   */
  private async settle(
    group: string,
    state: GroupState | undefined,
    topics: TopicFreshness = 'cached',
  ): Promise<GroupState | undefined> {
    let current = state;
    for (let attempt = 0; attempt < this.options.maxWriteAttempts; attempt++) {
      current ??= await this.store.getGroup(group);
      if (!current) return undefined;
      const change = await this.plan(group, current, this.clock.now(), {}, topics);
      if (!change) return current;
      const written = await this.store.writeGeneration(current, change);
      if (written) return written;
      current = undefined;
    }
    throw this.contended(group);
  }

  /**
   * The next generation, or undefined when nothing calls for one. Removes members whose session ran out
   * (beyond the skew allowance), applies the edit, and re-assigns when membership, a subscription, or a
   * subscribed topic's partition count or incarnation changed.
   */
  private async plan(
    group: string,
    state: GroupState | undefined,
    now: number,
    edit: { upsert?: [string, MemberState]; remove?: string },
    freshness: TopicFreshness = 'cached',
  ): Promise<GenerationChange | undefined> {
    const members = new Map<string, MemberState>(state?.members);
    const removed: string[] = [];
    const expired = new Map<string, number>();
    for (const [memberId, member] of members) {
      if (memberId !== edit.upsert?.[0] && this.expired(member, now)) {
        removed.push(memberId);
        expired.set(memberId, member.expiresAt);
        members.delete(memberId);
      }
    }
    if (edit.remove !== undefined && members.has(edit.remove)) {
      removed.push(edit.remove);
      members.delete(edit.remove);
    }
    // Live members before this edit (the expired ones are gone already): none, and one joins, opens the
    // forming window; a group with live members keeps the window it has (or has none).
    const liveBefore = [...members.values()].filter((m) => !this.expired(m, now)).length;
    const delay = this.options.initialRebalanceDelayMs;
    const formingUntil =
      liveBefore === 0 && edit.upsert && delay > 0
        ? now + delay
        : state?.formingUntil !== undefined && state.formingUntil > now
          ? state.formingUntil
          : undefined;
    const upserted: string[] = [];
    if (edit.upsert) {
      members.set(edit.upsert[0], edit.upsert[1]);
      upserted.push(edit.upsert[0]);
    }
    const subscribed = new Set([...members.values()].flatMap((m) => m.topics));
    const topics = await this.snapshots(subscribed, freshness);
    if (state && removed.length === 0 && upserted.length === 0 && sameTopics(state.topics, topics))
      return undefined;
    const generation = (state?.generation ?? 0) + 1;
    // The assignor takes records; Object.fromEntries defines own properties and the assignor reads only
    // own properties (Object.entries, Object.hasOwn), so a name such as "__proto__" stays an ordinary key.
    const assigned = assignSticky({
      members: [...members].map(([memberId, m]) => ({ memberId, topics: m.topics })),
      partitions: Object.fromEntries([...topics].map(([name, t]) => [name, t.partitions])),
      previous: Object.fromEntries(state?.assignments ?? []),
    });
    const assignments = new Map<string, AssignedPartition[]>();
    for (const [memberId, partitions] of Object.entries(assigned)) {
      // A partition the member keeps (same topic incarnation) keeps its epoch; any other starts one now.
      const epochs = new Map(
        (state?.assignments.get(memberId) ?? []).map((p) => [`${p.topic}/${p.partition}`, p.epoch]),
      );
      assignments.set(
        memberId,
        partitions.map(({ topic, partition }) => {
          const kept =
            state?.topics.get(topic)?.topicId === topics.get(topic)?.topicId
              ? epochs.get(`${topic}/${partition}`)
              : undefined;
          return { topic, partition, epoch: kept ?? generation };
        }),
      );
    }
    return {
      next: {
        group,
        generation,
        members,
        assignments,
        topics,
        createdAt: state?.createdAt ?? now,
        updatedAt: now,
        ...(formingUntil === undefined ? {} : { formingUntil }),
      },
      upserted,
      removed,
      expired,
    };
  }

  /**
   * The subscribed topics as they are now (through the topic cache); a missing topic has 0 partitions. With
   * 'confirmed-by-fetch', a cached topic known current within TOPIC_MAX_VALIDATED_AGE_MS is used as it is:
   * the member fetch that asks reads each topic's head next, which confirms or refreshes it, so a change
   * shows at the member's next call at the latest.
   */
  private async snapshots(
    names: Iterable<string>,
    freshness: TopicFreshness,
  ): Promise<Map<string, TopicSnapshot>> {
    const entries = await Promise.all(
      [...names].sort(compareStrings).map(async (name): Promise<[string, TopicSnapshot]> => {
        try {
          const cached = freshness === 'confirmed-by-fetch' ? this.log.topics.cachedForRead(name) : undefined;
          const topic = cached?.topic ?? (await this.log.topics.get(name));
          return [name, { topicId: topic.topicId, partitions: topic.partitions }];
        } catch (error) {
          if (error instanceof SluiceError && error.code === 'TOPIC_NOT_FOUND') {
            return [name, { topicId: '', partitions: 0 }];
          }
          throw error;
        }
      }),
    );
    return new Map(entries);
  }

  private expired(member: MemberState, now: number): boolean {
    return now > member.expiresAt + this.options.expiryGraceMs;
  }

  /** A session counts as alive for a heartbeat when its expiresAt is at or after this. */
  private aliveAfter(now: number): number {
    return now - this.options.expiryGraceMs;
  }

  private contended(group: string): ThrottledError {
    return new ThrottledError(`group '${group}' is changing too fast to update; retry`);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

function validateGroup(group: string): void {
  if (!GROUP_NAME_PATTERN.test(group) || group === '.' || group === '..') {
    throw new InvalidRequestError(`group name must be 1–249 of [a-zA-Z0-9._-] (got '${group}')`);
  }
}

function viewOf(state: GroupState, memberId: string): { generation: number; assignments: TopicPartition[] } {
  const owned = state.assignments.get(memberId) ?? [];
  return {
    generation: state.generation,
    assignments: owned.map(({ topic, partition }) => ({ topic, partition })),
  };
}

/**
 * The positions a cursor carries, keyed by partitionStateKey; 400 for a cursor of another member or a
 * later generation, 409 REBALANCE_IN_PROGRESS for one of an earlier generation whose assignment differs.
 */
function cursorPositions(
  group: string,
  memberId: string,
  generation: number,
  assigned: readonly PartitionKey[],
  text: string,
): Map<string, number> {
  const notOurs = () =>
    new InvalidRequestError('cursor belongs to another member or group: fetch without one');
  const cursor = decodeCursor(text);
  const positions = new Map<string, number>();
  if (cursor.version === 1) {
    if (cursor.memberId !== memberId || cursor.generation > generation) throw notOurs();
    const cursorKeys = cursor.positions.map(partitionStateKey);
    if (
      cursor.generation !== generation &&
      !sameList(cursorKeys.sort(), assigned.map(partitionStateKey).sort())
    ) {
      throw new RebalanceInProgressError(group, generation);
    }
    for (const position of cursor.positions) positions.set(partitionStateKey(position), position.offset);
    return positions;
  }
  if (cursor.memberTag !== memberTag(memberId) || cursor.generation > generation) throw notOurs();
  // A cursor without positions (a forming group's answer, or an empty assignment's) carries nothing that
  // could be stale: the fetch starts from the commits, as without a cursor.
  if (cursor.offsets.length === 0) return positions;
  if (cursor.assignmentTag !== assignmentTag(assigned) || cursor.offsets.length !== assigned.length) {
    // In its own generation a cursor always matches the assignment: this one was not written for it.
    if (cursor.generation === generation) throw notOurs();
    throw new RebalanceInProgressError(group, generation);
  }
  assigned.forEach((key, i) => {
    positions.set(partitionStateKey(key), cursor.offsets[i] ?? 0);
  });
  return positions;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameTopics(a: ReadonlyMap<string, TopicSnapshot>, b: ReadonlyMap<string, TopicSnapshot>): boolean {
  if (a.size !== b.size) return false;
  return [...a].every(([k, t]) => b.get(k)?.topicId === t.topicId && b.get(k)?.partitions === t.partitions);
}

function compareStrings(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}
