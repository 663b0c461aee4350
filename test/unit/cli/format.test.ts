import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../cli/errors.js';
import { compileFormat, type PrintableRecord, recordJson, renderTable } from '../../../cli/format.js';

const record = (over: Partial<PrintableRecord> = {}): PrintableRecord => ({
  topic: 'orders',
  partition: 3,
  offset: 42,
  timestamp: 1767225600000,
  key: 'customer-7',
  value: 'hello',
  format: 'text',
  headers: { source: 'web', trace: 'abc' },
  ...over,
});

const render = (format: string, r: PrintableRecord = record()) => compileFormat(format)(r).toString('utf8');

describe('the kcat-style --format renderer', () => {
  it('prints each field: %t topic, %p partition, %o offset, %k key, %v value, %T timestamp, %h headers, %s value size', () => {
    expect(render('%t|%p|%o|%k|%v|%T|%h|%s')).toBe(
      'orders|3|42|customer-7|hello|1767225600000|source=web,trace=abc|5',
    );
  });

  it('turns \\n and \\t into a newline and a tab, and %% into a percent sign', () => {
    expect(render('%p\\t%o\\n')).toBe('3\t42\n');
    expect(render('100%% %v')).toBe('100% hello');
  });

  it('defaults to nothing but the value and a newline when given %v\\n', () => {
    expect(render('%v\\n')).toBe('hello\n');
  });

  it('prints a JSON value as its JSON text, a text value as is, and a binary value as its raw bytes', () => {
    expect(render('%v', record({ format: 'json', value: { total: 42 } }))).toBe('{"total":42}');
    expect(render('%v', record({ format: 'json', value: 'quoted' }))).toBe('"quoted"');
    const bytes = compileFormat('%v')(
      record({ format: 'binary', value: Buffer.from([0, 1, 255]).toString('base64') }),
    );
    expect([...bytes]).toEqual([0, 1, 255]);
    expect(render('%s', record({ format: 'binary', value: 'AAH/' }))).toBe('3');
  });

  it('prints a null key and a null value (a tombstone) as nothing, and their sizes as -1', () => {
    expect(render('[%k][%v][%s][%K]', record({ key: null, value: null }))).toBe('[][][-1][-1]');
  });

  it('counts the value size in UTF-8 bytes', () => {
    expect(render('%s', record({ value: 'é€' }))).toBe('5');
  });

  it('takes headers from a Map as well, and prints header names that are object-property names as data', () => {
    const headers = new Map([['__proto__', 'x']]);
    expect(render('%h', record({ headers }))).toBe('__proto__=x');
  });

  it('refuses an unknown field as a usage error', () => {
    expect(() => compileFormat('%x')).toThrow(UsageError);
    expect(() => compileFormat('trailing %')).toThrow(UsageError);
  });
});

describe('--json records', () => {
  it('are one JSON object per record with every field', () => {
    expect(JSON.parse(recordJson(record({ format: 'json', value: { a: 1 } })))).toEqual({
      topic: 'orders',
      partition: 3,
      offset: 42,
      timestamp: 1767225600000,
      key: 'customer-7',
      value: { a: 1 },
      format: 'json',
      headers: { source: 'web', trace: 'abc' },
    });
  });
});

describe('tables', () => {
  it('have borders on a TTY and plain aligned columns otherwise', () => {
    const rows = [['orders', 0, 3, 3, 0]];
    const head = ['topic', 'partition', 'committed', 'highWatermark', 'lag'];
    expect(renderTable(head, rows, true)).toMatch(/┌/);
    const plain = renderTable(head, rows, false);
    expect(plain).not.toMatch(/[┌│─]/);
    expect(plain.trimEnd().split('\n')[1]?.split(/\s+/)).toEqual(['orders', '0', '3', '3', '0']);
  });

  it('show a missing value as -', () => {
    expect(renderTable(['a', 'b'], [[null, 1]], false)).toMatch(/^-\s+1$/m);
  });
});
