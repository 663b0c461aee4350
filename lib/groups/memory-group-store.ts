import {
  type CommitOutcome,
  type GenerationChange,
  type GroupState,
  type GroupStore,
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
      if (state) result.set(partitionStateKey(key), structuredClone(state));
    }
    return result;
  }

  async listPartitions(group: string): Promise<PartitionState[]> {
    return [...(this.partitions.get(group)?.values() ?? [])].map((s) => structuredClone(s));
  }

  async claimPartition(
    group: string,
    key: PartitionKey,
    owner: string,
    generation: number,
  ): Promise<PartitionState | 'fenced'> {
    const current = this.partition(group, key);
    if (!mayClaim(current, owner, generation)) return 'fenced';
    const next: PartitionState = { ...(current ?? { ...key }), ...key, owner, generation };
    this.partitions.get(group)?.set(partitionStateKey(key), next);
    return structuredClone(next);
  }

  async commitOffset(
    group: string,
    key: PartitionKey,
    owner: string,
    generation: number,
    offset: number,
    now: number,
  ): Promise<CommitOutcome> {
    const current = this.partition(group, key);
    if (!mayClaim(current, owner, generation)) return 'fenced';
    if (current?.committedOffset !== undefined && current.committedOffset > offset) return 'behind';
    this.partitions.get(group)?.set(partitionStateKey(key), {
      ...key,
      owner,
      generation,
      committedOffset: offset,
      committedAt: now,
    });
    return 'committed';
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
    }
    return true;
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
