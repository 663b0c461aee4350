import { UsageError } from './errors.js';

/** Where a consumer starts (`--from`): the log start, the high watermark, an offset, or a time. */
export type From =
  | { kind: 'beginning' }
  | { kind: 'end' }
  | { kind: 'offset'; offset: number }
  | { kind: 'timestamp'; timestamp: number };

/** `--from beginning|end|OFFSET|@TIMESTAMP_MS` (`earliest`/`latest` are accepted as Kafka's words for the first two). */
export function parseFrom(text: string): From {
  if (text === 'beginning' || text === 'earliest') return { kind: 'beginning' };
  if (text === 'end' || text === 'latest') return { kind: 'end' };
  if (/^\d+$/.test(text)) return { kind: 'offset', offset: safeInteger(text, '--from') };
  if (/^@\d+$/.test(text)) return { kind: 'timestamp', timestamp: safeInteger(text.slice(1), '--from') };
  throw new UsageError(
    `--from takes beginning, end, an offset (e.g. 42) or @ and a time in epoch milliseconds (e.g. @1767225600000), not '${text}'`,
  );
}

/** A non-negative decimal integer that a JSON number holds exactly. */
export function safeInteger(text: string, what: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`${what} takes a non-negative integer, not '${text}'`);
  return n;
}

/** A commander argument parser for a non-negative integer option (`--partitions 4`). */
export function integerOption(what: string): (text: string) => number {
  return (text) => safeInteger(text, what);
}

/** A commander argument parser for a positive integer option. */
export function positiveIntegerOption(what: string): (text: string) => number {
  return (text) => {
    const n = safeInteger(text, what);
    if (n === 0) throw new UsageError(`${what} takes a positive integer, not '${text}'`);
    return n;
  };
}

/** Collects a repeatable option's values (`--header a=1 --header b=2`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * `--key-separator SEP`: the text before the first SEP is the record's key, the rest its value. A line
 * without SEP has no key (null) and the whole line as its value.
 */
export function splitKey(line: string, separator: string | undefined): { key: string | null; value: string } {
  if (separator === undefined) return { key: null, value: line };
  const at = line.indexOf(separator);
  if (at < 0) return { key: null, value: line };
  return { key: line.slice(0, at), value: line.slice(at + separator.length) };
}

/** `k=v` (a header, a config entry): the name before the first `=`, which must not be empty. */
export function parseKeyValue(text: string, what: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw new UsageError(`${what} takes name=value, not '${text}'`);
  return [text.slice(0, at), text.slice(at + 1)];
}

/**
 * Repeated `--header k=v` as a record's headers. A name is data (SPEC §3): the object has no prototype, so
 * `__proto__` is a header like any other.
 */
export function parseHeaders(pairs: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = Object.create(null);
  for (const pair of pairs) {
    const [name, value] = parseKeyValue(pair, '--header');
    headers[name] = value;
  }
  return headers;
}

const ACTIONS = ['produce', 'consume', 'admin'] as const;
export type Action = (typeof ACTIONS)[number];
const GROUP_ACTIONS = ['consume', 'admin'] as const;

/** One permission of an API key, in the server's shape (SPEC §2, `POST /v1/keys`). */
export type Permission =
  | { topics: string; actions: Action[] }
  | { groups: string; actions: Exclude<Action, 'produce'>[] };

/**
 * `--allow 'orders.*:produce,consume'` (topics) or `--allow-group 'billing-*:consume'` (groups): a pattern
 * (`*` matches any run of characters), a colon, and a comma-separated list of actions. The pattern is
 * everything before the last colon (names cannot hold a colon, so there is no ambiguity).
 */
export function parseAllow(text: string, resource: 'topics' | 'groups'): Permission {
  const flag = resource === 'topics' ? '--allow' : '--allow-group';
  const at = text.lastIndexOf(':');
  if (at <= 0) {
    throw new UsageError(
      `${flag} takes PATTERN:ACTIONS, e.g. '${resource === 'topics' ? 'orders.*' : 'billing-*'}:consume', not '${text}'`,
    );
  }
  const pattern = text.slice(0, at);
  if (!/^[a-zA-Z0-9._*-]{1,249}$/.test(pattern)) {
    throw new UsageError(
      `${flag}: the pattern '${pattern}' may hold only [a-zA-Z0-9._-] and * (1–249 characters)`,
    );
  }
  // A group is consumed or administered, never produced to (the server's key schema says so too).
  const allowed = resource === 'topics' ? ACTIONS : GROUP_ACTIONS;
  const actions: Action[] = [];
  for (const word of text.slice(at + 1).split(',')) {
    const action = allowed.find((a) => a === word.trim());
    if (action === undefined) {
      throw new UsageError(`${flag}: '${word}' is not an action; use ${allowed.join(', ')}`);
    }
    if (!actions.includes(action)) actions.push(action);
  }
  if (resource === 'topics') return { topics: pattern, actions };
  return {
    groups: pattern,
    actions: actions.filter((a): a is Exclude<Action, 'produce'> => a !== 'produce'),
  };
}

