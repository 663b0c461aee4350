/**
 * Sticky partition assignment for consumer groups: a pure, deterministic function from (live members and their
 * subscriptions, partition counts, the previous generation's assignment) to the new generation's assignment,
 * in the spirit of Kafka's (cooperative-)sticky assignor.
 *
 * Why sticky: a consumer that keeps its partitions keeps its caches, its open segment readers and its in-flight
 * work, and a partition that does not change hands cannot be redelivered. Every partition that moves is
 * re-read from the last committed offset by its new owner, so fewer moves means fewer redeliveries and a
 * cheaper rebalance. A round-robin or range assignor recomputed from scratch can move almost every partition
 * when one member joins; this one moves only what balance requires.
 *
 * Algorithm (members are ordered by memberId, topics by name, both by UTF-16 code unit order, so the result
 * never depends on the order of the input):
 *   1. The universe is every partition 0..n-1 of every topic that appears in `partitions` and that at least
 *      one live member subscribes to. Partitions of other topics are assigned to nobody.
 *   2. Claims: a previous owner keeps a partition if it is still live, still subscribed to the topic and the
 *      partition still exists; everything else in `previous` is ignored. If a corrupt previous state names
 *      the same partition under several valid owners, the claimant with the smallest memberId keeps it.
 *   3. Unclaimed partitions (new partitions, partitions of departed members) are handed out one at a time to
 *      the least loaded subscriber of their topic (fewest partitions, then smallest memberId). Topics with
 *      the fewest subscribers go first, since they have the fewest places to go; then by name and partition.
 *   4. Balancing: while some member X owns a partition of topic t and some subscriber Y of t has at least two
 *      partitions fewer than X, move one partition of t from X to Y. The richest such X goes first (ties:
 *      smallest memberId); for X, a partition that X did not own in the previous generation is moved before
 *      one it did (so no extra partition changes hands), then the poorest Y, then the smallest memberId and
 *      topic; within the topic the highest-numbered such partition moves. Each move lowers the sum of the
 *      squared member loads, so the loop terminates.
 *
 * Balance guarantee (the condition Kafka's sticky assignor's balancing loop drives to): for every partition
 * owned by a member X and every live member Y subscribed to that partition's topic, |X| <= |Y| + 1, where |M|
 * is the number of partitions M is assigned. In words: no single partition can be handed to another of its
 * topic's subscribers to even out the loads. Consequences:
 *   - when all members have the same subscriptions, loads differ by at most one;
 *   - with mixed subscriptions, a member is only left with more than one partition above another member
 *     when none of its partitions could be owned by that other member. Per-topic even spread is NOT a goal:
 *     it can conflict with overall balance (A subscribes to t1 and t2, B only to t1, two partitions each:
 *     A gets t2-0 and t2-1, B gets t1-0 and t1-1, two each, instead of A three and B one). This is local
 *     optimality by single moves, not a global optimum over chains of moves.
 *
 * Stickiness guarantee: a partition leaves a live, still-subscribed previous owner only when the balancing
 * step needs it to. When all members have the same subscriptions the number of partitions moved away from
 * such owners is the minimum any assignment meeting the balance guarantee can achieve, and in particular:
 * adding a member to a balanced group moves only the partitions the new member must take, removing a member
 * moves only that member's partitions, and a partition-count increase moves no existing partition (the new
 * ones go to the least loaded members). With mixed subscriptions a partition-count increase of one topic can
 * move a partition of another topic when balance requires it. If the previous assignment already meets the
 * balance guarantee for the same members and partitions, it is returned unchanged.
 */

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface MemberSubscription {
  memberId: string;
  topics: readonly string[];
}

export interface AssignmentInput {
  /** Live members of the new generation, in any order. */
  members: readonly MemberSubscription[];
  /** Partition count of every topic some member subscribes to (topics missing here are ignored). */
  partitions: Readonly<Record<string, number>>;
  /** What each member owned in the previous generation (members may be gone; partitions may be gone). */
  previous: Readonly<Record<string, readonly TopicPartition[]>>;
}

const NONE = -1;

