import {
  type CommitOutcome,
  type GenerationChange,
  type GroupState,
  type GroupStore,
  type MemberCommit,
  type PartitionKey,
  type PartitionState,
  partitionStateKey,
  type ResetOffset,
} from './group-store.js';

/**
 * In-memory GroupStore for unit tests. Each method checks and writes without yielding in between, which
 * is what makes its conditions atomic, as DynamoDB's are in the real adapter.
 */
export class MemoryGroupStore implements GroupStore {
  private readonly groups = new Map<string, GroupState>();
  private readonly partitions = new Map<string, Map<string, PartitionState>>();
  /** group → (member, topicId) → partition → the member's own commit record (the per-member item). */
  private readonly members = new Map<string, Map<string, Map<number, MemberPartition>>>();

  async getGroup(group: string): Promise<GroupState | undefined> {
    const state = this.groups.get(group);
    return state && structuredClone(state);
  }

  async listGroups(): Promise<GroupState[]> {
    return [...this.groups.values()].map((s) => structuredClone(s));
  }

  async writeGeneration(
    previous: GroupState | undefined,
    change: GenerationChange,
  ): Promise<GroupState | undefined> {
    const stored = this.groups.get(change.next.group);
    if (!previous) {
      if (stored) return undefined;
      this.groups.set(change.next.group, structuredClone(change.next));
      return structuredClone(change.next);
    }
    if (!stored || stored.generation !== previous.generation) return undefined;
    for (const [memberId, seen] of change.expired) {
      if (stored.members.get(memberId)?.expiresAt !== seen) return undefined;
    }
    const members = new Map(stored.members);
    for (const memberId of change.removed) members.delete(memberId);
    for (const memberId of change.upserted) {
      const member = change.next.members.get(memberId);
      if (member) members.set(memberId, structuredClone(member));
    }
    const next: GroupState = {
      ...stored,
      generation: change.next.generation,
      members,
      assignments: structuredClone(change.next.assignments),
      topics: structuredClone(change.next.topics),
      updatedAt: change.next.updatedAt,
    };
    if (change.next.formingUntil === undefined) delete next.formingUntil;
    else next.formingUntil = change.next.formingUntil;
    this.groups.set(next.group, next);
    return structuredClone(next);
  }

  async heartbeat(
    group: string,
    memberId: string,
    now: number,
    aliveAfter: number,
  ): Promise<GroupState | undefined> {
    const member = this.groups.get(group)?.members.get(memberId);
    if (!member || member.expiresAt < aliveAfter) return undefined;
    member.expiresAt = now + member.sessionTimeoutMs;
    return this.getGroup(group);
  }

  async getPartitions(group: string, keys: readonly PartitionKey[]): Promise<Map<string, PartitionState>> {
    const stored = this.partitions.get(group);
    const result = new Map<string, PartitionState>();
    for (const key of keys) {
      const state = stored?.get(partitionStateKey(key));
      if (state) result.set(partitionStateKey(key), this.merged(group, state));
    }
    return result;
  }

  async listPartitions(group: string): Promise<PartitionState[]> {
    return [...(this.partitions.get(group)?.values() ?? [])].map((s) => this.merged(group, s));
  }

  async claimPartition(
    group: string,
    key: PartitionKey,
    owner: string,
    generation: number,
  ): Promise<PartitionState | 'fenced'> {
    const current = this.partition(group, key);
    if (!mayClaim(current, owner, generation)) return 'fenced';
    const mine = this.memberPartition(group, owner, key);
    if ((mine.fenced ?? 0) >= generation || (mine.claimed ?? 0) > generation) return 'fenced';
    const previous = current?.owner;
    let committedOffset = current?.committedOffset;
    let committedAt = current?.committedAt;
    if (previous !== undefined && previous !== owner) {
      // Fence the previous owner's commits of this partition, then fold its last one into the lease.
      const theirs = this.memberPartition(group, previous, key);
      theirs.fenced = Math.max(theirs.fenced ?? 0, generation);
      if (theirs.offset !== undefined && (committedOffset === undefined || theirs.offset > committedOffset)) {
        committedOffset = theirs.offset;
        committedAt = theirs.at;
      }
    }
    const next: PartitionState = {
      ...key,
      owner,
      generation,
      ...(committedOffset === undefined ? {} : { committedOffset }),
      ...(committedAt === undefined ? {} : { committedAt }),
    };
    this.partitions.get(group)?.set(partitionStateKey(key), next);
    mine.claimed = generation;
    if (previous !== owner) {
      // A claim from someone else (or after a reset) starts from the lease: older own values are stale.
      delete mine.offset;
      delete mine.at;
      if (committedOffset !== undefined) mine.offset = committedOffset;
      if (committedAt !== undefined) mine.at = committedAt;
    }
    return this.merged(group, next);
  }

