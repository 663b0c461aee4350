import { GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemSize, type WireItem } from '../../bench/units.js';
import { tableNames } from '../../lib/metadata/dynamodb-schema.js';
import { makeDynamoClient } from '../support/env.js';
import { TestMember } from '../support/group-client.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Issue 14: a member's commit costs O(1) writes, ≤ 1 WRU for 4 partitions of a 16-partition topic
 * (`memberCommitWru`). Before, each committed partition was its own conditional UpdateItem of its lease
 * item: 4 partitions, 4 writes, 4 WRU. Now a commit is one UpdateItem of the member's own item
 * (`c/<memberId>/<topicId>`, docs/ARCHITECTURE.md §9.1), which stays far below 1 KB; commit-on-fetch rides
 * on the same one write. Counted on the server's real DynamoDB Local client by a middleware.
 */
const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'TransactWriteItems', 'BatchWriteItem']);

interface Write {
  command: string;
  units: number;
}

type Handler = (args: { input: Record<string, unknown> }) => Promise<{ output?: unknown }>;

const writes: Write[] = [];
let recording = false;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({
    dynamodbMiddleware: (client) => {
      (
        client.middlewareStack as unknown as {
          add(m: (next: Handler, context: { commandName?: string }) => Handler, o: object): void;
        }
      ).add(
        (next, context) => async (args) => {
          const command = String(context.commandName ?? '').replace(/Command$/, '');
          if (!recording || !WRITES.has(command)) return next(args);
          const result = await next({ ...args, input: { ...args.input, ReturnConsumedCapacity: 'TOTAL' } });
          const consumed = (result.output as { ConsumedCapacity?: unknown }).ConsumedCapacity;
          const list = Array.isArray(consumed) ? consumed : consumed ? [consumed] : [];
          const units = list.reduce(
            (sum: number, c: { CapacityUnits?: number }) => sum + (c.CapacityUnits ?? 0),
            0,
          );
          writes.push({ command, units });
          return result;
        },
        { step: 'initialize', name: 'countGroupWrites' },
      );
    },
  });
});
afterAll(async () => {
  await server?.close();
});

async function counted<T>(action: () => Promise<T>): Promise<{ result: T; writes: Write[] }> {
  writes.length = 0;
  recording = true;
  try {
    const result = await action();
    return { result, writes: [...writes] };
  } finally {
    recording = false;
  }
}

/** The member's own commit items, as stored (DynamoDB JSON), sized as DynamoDB bills them. */
async function memberItemSizes(group: string, memberId: string): Promise<number[]> {
  const client = makeDynamoClient();
  try {
    const table = tableNames(server.tablePrefix).metadata;
    const listed = await client.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': { S: `group/${group}` }, ':prefix': { S: `c/${memberId}/` } },
        ConsistentRead: true,
      }),
    );
    const sizes: number[] = [];
    for (const item of listed.Items ?? []) {
      const got = await client.send(
        new GetItemCommand({ TableName: table, Key: { pk: item.pk!, sk: item.sk! }, ConsistentRead: true }),
      );
      sizes.push(itemSize(got.Item as WireItem));
    }
    return sizes;
  } finally {
    client.destroy();
  }
}

describe("a member's commit of 4 partitions of a 16-partition topic", () => {
  it('is one write of at most 1 KB, and so is a commit-on-fetch', async () => {
    const topic = `one-write-${Date.now().toString(36)}`;
    expect((await server.api('POST', '/v1/topics', { body: { name: topic, partitions: 16 } })).status).toBe(
      201,
    );
    const produced = await server.api('POST', `/v1/topics/${topic}/records`, {
      body: { records: Array.from({ length: 64 }, (_, i) => ({ partition: i % 16, value: { i } })) },
    });
    expect(produced.status).toBe(200);
    const group = `one-write-${Date.now().toString(36)}`;
    const members: TestMember[] = [];
    for (let i = 0; i < 4; i++) members.push(await new TestMember(server, group, [topic]).join());
    for (const m of members) await m.refresh();
    const member = members[0] as TestMember;
    expect(member.assignments).toHaveLength(4);

    const first = await member.fetch({ maxRecords: 8 });
    expect(first.status).toBe(200);
    const offsets = TestMember.nextOffsets(first.json.records);
    expect(offsets).toHaveLength(4);

    const explicit = await counted(() => member.commit(offsets));
    expect(explicit.result.status).toBe(204);
    expect(explicit.writes.map((w) => w.command)).toEqual(['UpdateItem']);
    expect(explicit.writes[0]?.units).toBeGreaterThan(0); // DynamoDB Local reports it
    expect(explicit.writes[0]?.units).toBeLessThanOrEqual(1);

    await member.fetch({ maxRecords: 8 });
    const onFetch = await counted(() => member.fetch({ maxRecords: 8, commit: true }));
    expect(onFetch.result.status).toBe(200);
    expect(onFetch.writes.map((w) => w.command)).toEqual(['UpdateItem']);
    expect(onFetch.writes[0]?.units).toBeLessThanOrEqual(1);

    const sizes = await memberItemSizes(group, member.memberId);
    expect(sizes).toHaveLength(1);
    expect(sizes[0]).toBeLessThanOrEqual(1024);

    // And the group reports what the member committed (the first fetch's 2 records per partition, then 4).
    const described = await server.api('GET', `/v1/groups/${group}`);
    const mine = new Set(member.assignments.map((a) => a.partition));
    expect(
      described.json.offsets
        .filter((o: { partition: number }) => mine.has(o.partition))
        .map((o: { committedOffset: number }) => o.committedOffset),
    ).toEqual([4, 4, 4, 4]);
  });
});
