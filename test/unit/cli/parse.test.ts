import { describe, expect, it } from 'vitest';
import { parseResetTarget } from '../../../cli/commands/groups.js';
import { lineToRecord } from '../../../cli/commands/produce.js';
import { UsageError } from '../../../cli/errors.js';
import {
  parseAllow,
  parseDuration,
  parseFrom,
  parseHeaders,
  parseTopicConfig,
  splitKey,
} from '../../../cli/parse.js';

describe('--from', () => {
  it('takes beginning, end, an offset, or @ and a time in epoch ms', () => {
    expect(parseFrom('beginning')).toEqual({ kind: 'beginning' });
    expect(parseFrom('end')).toEqual({ kind: 'end' });
    expect(parseFrom('42')).toEqual({ kind: 'offset', offset: 42 });
    expect(parseFrom('0')).toEqual({ kind: 'offset', offset: 0 });
    expect(parseFrom('@1767225600000')).toEqual({ kind: 'timestamp', timestamp: 1767225600000 });
  });

  it("accepts Kafka's earliest and latest", () => {
    expect(parseFrom('earliest')).toEqual({ kind: 'beginning' });
    expect(parseFrom('latest')).toEqual({ kind: 'end' });
  });

  it.each(['', '-1', '1.5', '@', '@-5', 'start', '99999999999999999999', '1e3'])(
    'refuses %j as a usage error',
    (text) => {
      expect(() => parseFrom(text)).toThrow(UsageError);
    },
  );
});

describe('groups reset --to', () => {
  it('maps to the reset body', () => {
    expect(parseResetTarget('earliest')).toEqual({ to: 'earliest' });
    expect(parseResetTarget('latest')).toEqual({ to: 'latest' });
    expect(parseResetTarget('100')).toEqual({ to: 'offset', offset: 100 });
    expect(parseResetTarget('@5')).toEqual({ to: 'timestamp', timestamp: 5 });
    expect(() => parseResetTarget('never')).toThrow(UsageError);
  });
});

describe('--key-separator', () => {
  it('makes the text before the first separator the key and the rest the value', () => {
    expect(splitKey('customer-7:{"a":1}', ':')).toEqual({ key: 'customer-7', value: '{"a":1}' });
    expect(splitKey('k:v:w', ':')).toEqual({ key: 'k', value: 'v:w' });
    expect(splitKey('k::v', '::')).toEqual({ key: 'k', value: 'v' });
  });

  it('gives an empty key for a leading separator and an empty value for a trailing one', () => {
    expect(splitKey(':v', ':')).toEqual({ key: '', value: 'v' });
    expect(splitKey('k:', ':')).toEqual({ key: 'k', value: '' });
  });

  it('leaves a line without the separator, or without a separator given, unkeyed', () => {
    expect(splitKey('no separator here', '|')).toEqual({ key: null, value: 'no separator here' });
    expect(splitKey('a:b', undefined)).toEqual({ key: null, value: 'a:b' });
  });
});

describe('produce lines', () => {
  it('are parsed as JSON with --format json, and a line that is not JSON names its line number', () => {
    expect(lineToRecord('k:{"total":42}', 1, { keySeparator: ':', format: 'json' })).toEqual({
      key: 'k',
      value: { total: 42 },
    });
    expect(() => lineToRecord('k:{oops', 7, { keySeparator: ':', format: 'json' })).toThrow(/line 7/);
  });

  it('are base64 with --format binary', () => {
    expect(lineToRecord('AAH/', 1, { format: 'binary' }).value).toBe('AAH/');
    expect(() => lineToRecord('not base64!', 2, { format: 'binary' })).toThrow(UsageError);
  });
});

describe('--allow and --allow-group', () => {
  it("map 'pattern:actions' to the server's permission shape", () => {
    expect(parseAllow('orders.*:produce,consume', 'topics')).toEqual({
      topics: 'orders.*',
      actions: ['produce', 'consume'],
    });
    expect(parseAllow('billing-*:consume', 'groups')).toEqual({ groups: 'billing-*', actions: ['consume'] });
    expect(parseAllow('*:admin', 'topics')).toEqual({ topics: '*', actions: ['admin'] });
  });

  it('refuse produce on a group, as the server does (a group is consumed or administered)', () => {
    expect(() => parseAllow('billing-*:produce', 'groups')).toThrow(
      /'produce' is not an action; use consume, admin/,
    );
    expect(parseAllow('billing-*:consume,admin', 'groups')).toEqual({
      groups: 'billing-*',
      actions: ['consume', 'admin'],
    });
  });

  it('keep each action once', () => {
    expect(parseAllow('a:consume,consume', 'topics')).toEqual({ topics: 'a', actions: ['consume'] });
  });

  it.each(['orders', ':produce', 'orders:', 'orders:read', 'or ders:produce', 'a/b:produce'])(
    'refuse %j as a usage error',
    (text) => {
      expect(() => parseAllow(text, 'topics')).toThrow(UsageError);
    },
  );
});

describe('other flag values', () => {
  it('--expires takes a duration', () => {
    expect(parseDuration('30d', '--expires')).toBe(30 * 86_400_000);
    expect(parseDuration('90m', '--expires')).toBe(90 * 60_000);
    expect(() => parseDuration('30', '--expires')).toThrow(UsageError);
    expect(() => parseDuration('0d', '--expires')).toThrow(UsageError);
  });

  it('--header names are data, even __proto__', () => {
    const headers = parseHeaders(['__proto__=x', 'a=b=c']);
    expect(Object.entries(headers)).toEqual([
      ['__proto__', 'x'],
      ['a', 'b=c'],
    ]);
    expect(() => parseHeaders(['=v'])).toThrow(UsageError);
  });

  it("--config takes the server's names and Kafka's dotted names", () => {
    expect(parseTopicConfig(['retentionMs=-1', 'cleanup.policy=compact', 'max.message.bytes=2048'])).toEqual({
      retentionMs: -1,
      cleanupPolicy: 'compact',
      maxRecordBytes: 2048,
    });
    expect(() => parseTopicConfig(['nope=1'])).toThrow(UsageError);
    expect(() => parseTopicConfig(['retentionMs=soon'])).toThrow(UsageError);
    expect(() => parseTopicConfig(['cleanupPolicy=never'])).toThrow(UsageError);
  });
});
