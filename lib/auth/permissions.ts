/**
 * Scoped permissions of API keys: name patterns × actions, on topics or on consumer groups. Pure code, no I/O.
 *
 * On topics (`{ topics: pattern, actions }`):
 * - `produce`: append records to a topic.
 * - `consume`: read a topic (fetch, live tail, offsets for a timestamp), and use it through a group.
 * - `admin`: create, change and delete topics matching the pattern; reset a group's offsets on them.
 *
 * On consumer groups (`{ groups: pattern, actions }`, as Kafka's group ACLs):
 * - `consume`: join, heartbeat, fetch, commit, leave and describe the group.
 * - `admin`: describe the group and reset its offsets.
 * A group call needs its group permission and the topic permissions of every topic involved. A key with no
 * group permission can use no group (deny by default); keys stored before group permissions existed hold
 * topic permissions only.
 *
 * Actions are independent (least privilege): `admin` does not imply `produce` or `consume`; a key that
 * manages and writes a topic lists both. Describing a topic (metadata, partitions) needs any action on it.
 */
export const ACTIONS = ['produce', 'consume', 'admin'] as const;
export type Action = (typeof ACTIONS)[number];

/** The actions a group permission may grant: nothing is produced to a group. */
export const GROUP_ACTIONS = ['consume', 'admin'] as const;
export type GroupAction = (typeof GROUP_ACTIONS)[number];

export interface TopicPermission {
  /** A topic-name pattern: topic-name characters plus `*`, which matches any run of characters. */
  topics: string;
  actions: Action[];
}

export interface GroupPermission {
  /** A group-name pattern: group-name characters (those of topic names) plus `*`. */
  groups: string;
  actions: GroupAction[];
}

/** A permission names exactly one kind of resource: topics or groups. */
export type Permission = TopicPermission | GroupPermission;

export function isGroupPermission(permission: Permission): permission is GroupPermission {
  return 'groups' in permission;
}

/** A copy that shares no array with the original (for stores that hand out keys). */
export function copyPermission(permission: Permission): Permission {
  return isGroupPermission(permission)
    ? { groups: permission.groups, actions: [...permission.actions] }
    : { topics: permission.topics, actions: [...permission.actions] };
}

/** Who is calling: the operator's admin token (may do everything), or an API key with its permissions. */
export type Principal =
  | { kind: 'admin' }
  | { kind: 'key'; keyId: string; name: string; permissions: readonly Permission[] };

/** The admin principal, shared (it carries no state). */
export const ADMIN: Principal = { kind: 'admin' };

/**
 * Topic-name characters (Kafka's rule) plus the wildcard; as long as a topic name may be. Group names use the
 * same characters, so the same rule checks group patterns.
 */
export const TOPIC_PATTERN_REGEX = /^[a-zA-Z0-9._*-]{1,249}$/;

export function isValidTopicPattern(pattern: string): boolean {
  return TOPIC_PATTERN_REGEX.test(pattern);
}

/**
 * Whether `topic` matches `pattern`, where `*` matches any run of characters (including none) and every
 * other character matches itself. Greedy matching with backtracking to the last star: linear in practice,
 * never exponential (no regular expression is built from user input).
 */
export function matchesTopicPattern(pattern: string, topic: string): boolean {
  let p = 0;
  let t = 0;
  let starP = -1;
  let starT = 0;
  while (t < topic.length) {
    if (p < pattern.length && pattern[p] === '*') {
      starP = p;
      starT = t;
      p += 1;
    } else if (p < pattern.length && pattern[p] === topic[t]) {
      p += 1;
      t += 1;
    } else if (starP >= 0) {
      p = starP + 1;
      starT += 1;
      t = starT;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p += 1;
  return p === pattern.length;
}

/** Whether `principal` may perform `action` on `topic`. The admin token may do everything. */
export function authorize(principal: Principal, action: Action, topic: string): boolean {
  if (principal.kind === 'admin') return true;
  return principal.permissions.some(
    (permission) =>
      !isGroupPermission(permission) &&
      permission.actions.includes(action) &&
      matchesTopicPattern(permission.topics, topic),
  );
}

/**
 * Whether `principal` may perform `action` on the consumer group `group`: only a group permission grants it
 * (topic permissions never do). The admin token may do everything.
 */
export function authorizeGroup(principal: Principal, action: GroupAction, group: string): boolean {
  if (principal.kind === 'admin') return true;
  return principal.permissions.some(
    (permission) =>
      isGroupPermission(permission) &&
      permission.actions.includes(action) &&
      matchesTopicPattern(permission.groups, group),
  );
}

/** Whether `principal` holds any action on `topic`: enough to see it listed and to describe it. */
export function canSee(principal: Principal, topic: string): boolean {
  return ACTIONS.some((action) => authorize(principal, action, topic));
}

/** Who the principal is, for error messages and logs (never a token). */
export function describePrincipal(principal: Principal): string {
  return principal.kind === 'admin' ? 'the admin token' : `key '${principal.name}' (${principal.keyId})`;
}
