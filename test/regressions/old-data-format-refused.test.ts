import { DeleteItemCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { DATA_FORMAT_VERSION, DataFormatError, ensureTables } from '../../lib/metadata/dynamodb-schema.js';
import { makeDynamoClient, uniquePrefix } from '../support/env.js';

// Issue 14: the commit chain replaced the per-partition index items. Tables written before (data format 1:
// topics, and no format item) would read as empty topics and take new offsets from 0 over the old ones,
// so Sluice refuses them at start with a message that says what to do, and changes nothing.
describe('tables written by the Sluice before the commit chain', () => {
  it('are refused when another data format is recorded', async () => {
    const client = makeDynamoClient();
    const prefix = uniquePrefix('format');
    const tables = await ensureTables(client, prefix);
    await client.send(
      new PutItemCommand({
        TableName: tables.metadata,
        Item: { pk: { S: 'format' }, sk: { S: 'format' }, version: { N: '1' } },
      }),
    );
    await expect(ensureTables(client, prefix)).rejects.toThrow(/data format 1; this version reads format 2/);
  });

  it('refuses tables whose topics have per-partition index items and no chain, naming the way out', async () => {
    const client = makeDynamoClient();
    const prefix = uniquePrefix('format1');
    const tables = await ensureTables(client, prefix);
    await client.send(
      new DeleteItemCommand({
        TableName: tables.metadata,
        Key: { pk: { S: 'format' }, sk: { S: 'format' } },
      }),
    );
    await client.send(
      new PutItemCommand({
        TableName: tables.metadata,
        Item: { pk: { S: 'topic' }, sk: { S: 'orders' }, topicId: { S: 'x' }, partitions: { N: '1' } },
      }),
    );
    // A topic without records is no evidence: nothing of it could be misread.
    await expect(ensureTables(client, prefix)).resolves.toEqual(tables);
    await client.send(
      new DeleteItemCommand({
        TableName: tables.metadata,
        Key: { pk: { S: 'format' }, sk: { S: 'format' } },
      }),
    );
    // What format 1 wrote for a record: an index item of the partition, and no commit chain.
    await client.send(
      new PutItemCommand({
        TableName: tables.index,
        Item: {
          pk: { S: 'x/0' },
          sk: { N: '0' },
          lastOffset: { N: '0' },
          objectKey: { S: 'segments/a.seg' },
        },
      }),
    );
    const error = await ensureTables(client, prefix).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataFormatError);
    expect(String((error as Error).message)).toMatch(/earlier Sluice \(data format 1/);
    expect(String((error as Error).message)).toMatch(/rename the \.sluice directory/);
    // Nothing was changed: still no format item.
    const format = await client.send(
      new GetItemCommand({ TableName: tables.metadata, Key: { pk: { S: 'format' }, sk: { S: 'format' } } }),
    );
    expect(format.Item).toBeUndefined();
  });

  it('marks fresh tables with this version, and accepts them on the next start', async () => {
    const client = makeDynamoClient();
    const prefix = uniquePrefix('format2');
    const tables = await ensureTables(client, prefix);
    const format = await client.send(
      new GetItemCommand({ TableName: tables.metadata, Key: { pk: { S: 'format' }, sk: { S: 'format' } } }),
    );
    expect(format.Item?.version?.N).toBe(String(DATA_FORMAT_VERSION));
    await expect(ensureTables(client, prefix)).resolves.toEqual(tables);
  });
});
