import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type Action, copyPermission, type GroupAction, type Permission } from '../auth/permissions.js';
import type { TableNames } from './dynamodb-schema.js';
import { type ApiKey, KeyExistsError, KeyNotFoundError, type KeyStore } from './key-store.js';

/** API key items live in the metadata table under one partition key; sk is the key id. */
const KEY_PK = 'key';

type Item = Record<string, unknown>;

/**
 * KeyStore on DynamoDB (items of `<prefix>metadata`, layout in dynamodb-schema.ts and docs/ARCHITECTURE.md).
 * Condition failures become typed errors (KeyExistsError, KeyNotFoundError) or are expected outcomes
 * (touchKey on a newer or deleted key); no SDK exception for them leaves this file.
 */
export class DynamoDbKeyStore implements KeyStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tables: TableNames,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async createKey(key: ApiKey): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tables.metadata,
          Item: keyToItem(key),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new KeyExistsError(key.id);
      throw error;
    }
  }

  async getKey(id: string): Promise<ApiKey | undefined> {
    const result = await this.doc.send(
      new GetCommand({ TableName: this.tables.metadata, Key: { pk: KEY_PK, sk: id }, ConsistentRead: true }),
    );
    return result.Item ? itemToKey(result.Item) : undefined;
  }

  async listKeys(): Promise<ApiKey[]> {
    const keys: ApiKey[] = [];
    const pages = paginateQuery(
      { client: this.doc },
      {
        TableName: this.tables.metadata,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': KEY_PK },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) keys.push(itemToKey(item));
    }
    return keys;
  }

  async deleteKey(id: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tables.metadata,
          Key: { pk: KEY_PK, sk: id },
          ConditionExpression: 'attribute_exists(pk)',
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new KeyNotFoundError(id);
      throw error;
    }
  }

  async touchKey(id: string, at: number): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tables.metadata,
          Key: { pk: KEY_PK, sk: id },
          UpdateExpression: 'SET lastUsedAt = :at',
          // Never re-create a revoked key's item, never move lastUsedAt backwards.
          ConditionExpression:
            'attribute_exists(pk) AND (attribute_not_exists(lastUsedAt) OR lastUsedAt < :at)',
          ExpressionAttributeValues: { ':at': at },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return;
      throw error;
    }
  }
}

function keyToItem(key: ApiKey): Item {
  return {
    pk: KEY_PK,
    sk: key.id,
    name: key.name,
    permissions: key.permissions.map(copyPermission),
    secretHash: key.secretHash,
    createdAt: key.createdAt,
    ...(key.expiresAt !== null ? { expiresAt: key.expiresAt } : {}),
    ...(key.lastUsedAt !== null ? { lastUsedAt: key.lastUsedAt } : {}),
  };
}

function itemToKey(item: Item): ApiKey {
  const permissions = (item.permissions ?? []) as Array<{
    topics?: unknown;
    groups?: unknown;
    actions?: unknown;
  }>;
  return {
    id: String(item.sk),
    name: String(item.name),
    // Keys stored before group permissions existed hold `{ topics, actions }` only: no group rights.
    permissions: permissions.map(
      (p): Permission =>
        typeof p.groups === 'string'
          ? { groups: p.groups, actions: (p.actions ?? []) as GroupAction[] }
          : { topics: String(p.topics), actions: (p.actions ?? []) as Action[] },
    ),
    secretHash: String(item.secretHash),
    createdAt: Number(item.createdAt),
    expiresAt: item.expiresAt === undefined ? null : Number(item.expiresAt),
    lastUsedAt: item.lastUsedAt === undefined ? null : Number(item.lastUsedAt),
  };
}
