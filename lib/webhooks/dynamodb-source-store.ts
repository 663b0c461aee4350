import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { TableNames } from '../metadata/dynamodb-schema.js';
import {
  EMPTY_COUNTERS,
  type WebhookCounters,
  WebhookNotFoundError,
  type WebhookSource,
  type WebhookSourceStore,
} from './source-store.js';

const WEBHOOK_PK = 'webhook';

/**
 * Webhook sources on the metadata table: `pk = "webhook"`, `sk = <source>`, the configuration (secrets
 * sealed) and `counters` (a map: accepted, duplicate, `rejected_<reason>`), counted with atomic ADDs.
 */
export class DynamoDbWebhookSourceStore implements WebhookSourceStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;

  constructor(client: DynamoDBClient, tables: TableNames) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.table = tables.metadata;
  }

  async put(source: WebhookSource): Promise<void> {
    const { source: name, createdAt, ...config } = source;
    const names: Record<string, string> = { '#counters': 'counters', '#createdAt': 'createdAt' };
    const values: Record<string, unknown> = { ':empty': {}, ':createdAt': createdAt };
    const sets = [
      '#counters = if_not_exists(#counters, :empty)',
      '#createdAt = if_not_exists(#createdAt, :createdAt)',
    ];
    const removes: string[] = [];
    for (const [field, value] of Object.entries(config)) {
      names[`#${field}`] = field;
      if (value === undefined) removes.push(`#${field}`);
      else {
        values[`:${field}`] = value;
        sets.push(`#${field} = :${field}`);
      }
    }
    for (const optional of ['header', 'key'] as const) {
      if (!(optional in config) || config[optional] === undefined) {
        names[`#${optional}`] = optional;
        if (!removes.includes(`#${optional}`)) removes.push(`#${optional}`);
      }
    }
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: WEBHOOK_PK, sk: name },
        UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  async get(source: string): Promise<(WebhookSource & { counters: WebhookCounters }) | undefined> {
    const result = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: WEBHOOK_PK, sk: source }, ConsistentRead: true }),
    );
    return result.Item ? fromItem(result.Item) : undefined;
  }

  async list(): Promise<Array<WebhookSource & { counters: WebhookCounters }>> {
    const sources: Array<WebhookSource & { counters: WebhookCounters }> = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': WEBHOOK_PK },
          ConsistentRead: true,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      for (const item of page.Items ?? []) sources.push(fromItem(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return sources;
  }

  async delete(source: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { pk: WEBHOOK_PK, sk: source },
          ConditionExpression: 'attribute_exists(pk)',
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new WebhookNotFoundError(source);
      throw error;
    }
  }

  async count(source: string, counter: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: WEBHOOK_PK, sk: source },
          UpdateExpression: 'ADD #counters.#c :one',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#counters': 'counters', '#c': counter.replace('.', '_') },
          ExpressionAttributeValues: { ':one': 1 },
        }),
      );
    } catch (error) {
      // The source was deleted meanwhile: nothing to count.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}

/** A source item as the store returns it. */
function fromItem(item: Record<string, unknown>): WebhookSource & { counters: WebhookCounters } {
  const stored = (item.counters ?? {}) as Record<string, number>;
  const counters: WebhookCounters = structuredClone(EMPTY_COUNTERS);
  for (const [name, n] of Object.entries(stored)) {
    if (name === 'accepted') counters.accepted = Number(n);
    else if (name === 'duplicate') counters.duplicate = Number(n);
    else if (name.startsWith('rejected_')) counters.rejected[name.slice('rejected_'.length)] = Number(n);
  }
  return {
    source: String(item.sk),
    topic: String(item.topic),
    scheme: item.scheme as WebhookSource['scheme'],
    sealedSecrets: ((item.sealedSecrets ?? []) as string[]).map(String),
    ...(item.header !== undefined ? { header: String(item.header) } : {}),
    toleranceSec: Number(item.toleranceSec),
    ...(item.key !== undefined ? { key: String(item.key) } : {}),
    passHeaders: ((item.passHeaders ?? []) as string[]).map(String),
    dedupeWindowMs: Number(item.dedupeWindowMs),
    createdAt: Number(item.createdAt),
    updatedAt: Number(item.updatedAt),
    counters,
  };
}
