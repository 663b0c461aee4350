import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  DynamoDBServiceException,
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
 * - `<prefix>index` (pk S, sk N): the offset index, one item per committed batch,
 *   `pk = "<topicId>/<partition>"`, `sk = baseOffset`.
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
