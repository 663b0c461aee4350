/**
 * What a DynamoDB request of Sluice's was for, from its wire input and the item layout of
 * lib/metadata/dynamodb-schema.ts and lib/groups/dynamodb-group-store.ts. The bench counts requests and units
 * under these labels as well as per operation, so a phase's bill can be split by purpose ("where do the
 * units of a consumer group go"). The labels follow the code's request shapes; an unknown shape is "other".
 */

interface WireKey {
  pk?: { S?: string };
  sk?: { S?: string; N?: string };
}

interface WireInput {
  TableName?: string;
  Key?: WireKey;
  Item?: WireKey;
  UpdateExpression?: string;
  KeyConditionExpression?: string;
  ScanIndexForward?: boolean;
  Limit?: number;
  ExpressionAttributeValues?: Record<string, { S?: string }>;
}

const isIndexTable = (table: string | undefined) => table?.endsWith('index') === true;

function groupItemPurpose(sk: string, update: string): string {
  if (sk === 'state') {
    if (update === '') return 'group state';
    // heartbeat(): the session's expiry, computed by DynamoDB from the stored timeout.
    if (update.includes('#expiresAt = #members.#m.#timeout')) return 'session extension';
    return 'generation write';
  }
  if (sk.startsWith('p/')) {
    if (update === '') return 'partition state';
    return update.includes('committedOffset') ? 'offset commit' : 'lease claim';
  }
  return 'group item';
}

export function sluicePurpose(operation: string, rawInput: Record<string, unknown>): string {
  const input = rawInput as WireInput;
  const label = (purpose: string) => `${operation}: ${purpose}`;
  switch (operation) {
    case 'GetItem':
    case 'UpdateItem':
    case 'PutItem':
    case 'DeleteItem': {
      const key = input.Key ?? input.Item ?? {};
      const pk = key.pk?.S ?? '';
      const sk = key.sk?.S ?? key.sk?.N ?? '';
      if (isIndexTable(input.TableName)) return label('index entry');
      if (pk === 'topic') return label('topic');
      if (pk === 'group') return label('group registry');
      if (pk.startsWith('group/')) {
        if (operation === 'PutItem' && sk === 'state') return label('group create (first join)');
        return label(groupItemPurpose(sk, input.UpdateExpression ?? ''));
      }
      if (pk.startsWith('idempotency/')) return label('idempotency record');
      if (pk === 'maintenance') return label('maintenance cursor');
      if (pk === 'gc-candidate') return label('GC candidate');
      if (pk === 'key') return label('API key');
      return label('other');
    }
    case 'Query': {
      const condition = input.KeyConditionExpression ?? '';
      if (isIndexTable(input.TableName)) {
        if (input.ScanIndexForward === false && input.Limit === 1 && !condition.includes('sk')) {
          return label('high watermark (index tail)');
        }
        if (condition.includes('sk <=')) return label('index entry at or before an offset');
        return label('index entries (what to read)');
      }
      const pk = input.ExpressionAttributeValues?.[':pk']?.S ?? '';
      if (pk.startsWith('group/')) return label('committed offsets (all partitions)');
      if (pk === 'group') return label('group registry');
      if (pk === 'topic') return label('topic list');
      return label('other');
    }
    case 'TransactWriteItems':
      if (!isIndexTable(firstTable(rawInput))) return label('transaction');
      // The compactor's swap puts each entry on the condition that it still points at the old bytes.
      return label(
        firstCondition(rawInput)?.startsWith('objectKey = ') ? 'compaction swap' : 'produce commit',
      );
    default:
      return label('-');
  }
}

function firstTable(input: Record<string, unknown>): string | undefined {
  const items = input.TransactItems as Array<Record<string, { TableName?: string }>> | undefined;
  const first = items?.[0];
  if (!first) return undefined;
  return Object.values(first)[0]?.TableName;
}

function firstCondition(input: Record<string, unknown>): string | undefined {
  const items = input.TransactItems as Array<Record<string, { ConditionExpression?: string }>> | undefined;
  const first = items?.[0];
  if (!first) return undefined;
  return Object.values(first)[0]?.ConditionExpression;
}