const DURATION_UNITS_MS = new Map<string, number>([
  ['ms', 1],
  ['s', 1000],
  ['m', 60_000],
  ['h', 3_600_000],
  ['d', 86_400_000],
  ['w', 604_800_000],
]);

/** A duration such as `30d`, `12h`, `90m`, `45s`, `500ms` or `2w`, in milliseconds. */
export function parseDuration(text: string, what: string): number {
  const match = /^(\d+)(ms|s|m|h|d|w)$/.exec(text);
  const unit = match?.[2] === undefined ? undefined : DURATION_UNITS_MS.get(match[2]);
  if (match?.[1] === undefined || unit === undefined) {
    throw new UsageError(`${what} takes a duration such as 30d, 12h, 90m or 45s, not '${text}'`);
  }
  const ms = Number(match[1]) * unit;
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new UsageError(`${what}: '${text}' is out of range`);
  return ms;
}

/** The topic config keys, with Kafka's dotted names accepted as well (`retention.ms`). */
const CONFIG_KEYS = new Map<string, { key: string; kind: 'integer' | 'policy' }>([
  ['retentionMs', { key: 'retentionMs', kind: 'integer' }],
  ['retention.ms', { key: 'retentionMs', kind: 'integer' }],
  ['retentionBytes', { key: 'retentionBytes', kind: 'integer' }],
  ['retention.bytes', { key: 'retentionBytes', kind: 'integer' }],
  ['cleanupPolicy', { key: 'cleanupPolicy', kind: 'policy' }],
  ['cleanup.policy', { key: 'cleanupPolicy', kind: 'policy' }],
  ['maxRecordBytes', { key: 'maxRecordBytes', kind: 'integer' }],
  ['max.message.bytes', { key: 'maxRecordBytes', kind: 'integer' }],
  ['deleteRetentionMs', { key: 'deleteRetentionMs', kind: 'integer' }],
  ['delete.retention.ms', { key: 'deleteRetentionMs', kind: 'integer' }],
  ['minCompactionLagMs', { key: 'minCompactionLagMs', kind: 'integer' }],
  ['min.compaction.lag.ms', { key: 'minCompactionLagMs', kind: 'integer' }],
]);

export interface TopicConfigInput {
  retentionMs?: number;
  retentionBytes?: number;
  cleanupPolicy?: 'delete' | 'compact' | 'compact,delete';
  maxRecordBytes?: number;
  deleteRetentionMs?: number;
  minCompactionLagMs?: number;
}

/** Repeated `--config key=value` as a topic config (the server checks the ranges). */
export function parseTopicConfig(pairs: readonly string[]): TopicConfigInput {
  const config: TopicConfigInput = {};
  for (const pair of pairs) {
    const [name, value] = parseKeyValue(pair, '--config');
    const entry = CONFIG_KEYS.get(name);
    if (entry === undefined) {
      throw new UsageError(
        `--config: unknown key '${name}'; use retentionMs, retentionBytes, cleanupPolicy, maxRecordBytes, deleteRetentionMs or minCompactionLagMs`,
      );
    }
    if (entry.kind === 'policy') {
      if (value !== 'delete' && value !== 'compact' && value !== 'compact,delete') {
        throw new UsageError(
          `--config cleanupPolicy takes delete, compact or compact,delete, not '${value}'`,
        );
      }
      config.cleanupPolicy = value;
      continue;
    }
    const n = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n)) throw new UsageError(`--config ${name} takes an integer, not '${value}'`);
    switch (entry.key) {
      case 'retentionMs':
        config.retentionMs = n;
        break;
      case 'retentionBytes':
        config.retentionBytes = n;
        break;
      case 'maxRecordBytes':
        config.maxRecordBytes = n;
        break;
      case 'deleteRetentionMs':
        config.deleteRetentionMs = n;
        break;
      case 'minCompactionLagMs':
        config.minCompactionLagMs = n;
        break;
    }
  }
  return config;
}
