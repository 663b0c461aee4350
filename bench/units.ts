/**
 * DynamoDB capacity units as AWS bills them, computed from the wire form (DynamoDB JSON) of requests and
 * responses. DynamoDB Local does return ConsumedCapacity, but its TransactWriteItems figure is not AWS's
 * (it reported 4 units for a transaction of 16 small items, where AWS bills 2 per item: 32), so the bench
 * computes units itself and shows DynamoDB Local's figure only for comparison.
 *
 * Rules (DynamoDB developer guide, "Read and write operations" and "Item sizes"):
 * - item size = Σ (UTF-8 bytes of the attribute name + size of the value); strings: UTF-8 bytes; numbers:
 *   1 byte per two significant digits + 1; binary: bytes; booleans and null: 1; lists and maps: 3 bytes +
 *   their elements + 1 byte per element (map elements include their names).
 * - writes: ceil(itemSize / 1 KB) per item written (at least 1); ×2 inside TransactWriteItems. A failed
 *   condition still consumes the units.
 * - reads: GetItem ceil(itemSize / 4 KB); Query and Scan ceil(Σ sizes of the items read / 4 KB); at least 1
 *   even when nothing is found; BatchGetItem ceil(itemSize / 4 KB) per key asked for (each rounded on its
 *   own); strongly consistent reads as is, eventually consistent ones half.
 * - UpdateItem, PutItem over an existing item and DeleteItem are billed by the larger of the item before
 *   and after the write, which the request alone does not tell: `ItemImages` keeps the last image of every
 *   item the client saw (read, written, or returned by `ReturnValues`) to size them.
 */

export type WireValue = {
  S?: string;
  N?: string;
  B?: string;
  BOOL?: boolean;
  NULL?: boolean;
  SS?: string[];
  NS?: string[];
  BS?: string[];
  L?: WireValue[];
  M?: WireItem;
};
export type WireItem = Record<string, WireValue>;

export function numberSize(text: string): number {
  let digits = text
    .replace(/^[+-]/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '');
  digits = digits.replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

export function valueSize(value: WireValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S, 'utf8');
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return Buffer.from(value.B, 'base64').length;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS) return value.SS.reduce((sum, s) => sum + Buffer.byteLength(s, 'utf8'), 0);
  if (value.NS) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if (value.BS) return value.BS.reduce((sum, b) => sum + Buffer.from(b, 'base64').length, 0);
  if (value.L) return 3 + value.L.reduce((sum, v) => sum + 1 + valueSize(v), 0);
  if (value.M)
    return (
      3 + Object.entries(value.M).reduce((sum, [k, v]) => sum + 1 + Buffer.byteLength(k) + valueSize(v), 0)
    );
  return 0;
}

export function itemSize(item: WireItem): number {
  let size = 0;
  for (const [name, value] of Object.entries(item))
    size += Buffer.byteLength(name, 'utf8') + valueSize(value);
  return size;
}

const writeUnits = (item: WireItem | undefined): number =>
  Math.max(1, Math.ceil(itemSize(item ?? {}) / 1024));

interface TransactWriteInput {
  TransactItems?: Array<{
    Put?: { Item?: WireItem };
    Update?: { Key?: WireItem };
    Delete?: { Key?: WireItem };
    ConditionCheck?: { Key?: WireItem };
  }>;
}

/**
 * Write units of one write request from its input alone. For updates and deletes the stored item is not known
 * from the request: they count as 1 unit each here (also inside transactions). The counter sizes single
 * PutItem, UpdateItem and DeleteItem requests with `ItemImages` instead.
 */
export function writeUnitsOf(operation: string, input: unknown): number {
  const body = input as Record<string, unknown>;
  switch (operation) {
    case 'PutItem':
      return writeUnits(body.Item as WireItem | undefined);
    case 'UpdateItem':
    case 'DeleteItem':
      return 1;
    case 'BatchWriteItem': {
      const requests = body.RequestItems as
        | Record<string, Array<{ PutRequest?: { Item: WireItem } }>>
        | undefined;
      let units = 0;
      for (const list of Object.values(requests ?? {})) {
        for (const r of list) units += r.PutRequest ? writeUnits(r.PutRequest.Item) : 1;
      }
      return units;
    }
    case 'TransactWriteItems': {
      let units = 0;
      for (const entry of (body as TransactWriteInput).TransactItems ?? []) {
        units += 2 * (entry.Put ? writeUnits(entry.Put.Item) : 1);
      }
      return units;
    }
    default:
      return 0;
  }
}