/** Code unit order: locale-independent, so every caller (and every Lambda) sorts identically. */
function compareStrings(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

function compareTopicPartitions(a: TopicPartition, b: TopicPartition): number {
  return compareStrings(a.topic, b.topic) || a.partition - b.partition;
}

interface TopicState {
  readonly name: string;
  readonly count: number;
  /** Member indices subscribed to this topic, ascending (memberId order). */
  readonly subscribers: readonly number[];
  /** Current owner per partition (member index), or NONE. */
  readonly owner: Int32Array;
  /** The valid previous owner per partition (live, subscribed), or NONE. */
  readonly previous: Int32Array;
}

interface MemberState {
  readonly id: string;
  readonly topics: ReadonlySet<string>;
  load: number;
  /** topic index → partitions of that topic this member holds now. */
  readonly held: Map<number, number>;
  /** topic index → partitions of that topic this member holds now but did not own in the previous generation. */
  readonly fresh: Map<number, number>;
}

function partitionCount(topic: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`partition count of topic ${JSON.stringify(topic)} must be a non-negative integer`);
  }
  return value;
}

function bump(map: Map<number, number>, key: number, by: number): void {
  const next = (map.get(key) ?? 0) + by;
  if (next === 0) map.delete(key);
  else map.set(key, next);
}

/** memberId → its partitions, each list sorted by (topic, partition); every live member has an entry. */
export function assignSticky(input: AssignmentInput): Record<string, TopicPartition[]> {
  // Members, merged by id (a duplicated member subscribes to the union of its topics), in memberId order.
  const subscriptions = new Map<string, Set<string>>();
  for (const { memberId, topics } of input.members) {
    let set = subscriptions.get(memberId);
    if (set === undefined) {
      set = new Set();
      subscriptions.set(memberId, set);
    }
    for (const topic of topics) set.add(topic);
  }
  const members: MemberState[] = [...subscriptions.keys()].sort(compareStrings).map((id) => ({
    id,
    topics: subscriptions.get(id) ?? new Set(),
    load: 0,
    held: new Map(),
    fresh: new Map(),
  }));
  const memberIndex = new Map(members.map((m, i) => [m.id, i]));

  // Topics that exist and that someone subscribes to, in name order.
  const subscribed = new Set<string>();
  for (const m of members) {
    for (const topic of m.topics) if (Object.hasOwn(input.partitions, topic)) subscribed.add(topic);
  }
  const topics: TopicState[] = [];
  for (const name of [...subscribed].sort(compareStrings)) {
    const count = partitionCount(name, input.partitions[name]);
    const subscribers: number[] = [];
    members.forEach((m, i) => {
      if (m.topics.has(name)) subscribers.push(i);
    });
    topics.push({
      name,
      count,
      subscribers,
      owner: new Int32Array(count).fill(NONE),
      previous: new Int32Array(count).fill(NONE),
    });
  }
  const topicIndex = new Map(topics.map((t, i) => [t.name, i]));

  const memberAt = (i: number): MemberState => members[i] as MemberState;
  const topicAt = (i: number): TopicState => topics[i] as TopicState;
  const ownerOf = (t: TopicState, p: number): number => t.owner[p] ?? NONE;
  const previousOf = (t: TopicState, p: number): number => t.previous[p] ?? NONE;

  const give = (ti: number, p: number, mi: number): void => {
    const t = topicAt(ti);
    const m = memberAt(mi);
    t.owner[p] = mi;
    m.load++;
    bump(m.held, ti, 1);
    if (previousOf(t, p) !== mi) bump(m.fresh, ti, 1);
  };
  const take = (ti: number, p: number): void => {
    const t = topicAt(ti);
    const mi = ownerOf(t, p);
    const m = memberAt(mi);
    t.owner[p] = NONE;
    m.load--;
    bump(m.held, ti, -1);
    if (previousOf(t, p) !== mi) bump(m.fresh, ti, -1);
  };

  // Valid claims from the previous generation; on a conflict the smallest memberId (index) wins.
  for (const [memberId, owned] of Object.entries(input.previous)) {
    const mi = memberIndex.get(memberId);
    if (mi === undefined) continue;
    for (const { topic, partition } of owned) {
      const ti = topicIndex.get(topic);
      if (ti === undefined || !memberAt(mi).topics.has(topic)) continue;
      const t = topicAt(ti);
      if (!Number.isInteger(partition) || partition < 0 || partition >= t.count) continue;
      const claimant = previousOf(t, partition);
      if (claimant === NONE || mi < claimant) t.previous[partition] = mi;
    }
  }

  // 2. Previous owners keep their valid claims.
  topics.forEach((t, ti) => {
    for (let p = 0; p < t.count; p++) {
      const mi = previousOf(t, p);
      if (mi !== NONE) give(ti, p, mi);
    }
  });

  // 3. Unclaimed partitions go to the least loaded subscriber, most constrained topics first.
  const byConstraint = topics
    .map((_, ti) => ti)
    .sort((a, b) => topicAt(a).subscribers.length - topicAt(b).subscribers.length || a - b);
  const leastLoaded = (t: TopicState): number => {
    let best = NONE;
    for (const mi of t.subscribers) {
      if (best === NONE || memberAt(mi).load < memberAt(best).load) best = mi;
    }
    return best;
  };
  for (const ti of byConstraint) {
    const t = topicAt(ti);
    for (let p = 0; p < t.count; p++) {
      if (ownerOf(t, p) === NONE) give(ti, p, leastLoaded(t));
    }
  }

  // 4. Balance: move single partitions from a member to a subscriber with at least two fewer partitions.
  const order = members.map((_, i) => i);
  let epoch = 0;
  const minEpoch = new Int32Array(topics.length).fill(-1);
  const minMember = new Int32Array(topics.length).fill(NONE);
  const poorest = (ti: number): number => {
    if (minEpoch[ti] !== epoch) {
      minEpoch[ti] = epoch;
      minMember[ti] = leastLoaded(topicAt(ti));
    }
    return minMember[ti] ?? NONE;
  };
  for (;;) {
    epoch++;
    // The smallest load of any subscribing member: a lower bound on every candidate Y's load.
    let floor = Number.POSITIVE_INFINITY;
    for (const m of members) if (m.topics.size > 0 && m.load < floor) floor = m.load;
    order.sort((a, b) => memberAt(b).load - memberAt(a).load || a - b);

    let move: { from: number; to: number; topic: number; fresh: boolean } | undefined;
    for (const xi of order) {
      const x = memberAt(xi);
      if (x.load <= floor + 1) break; // nobody after X can be two above any subscriber
      for (const ti of x.held.keys()) {
        const yi = poorest(ti);
        const y = memberAt(yi);
        if (x.load <= y.load + 1) continue;
        const fresh = x.fresh.has(ti);
        // Prefer moving a partition X did not own before (no extra hand-over), then the poorest Y, then ids.
        const better =
          move === undefined ||
          (fresh !== move.fresh
            ? fresh
            : (y.load - memberAt(move.to).load || yi - move.to || ti - move.topic) < 0);
        if (better) move = { from: xi, to: yi, topic: ti, fresh };
      }
      if (move !== undefined) break;
    }
    if (move === undefined) break;

    const t = topicAt(move.topic);
    let chosen = NONE;
    for (let p = t.count - 1; p >= 0; p--) {
      if (ownerOf(t, p) !== move.from) continue;
      if (!move.fresh || previousOf(t, p) !== move.from) {
        chosen = p;
        break;
      }
    }
    take(move.topic, chosen);
    give(move.topic, chosen, move.to);
  }

  const result = members.map((): TopicPartition[] => []);
  for (const t of topics) {
    for (let p = 0; p < t.count; p++) result[ownerOf(t, p)]?.push({ topic: t.name, partition: p });
  }
  // fromEntries defines own properties, so a memberId such as "__proto__" is an ordinary key.
  return Object.fromEntries(members.map((m, i) => [m.id, result[i] ?? []]));
}

