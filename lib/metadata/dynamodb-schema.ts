import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  DynamoDBServiceException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';

/**
 * Sluice's DynamoDB tables. The CDK stack (infra/) declares the same key schemas; keep them in step.
 *
 * - `<prefix>metadata` (pk S, sk S): topics (`pk = "topic"`, `sk = name`) and deleted topic incarnations
 *   awaiting cleanup (`pk = "deleted-topic"`, `sk = topicId`), idempotency records
 *   (`pk = "idempotency/<scope length>/<scope>/<key>"`, `sk = "idempotency"`, TTL attribute `ttl`), and API
 *   keys (`pk = "key"`, `sk = key id`: name, permissions, secretHash, createdAt, expiresAt?, lastUsedAt?;
 *   see dynamodb-key-store.ts).
 * - `<prefix>index` (pk S, sk N): the commit chains (`pk = "c#<topicId>"`, `sk = seq`, and the index mark
 *   at `sk = 2^53 - 1`) and the indexed tier, one item per indexed batch, `pk = "<topicId>/<partition>"`,
 *   `sk = baseOffset` (docs/ARCHITECTURE.md §3).
 * - The data format (`pk = sk = "format"` in `<prefix>metadata`, `version`): see checkDataFormat.
 */
/** Items with this attribute (epoch seconds) are removed by DynamoDB some time after it passes. */
export const TTL_ATTRIBUTE = 'ttl';

export interface TableNames {
  metadata: string;
  index: string;
}

export function tableNames(prefix: string): TableNames {
  return { metadata: `${prefix}metadata`, index: `${prefix}index` };
}

export function tableDefinitions(prefix: string): CreateTableCommandInput[] {
  const names = tableNames(prefix);
  return [
    {
      TableName: names.metadata,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    },
    {
      TableName: names.index,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'N' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    },
  ];
}

/**
 * Creates the tables when missing and turns TTL on (local runs and tests; in AWS the CDK stack owns them).
 * Safe to race: several servers starting at once on fresh tables all succeed. A table another caller created
 * first (ResourceInUse) is waited for until ACTIVE; TTL that another caller turned on between our describe and
 * our update (ValidationException "TimeToLive is already enabled", or one still being enabled) counts as done.
 */
export async function ensureTables(client: DynamoDBClient, prefix: string): Promise<TableNames> {
  for (const definition of tableDefinitions(prefix)) {
    try {
      await client.send(new CreateTableCommand(definition));
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
    }
    await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1 }, { TableName: definition.TableName });
  }
  const { metadata } = tableNames(prefix);
  await checkDataFormat(client, tableNames(prefix));
  if (await ttlIsOn(client, metadata)) return tableNames(prefix);
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: metadata,
        TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
      }),
    );
  } catch (error) {
    // Lost a race with another server's update: fine once TTL is on (or on its way).
    if (!(error instanceof DynamoDBServiceException && error.name === 'ValidationException')) throw error;
    if (!(await ttlIsOn(client, metadata))) throw error;
  }
  return tableNames(prefix);
}

async function ttlIsOn(client: DynamoDBClient, table: string): Promise<boolean> {
  const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: table }));
  const status = ttl.TimeToLiveDescription?.TimeToLiveStatus;
  return status === 'ENABLED' || status === 'ENABLING';
}

/**
 * The layout of the data in the tables. 2: commit chains (one record per flush per topic) and the indexed
 * tier. 1 (no format item): one index item per partition per flush, which this version cannot read.
 */
export const DATA_FORMAT_VERSION = 2;

/** Tables holding data this version cannot read: what happened, and what to do. */
export class DataFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataFormatError';
  }
}

/**
 * Refuses tables written in another data format, and marks the others with this version's. Tables with no
 * format item that hold a topic with per-partition index items and no commit chain were written by a
 * Sluice before the commit chain (format 1): their offsets live in items this version never reads, so
 * serving them would show those topics empty and assign offsets again from 0. Nothing is migrated: the
 * error says what to do.
 */
/**
 * Evidence of format 1: a topic (among the first 25) whose partitions 0–3 have index items but whose
 * commit chain has no record. In format 2 every topic that ever had a record keeps its chain's newest
 * record, so its chain is never empty.
 */
async function holdsFormat1Data(client: DynamoDBClient, tables: TableNames): Promise<boolean> {
  const topics = await client.send(
    new QueryCommand({
      TableName: tables.metadata,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: 'topic' } },
      Limit: 25,
      ConsistentRead: true,
    }),
  );
  const any = async (pk: string) =>
    (
      (
        await client.send(
          new QueryCommand({
            TableName: tables.index,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': { S: pk } },
            Limit: 1,
            ConsistentRead: true,
          }),
        )
      ).Items ?? []
    ).length > 0;
  for (const item of topics.Items ?? []) {
    const topicId = item.topicId?.S;
    if (topicId === undefined || (await any(`c#${topicId}`))) continue;
    const partitions = Math.min(4, Number(item.partitions?.N ?? 1));
    for (let p = 0; p < partitions; p++) if (await any(`${topicId}/${p}`)) return true;
  }
  return false;
}

export async function checkDataFormat(client: DynamoDBClient, tables: TableNames): Promise<void> {
  const key = { pk: { S: 'format' }, sk: { S: 'format' } };
  const stored = await client.send(
    new GetItemCommand({ TableName: tables.metadata, Key: key, ConsistentRead: true }),
  );
  const version = stored.Item?.version?.N;
  if (version !== undefined) {
    if (Number(version) === DATA_FORMAT_VERSION) return;
    throw new DataFormatError(
      `the tables ${tables.metadata} and ${tables.index} hold Sluice data format ${version}; this version reads ` +
        `format ${DATA_FORMAT_VERSION} only. Run the Sluice version that wrote them, or use fresh tables.`,
    );
  }
  if (await holdsFormat1Data(client, tables)) {
    throw new DataFormatError(
      `the tables ${tables.metadata} and ${tables.index} were written by an earlier Sluice (data format 1: ` +
        `one index item per partition per flush), which this version cannot read. Nothing was changed. ` +
        `To start fresh, move the old data aside (embedded: stop Sluice and rename the .sluice directory; ` +
        `elsewhere: use another SLUICE_TABLE_PREFIX and bucket); to read it, run the earlier version.`,
    );
  }
  try {
    await client.send(
      new PutItemCommand({
        TableName: tables.metadata,
        Item: { ...key, version: { N: String(DATA_FORMAT_VERSION) } },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  } catch (error) {
    // Another server marked the tables first: check what it wrote.
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    await checkDataFormat(client, tables);
  }
}