export const WRITE_OPERATIONS = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'TransactWriteItems',
]);
export const READ_OPERATIONS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems']);

/** Read units of one read request from its input and its (successful) output. */
export function readUnitsOf(operation: string, input: unknown, output: unknown): number {
  const request = input as { ConsistentRead?: boolean };
  const factor = request.ConsistentRead === true ? 1 : 0.5;
  const response = (output ?? {}) as { Item?: WireItem; Items?: WireItem[] };
  switch (operation) {
    case 'GetItem':
      return factor * Math.max(1, Math.ceil(itemSize(response.Item ?? {}) / 4096));
    case 'Query':
    case 'Scan': {
      const bytes = (response.Items ?? []).reduce((sum, item) => sum + itemSize(item), 0);
      return factor * Math.max(1, Math.ceil(bytes / 4096));
    }
    case 'BatchGetItem':
      return batchGetReadUnits(input, output);
    default:
      return 0;
  }
}

interface BatchGetInput {
  RequestItems?: Record<string, { Keys?: WireItem[]; ConsistentRead?: boolean }>;
}

interface BatchGetOutput {
  Responses?: Record<string, WireItem[]>;
  UnprocessedKeys?: Record<string, { Keys?: WireItem[] }>;
}

/** Per table: every key asked for and processed costs ceil(size / 4 KB) of its item, at least 1. */
function batchGetReadUnits(input: unknown, output: unknown): number {
  const request = input as BatchGetInput;
  const response = (output ?? {}) as BatchGetOutput;
  let units = 0;
  for (const [table, ask] of Object.entries(request.RequestItems ?? {})) {
    const factor = ask.ConsistentRead === true ? 1 : 0.5;
    const found = response.Responses?.[table] ?? [];
    const processed = (ask.Keys?.length ?? 0) - (response.UnprocessedKeys?.[table]?.Keys?.length ?? 0);
    for (const item of found) units += factor * Math.max(1, Math.ceil(itemSize(item) / 4096));
    units += factor * Math.max(0, processed - found.length);
  }
  return units;
}

// ---- item images: sizes for updates and deletes ------------------------------------------------------------

/** Sluice's tables (lib/metadata/dynamodb-schema.ts) are all keyed by `pk` and `sk`. */
const KEY_ATTRIBUTES = ['pk', 'sk'] as const;

interface WriteRequest {
  TableName?: string;
  Key?: WireItem;
  Item?: WireItem;
  UpdateExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: WireItem;
  ReturnValues?: string;
}

export interface WriteUnits {
  units: number;
  /** True when neither the item before nor the item after the write was known (counted as ≤ 1 KB). */
  estimated: boolean;
}

/**
 * The last image of every item a client saw, by table and key, so that writes whose billing depends on the
 * stored item (UpdateItem, DeleteItem, PutItem over an item) can be sized as AWS sizes them: by the larger
 * of the item before and after the write.
 *
 * Images come from GetItem/BatchGetItem/Query responses, PutItem requests, `ReturnValues` of updates
 * (`ALL_NEW`), the old item returned on a failed condition (`ReturnValuesOnConditionCheckFailure`), and
 * for an update that returns nothing, the image before with the update's top-level `SET name = :value` and
 * `REMOVE name` clauses applied (a clause of another shape keeps the attribute's old value: the size of a
 * number barely changes).
 */
export class ItemImages {
  private readonly images = new Map<string, WireItem>();

  private keyOf(table: string | undefined, item: WireItem | undefined): string | undefined {
    if (!table || !item) return undefined;
    const parts: string[] = [table];
    for (const name of KEY_ATTRIBUTES) {
      const value = item[name];
      if (value === undefined) return undefined;
      parts.push(value.S ?? value.N ?? value.B ?? '');
    }
    return parts.join('\u0000');
  }