/**
 * Partitions that changed hands between two assignments, sorted by (topic, partition): every partition owned
 * in `before` whose owner in `after` differs (another member, or nobody). Partitions that appear only in
 * `after` (new partitions, newly subscribed topics) were not taken from anyone and are not counted. A
 * partition listed under several members counts as moved unless `after` lists it under exactly the same ones.
 */
export function movedPartitions(
  before: Readonly<Record<string, readonly TopicPartition[]>>,
  after: Readonly<Record<string, readonly TopicPartition[]>>,
): TopicPartition[] {
  const owners = (assignment: Readonly<Record<string, readonly TopicPartition[]>>) => {
    const byTopic = new Map<string, Map<number, Set<string>>>();
    for (const [memberId, owned] of Object.entries(assignment)) {
      for (const { topic, partition } of owned) {
        let byPartition = byTopic.get(topic);
        if (byPartition === undefined) {
          byPartition = new Map();
          byTopic.set(topic, byPartition);
        }
        let set = byPartition.get(partition);
        if (set === undefined) {
          set = new Set();
          byPartition.set(partition, set);
        }
        set.add(memberId);
      }
    }
    return byTopic;
  };
  const was = owners(before);
  const now = owners(after);
  const moved: TopicPartition[] = [];
  for (const [topic, byPartition] of was) {
    for (const [partition, previousOwners] of byPartition) {
      const currentOwners = now.get(topic)?.get(partition);
      const same =
        currentOwners !== undefined &&
        currentOwners.size === previousOwners.size &&
        [...previousOwners].every((m) => currentOwners.has(m));
      if (!same) moved.push({ topic, partition });
    }
  }
  return moved.sort(compareTopicPartitions);
}
