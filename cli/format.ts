import Table from 'cli-table3';
import { UsageError } from './errors.js';

/** A record as the CLI prints it (what the client's consumer, tail and fetch hand out). */
export interface PrintableRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  value: unknown;
  /** How the value was produced (the server's `format`); absent when the source does not say. */
  format?: 'json' | 'text' | 'binary' | undefined;
  headers: Record<string, string> | ReadonlyMap<string, string>;
}

/**
 * A record's value as the bytes kcat would print: a text value as its UTF-8, a binary value as its raw
 * bytes, a JSON value as its JSON text; `null` (a tombstone) as nothing.
 */
export function valueBytes(record: Pick<PrintableRecord, 'value' | 'format'>): Buffer | null {
  const { value, format } = record;
  if (value === null || value === undefined) return null;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === 'string') {
    if (format === 'binary') return Buffer.from(value, 'base64');
    if (format === 'text' || format === undefined) return Buffer.from(value, 'utf8');
  }
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function headerEntries(headers: PrintableRecord['headers']): [string, string][] {
  return headers instanceof Map ? [...headers.entries()] : Object.entries(headers);
}

type Piece = { literal: string } | { field: 't' | 'p' | 'o' | 'k' | 'v' | 'T' | 'h' | 's' | 'K' };

const FIELDS = new Set(['t', 'p', 'o', 'k', 'v', 'T', 'h', 's', 'K']);
const ESCAPES = new Map([
  ['n', '\n'],
  ['t', '\t'],
  ['r', '\r'],
  ['\\', '\\'],
  ['0', '\0'],
]);

/**
 * A kcat-style output format (`-f`/`--format`): `%t` topic, `%p` partition, `%o` offset, `%k` key, `%v`
 * value, `%T` timestamp (epoch ms), `%h` headers (`name=value,…`), `%s` value size in bytes (-1 for a
 * null value), `%K` key size (-1 for a null key), `%%` a percent sign; `\n`, `\t`, `\r`, `\\` and `\0`
 * escapes. Compiled once; the renderer returns bytes (a binary value is printed raw, as kcat does).
 */
export function compileFormat(format: string): (record: PrintableRecord) => Buffer {
  const pieces: Piece[] = [];
  let literal = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    const next = format[i + 1];
    if (c === '%') {
      if (next === '%') {
        literal += '%';
      } else if (next !== undefined && FIELDS.has(next)) {
        if (literal !== '') pieces.push({ literal });
        literal = '';
        pieces.push({ field: next as 't' });
      } else {
        throw new UsageError(
          `--format: '%${next ?? ''}' is not a field; use %t %p %o %k %v %T %h %s %K or %% (and \\n, \\t escapes)`,
        );
      }
      i++;
    } else if (c === '\\' && next !== undefined && ESCAPES.has(next)) {
      literal += ESCAPES.get(next);
      i++;
    } else {
      literal += c;
    }
  }
  if (literal !== '') pieces.push({ literal });
  const literals = pieces.map((p) => ('literal' in p ? Buffer.from(p.literal, 'utf8') : undefined));
  return (record) => {
    const parts: Buffer[] = [];
    pieces.forEach((piece, index) => {
      const fixed = literals[index];
      if (fixed !== undefined) {
        parts.push(fixed);
        return;
      }
      if (!('field' in piece)) return;
      switch (piece.field) {
        case 't':
          parts.push(Buffer.from(record.topic, 'utf8'));
          break;
        case 'p':
          parts.push(Buffer.from(String(record.partition)));
          break;
        case 'o':
          parts.push(Buffer.from(String(record.offset)));
          break;
        case 'T':
          parts.push(Buffer.from(String(record.timestamp)));
          break;
        case 'k':
          if (record.key !== null) parts.push(Buffer.from(record.key, 'utf8'));
          break;
        case 'K':
          parts.push(Buffer.from(String(record.key === null ? -1 : Buffer.byteLength(record.key, 'utf8'))));
          break;
        case 'v': {
          const bytes = valueBytes(record);
          if (bytes !== null) parts.push(bytes);
          break;
        }
        case 's':
          parts.push(Buffer.from(String(valueBytes(record)?.length ?? -1)));
          break;
        case 'h':
          parts.push(
            Buffer.from(
              headerEntries(record.headers)
                .map(([name, value]) => `${name}=${value}`)
                .join(','),
              'utf8',
            ),
          );
          break;
      }
    });
    return Buffer.concat(parts);
  };
}

/** A record as one JSON line (`--json`): every field, the value as produced, headers as an object. */
export function recordJson(record: PrintableRecord): string {
  const value =
    record.value instanceof Uint8Array ? Buffer.from(record.value).toString('base64') : record.value;
  return JSON.stringify({
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    timestamp: record.timestamp,
    key: record.key,
    value: value ?? null,
    ...(record.format !== undefined ? { format: record.format } : {}),
    headers: Object.fromEntries(headerEntries(record.headers)),
  });
}

/** Where a command writes, and whether a person is watching (a TTY gets tables with borders and colour-free bars). */
export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  isTTY: boolean;
}

export type Cell = string | number | boolean | null | undefined;

/**
 * A table for people: with borders on a TTY, plain aligned columns otherwise (easy to grep and cut).
 * Scripts should use `--json`.
 */
export function renderTable(
  head: readonly string[],
  rows: readonly (readonly Cell[])[],
  tty: boolean,
): string {
  const table = new Table({
    head: [...head],
    style: { head: [], border: [], compact: !tty, 'padding-left': tty ? 1 : 0, 'padding-right': tty ? 1 : 2 },
    ...(tty
      ? {}
      : {
          chars: {
            top: '',
            'top-mid': '',
            'top-left': '',
            'top-right': '',
            bottom: '',
            'bottom-mid': '',
            'bottom-left': '',
            'bottom-right': '',
            left: '',
            'left-mid': '',
            mid: '',
            'mid-mid': '',
            right: '',
            'right-mid': '',
            middle: '',
          },
        }),
  });
  for (const row of rows)
    table.push(row.map((cell) => (cell === null || cell === undefined ? '-' : String(cell))));
  // Without borders cli-table3 still pads the last column; trailing spaces only get in the way of a grep.
  return `${table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')}\n`;
}

/** Prints `value` as one JSON document on stdout (`--json`). */
export function printJson(io: Io, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Prints a table on stdout (see renderTable). */
export function printTable(io: Io, head: readonly string[], rows: readonly (readonly Cell[])[]): void {
  io.stdout.write(renderTable(head, rows, io.isTTY));
}

/** A time in epoch ms as an ISO 8601 string, for tables (`-` for none). */
export function isoTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : new Date(ms).toISOString();
}

/** A byte count for people: 1.5 MiB. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}
