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
 *   even when nothing is found; strongly consistent reads as is, eventually consistent ones half.
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
 * Write units of one write request from its input. For updates and deletes the stored item is not known from
 * the request: they count as 1 unit each (Sluice's produce path only puts).
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
    default:
      return 0;
  }
}