  get size(): number {
    return this.images.size;
  }

  /** Remembers the items a successful read returned. */
  observeRead(operation: string, input: unknown, output: unknown): void {
    const request = input as { TableName?: string };
    const response = (output ?? {}) as { Item?: WireItem; Items?: WireItem[] } & BatchGetOutput;
    if (operation === 'GetItem' && response.Item) this.remember(request.TableName, response.Item);
    if (operation === 'Query' || operation === 'Scan') {
      for (const item of response.Items ?? []) this.remember(request.TableName, item);
    }
    if (operation === 'BatchGetItem') {
      for (const [table, items] of Object.entries(response.Responses ?? {})) {
        for (const item of items) this.remember(table, item);
      }
    }
  }

  /**
   * Write units of a PutItem, UpdateItem or DeleteItem from the images before and after it, and remembers
   * the image after. `failed`: its condition failed (billed by the item as it is; nothing changes).
   */
  write(operation: string, input: unknown, output: unknown, failed: boolean): WriteUnits {
    const request = input as WriteRequest;
    const response = (output ?? {}) as { Attributes?: WireItem; Item?: WireItem };
    const key = this.keyOf(request.TableName, operation === 'PutItem' ? request.Item : request.Key);
    // A failed condition with ReturnValuesOnConditionCheckFailure ALL_OLD hands back the item as it is.
    if (failed && response.Item && key) this.images.set(key, response.Item);
    const before = key ? this.images.get(key) : undefined;
    if (failed) {
      // Billed by the item as it is; without an image, a failed put is sized by what it tried to write.
      if (before) return { units: Math.max(1, Math.ceil(itemSize(before) / 1024)), estimated: false };
      if (operation === 'PutItem') return { units: writeUnits(request.Item), estimated: false };
      return { units: 1, estimated: true };
    }
    const returnedNew =
      operation === 'UpdateItem' && request.ReturnValues === 'ALL_NEW' && response.Attributes;
    let after: WireItem | undefined;
    if (operation === 'PutItem') after = request.Item;
    else if (operation === 'UpdateItem') {
      after = returnedNew ? response.Attributes : applyUpdate(before ?? { ...(request.Key ?? {}) }, request);
    }
    if (key) {
      if (operation === 'DeleteItem') this.images.delete(key);
      else if (after) this.images.set(key, after);
    }
    const size = Math.max(before ? itemSize(before) : 0, after ? itemSize(after) : 0);
    return {
      units: Math.max(1, Math.ceil(size / 1024)),
      estimated: before === undefined && operation !== 'PutItem' && !returnedNew,
    };
  }

  private remember(table: string | undefined, item: WireItem): void {
    const key = this.keyOf(table, item);
    if (key) this.images.set(key, item);
  }
}

/** The item after an update's top-level `SET name = :value` and `REMOVE name` clauses (others: unchanged). */
function applyUpdate(before: WireItem, request: WriteRequest): WireItem {
  const after: WireItem = { ...before };
  const names = request.ExpressionAttributeNames ?? {};
  const values = request.ExpressionAttributeValues ?? {};
  const nameOf = (token: string): string | undefined => {
    const t = token.trim();
    if (t.includes('.') || t.includes('[')) return undefined;
    return t.startsWith('#') ? names[t] : t;
  };
  const expression = request.UpdateExpression ?? '';
  // Clauses: SET …, REMOVE …, ADD …, DELETE … (keywords are case-insensitive).
  const clauses = expression.split(/\b(SET|REMOVE|ADD|DELETE)\b/i);
  for (let i = 1; i < clauses.length; i += 2) {
    const keyword = (clauses[i] ?? '').toUpperCase();
    const body = clauses[i + 1] ?? '';
    for (const action of body.split(',')) {
      if (keyword === 'SET') {
        const [left, right] = action.split('=');
        const name = left === undefined ? undefined : nameOf(left);
        const value = right?.trim();
        if (name && value && /^:[A-Za-z0-9_]+$/.test(value) && values[value]) after[name] = values[value];
      } else if (keyword === 'REMOVE') {
        const name = nameOf(action);
        if (name) delete after[name];
      }
    }
  }
  return after;
}