  async commitOffsets(
    group: string,
    owner: string,
    generation: number,
    commits: readonly MemberCommit[],
    now: number,
  ): Promise<CommitOutcome[]> {
    const outcomes: CommitOutcome[] = [];
    for (const { key, offset, epoch } of commits) {
      let mine = this.memberPartition(group, owner, key);
      if (!claimValid(mine, epoch)) {
        // Not claimed since its epoch (or fenced since): the commit claims, as a fetch would.
        if ((await this.claimPartition(group, key, owner, generation)) === 'fenced') {
          outcomes.push('fenced');
          continue;
        }
        mine = this.memberPartition(group, owner, key);
      }
      if (mine.offset !== undefined && mine.offset > offset) {
        outcomes.push('behind');
        continue;
      }
      mine.offset = offset;
      mine.at = now;
      outcomes.push('committed');
    }
    return outcomes;
  }

  async resetOffsets(
    group: string,
    generation: number,
    offsets: readonly ResetOffset[],
    now: number,
  ): Promise<boolean> {
    if (this.groups.get(group)?.generation !== generation) return false;
    for (const { offset, ...key } of offsets) {
      this.partition(group, key);
      this.partitions.get(group)?.set(partitionStateKey(key), {
        ...key,
        generation,
        committedOffset: offset,
        committedAt: now,
      });
      // The members' own commits of the partition are cleared unless claimed after the reset's generation.
      for (const [item, byPartition] of this.members.get(group) ?? []) {
        if (!item.endsWith(`\u0000${key.topicId}`)) continue;
        const mine = byPartition.get(key.partition);
        if (mine && (mine.claimed ?? 0) <= generation) {
          delete mine.offset;
          delete mine.at;
          delete mine.claimed;
        }
      }
    }
    return true;
  }

  /** The lease with its committed offset raised to its owner's own last commit (ARCHITECTURE §9.1). */
  private merged(group: string, lease: PartitionState): PartitionState {
    const result = structuredClone(lease);
    if (lease.owner === undefined) return result;
    const mine = this.members
      .get(group)
      ?.get(memberItemKey(lease.owner, lease.topicId))
      ?.get(lease.partition);
    if (
      mine?.offset !== undefined &&
      (result.committedOffset === undefined || mine.offset > result.committedOffset)
    ) {
      result.committedOffset = mine.offset;
      if (mine.at !== undefined) result.committedAt = mine.at;
    }
    return result;
  }

  private memberPartition(group: string, member: string, key: PartitionKey): MemberPartition {
    let items = this.members.get(group);
    if (!items) {
      items = new Map();
      this.members.set(group, items);
    }
    let item = items.get(memberItemKey(member, key.topicId));
    if (!item) {
      item = new Map();
      items.set(memberItemKey(member, key.topicId), item);
    }
    let mine = item.get(key.partition);
    if (!mine) {
      mine = {};
      item.set(key.partition, mine);
    }
    return mine;
  }

  private partition(group: string, key: PartitionKey): PartitionState | undefined {
    let stored = this.partitions.get(group);
    if (!stored) {
      stored = new Map();
      this.partitions.set(group, stored);
    }
    return stored.get(partitionStateKey(key));
  }
}

/** The lease rule both adapters implement (docs/ARCHITECTURE.md §6.3). */
export function mayClaim(current: PartitionState | undefined, owner: string, generation: number): boolean {
  return (
    current === undefined ||
    current.generation < generation ||
    (current.generation === generation && current.owner === owner)
  );
}

/** A member's own record of one partition: its last commit, the generation of its claim, and of its fence. */
interface MemberPartition {
  offset?: number;
  at?: number;
  claimed?: number;
  fenced?: number;
}

function memberItemKey(member: string, topicId: string): string {
  return `${member}\u0000${topicId}`;
}

/**
 * A member may commit a partition on its own claim when it claimed it since its assignment epoch and
 * nobody claimed it after (both adapters, docs/ARCHITECTURE.md §9.4).
 */
export function claimValid(mine: { claimed?: number; fenced?: number }, epoch: number): boolean {
  return (
    mine.claimed !== undefined &&
    mine.claimed >= epoch &&
    (mine.fenced === undefined || mine.fenced < mine.claimed)
  );
}
