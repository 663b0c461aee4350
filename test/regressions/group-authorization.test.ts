import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../lib/auth/tokens.js';
import { tableNames } from '../../lib/metadata/dynamodb-schema.js';
import { makeDynamoClient } from '../support/env.js';
import { TestMember } from '../support/group-client.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Consumer groups are resources of their own (SPEC §2 Auth, as Kafka's group ACLs): a key uses a group only
 * through a `groups` permission, deny by default. Before, any key with `consume` on some topic could join a
 * victim group (fencing its commits), take over a static member id, remove members and fill the group to
 * its member limit.
 */
let server: TestServer;
const run = Date.now().toString(36);
let n = 0;
const unique = (prefix: string) => `${prefix}-${run}-${n++}`;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

async function mint(...permissions: unknown[]): Promise<string> {
  const r = await server.api('POST', '/v1/keys', { body: { name: unique('key'), permissions } });
  expect(r.status, r.text).toBe(201);
  return r.json.token;
}

async function newTopic(): Promise<string> {
  const name = unique('orders');
  expect((await server.api('POST', '/v1/topics', { body: { name, partitions: 2 } })).status).toBe(201);
  return name;
}

async function describeGroup(group: string) {
  const r = await server.api('GET', `/v1/groups/${group}`);
  expect(r.status).toBe(200);
  return r.json as { generation: number; members: Array<{ memberId: string }> };
}

const join = (auth: string, group: string, topics: string[], memberId?: string) =>
  server.api('POST', `/v1/groups/${group}/members`, {
    auth,
    body: { topics, autoOffsetReset: 'earliest', ...(memberId ? { memberId } : {}) },
  });

describe('group permissions', () => {
  it('refuses to let a key with consume on the topic but no group permission join any group', async () => {
    const topic = await newTopic();
    const group = unique('victim');
    const victim = await new TestMember(server, group, [topic]).join();
    const consumer = await mint({ topics: '*', actions: ['consume', 'admin'] });

    const r = await join(consumer, group, [topic]);
    expect([r.status, r.json.code]).toEqual([403, 'FORBIDDEN']);
    expect(r.json.detail).toContain(`group '${group}'`);
    const fresh = await join(consumer, unique('fresh'), [topic]);
    expect([fresh.status, fresh.json.code]).toEqual([403, 'FORBIDDEN']);

    const state = await describeGroup(group);
    expect(state.generation).toBe(victim.generation);
    expect(state.members.map((m) => m.memberId)).toEqual([victim.memberId]);
  });

  it('admits a key to the groups its pattern matches and to no other', async () => {
    const topic = await newTopic();
    const billing = await mint(
      { topics: topic, actions: ['consume'] },
      { groups: 'billing-*', actions: ['consume'] },
    );
    const own = await join(billing, unique('billing'), [topic]);
    expect(own.status, own.text).toBe(200);
    expect(own.json.assignments).toHaveLength(2);

    const other = await join(billing, unique('victim'), [topic]);
    expect([other.status, other.json.code]).toEqual([403, 'FORBIDDEN']);
  });

  it('still needs consume on every subscribed topic besides the group', async () => {
    const topic = await newTopic();
    const groupOnly = await mint({ groups: 'billing-*', actions: ['consume'] });
    const r = await join(groupOnly, unique('billing'), [topic]);
    expect([r.status, r.json.code]).toEqual([403, 'FORBIDDEN']);
    expect(r.json.detail).toContain(`topic '${topic}'`);
  });

  it('keeps a key out of the members of a group it may not use: no takeover, heartbeat, fetch, commit or removal', async () => {
    const topic = await newTopic();
    const group = unique('victim');
    const victim = new TestMember(server, group, [topic]);
    victim.memberId = 'worker-1'; // a static member id, as a restarted consumer re-joins with
    await victim.join();
    const attacker = await mint(
      { topics: '*', actions: ['consume', 'admin'] },
      { groups: 'billing-*', actions: ['consume', 'admin'] },
    );
    const base = `/v1/groups/${group}/members/${victim.memberId}`;
    const attempts = [
      await join(attacker, group, [topic], victim.memberId),
      await server.api('POST', `${base}/heartbeat`, { auth: attacker }),
      await server.api('GET', `${base}/records`, { auth: attacker }),
      await server.api('POST', `/v1/groups/${group}/commits`, {
        auth: attacker,
        body: {
          memberId: victim.memberId,
          generation: victim.generation,
          offsets: [{ topic, partition: 0, offset: 0 }],
        },
      }),
      await server.api('DELETE', base, { auth: attacker }),
      await server.api('POST', `/v1/groups/${group}/offsets/reset`, {
        auth: attacker,
        body: { to: 'latest', topics: [topic] },
      }),
    ];
    for (const r of attempts) expect([r.status, r.json.code]).toEqual([403, 'FORBIDDEN']);

    const state = await describeGroup(group);
    expect(state.generation).toBe(victim.generation);
    expect(state.members.map((m) => m.memberId)).toEqual(['worker-1']);
    const fetched = await victim.fetch();
    expect(fetched.status).toBe(200);
    expect((await victim.commit([{ topic, partition: 0, offset: 0 }])).status).toBe(204);
  });

  it('keeps a key from filling a group it may not use to its member limit', async () => {
    const topic = await newTopic();
    const group = unique('victim');
    const victim = await new TestMember(server, group, [topic]).join();
    const attacker = await mint({ topics: topic, actions: ['consume'] });
    for (let i = 0; i < 5; i++) {
      expect((await join(attacker, group, [topic], `filler-${i}`)).status).toBe(403);
    }
    expect((await describeGroup(group)).members).toHaveLength(1);
    expect((await describeGroup(group)).generation).toBe(victim.generation);
  });

  it('lets consume or admin on the group describe it, and only admin on the group and its topics reset it', async () => {
    const topic = await newTopic();
    const group = unique('billing');
    const member = await new TestMember(server, group, [topic]).join();
    expect((await member.fetch()).status).toBe(200);
    expect((await member.commit([{ topic, partition: 0, offset: 0 }])).status).toBe(204);
    expect((await member.leave()).status).toBe(204);

    const consumer = await mint(
      { topics: topic, actions: ['consume'] },
      { groups: group, actions: ['consume'] },
    );
    const groupAdmin = await mint({ groups: 'billing-*', actions: ['admin'] });
    const fullAdmin = await mint(
      { topics: topic, actions: ['admin'] },
      { groups: 'billing-*', actions: ['admin'] },
    );
    const topicAdmin = await mint({ topics: '*', actions: ['admin', 'consume'] });

    for (const auth of [consumer, groupAdmin, fullAdmin]) {
      const r = await server.api('GET', `/v1/groups/${group}`, { auth });
      expect(r.status, r.text).toBe(200);
      expect(r.json.group).toBe(group);
    }
    expect((await server.api('GET', `/v1/groups/${group}`, { auth: topicAdmin })).status).toBe(403);

    const reset = (auth: string) =>
      server.api('POST', `/v1/groups/${group}/offsets/reset`, { auth, body: { to: 'earliest' } });
    for (const auth of [consumer, groupAdmin, topicAdmin]) {
      const r = await reset(auth);
      expect([r.status, r.json.code]).toEqual([403, 'FORBIDDEN']);
    }
    const done = await reset(fullAdmin);
    expect(done.status, done.text).toBe(200);
    expect(done.json.offsets).toHaveLength(2);
  });

  it('lists only the groups the caller may describe', async () => {
    const topic = await newTopic();
    const mine = unique('billing');
    const theirs = unique('victim');
    for (const group of [mine, theirs]) await new TestMember(server, group, [topic]).join();
    const names = async (auth: string) =>
      ((await server.api('GET', '/v1/groups', { auth })).json.groups as Array<{ group: string }>).map(
        (g) => g.group,
      );

    const billing = await mint({ groups: 'billing-*', actions: ['consume'] });
    expect(await names(billing)).toContain(mine);
    expect(await names(billing)).not.toContain(theirs);
    const billingAdmin = await mint({ groups: mine, actions: ['admin'] });
    expect(await names(billingAdmin)).toEqual([mine]);
    const topicsOnly = await mint({ topics: '*', actions: ['produce', 'consume', 'admin'] });
    expect(await names(topicsOnly)).toEqual([]);
    expect(await names(server.token)).toEqual(expect.arrayContaining([mine, theirs]));
  });

  it('gives a key stored before group permissions existed its topics and no group', async () => {
    const topic = await newTopic();
    const group = unique('billing');
    await new TestMember(server, group, [topic]).join();
    // An item exactly as keys were stored before: topic permissions only.
    const minted = mintToken();
    const doc = DynamoDBDocumentClient.from(makeDynamoClient());
    await doc.send(
      new PutCommand({
        TableName: tableNames(server.tablePrefix).metadata,
        Item: {
          pk: 'key',
          sk: minted.id,
          name: 'legacy-consumer',
          permissions: [{ topics: '*', actions: ['consume'] }],
          secretHash: minted.secretHash,
          createdAt: Date.now(),
        },
      }),
    );
    const auth = minted.token;
    expect((await server.api('GET', `/v1/topics/${topic}/partitions/0/records`, { auth })).status).toBe(200);
    expect((await join(auth, group, [topic])).status).toBe(403);
    expect((await join(auth, unique('fresh'), [topic])).status).toBe(403);
    expect((await server.api('GET', `/v1/groups/${group}`, { auth })).status).toBe(403);
    expect((await server.api('GET', '/v1/groups', { auth })).json.groups).toEqual([]);
    const listed = (await server.api('GET', '/v1/keys')).json.keys.find(
      (k: { id: string }) => k.id === minted.id,
    );
    expect(listed.permissions).toEqual([{ topics: '*', actions: ['consume'] }]);
  });
});

describe('minting keys with group permissions', () => {
  it('stores and lists a group permission as given', async () => {
    const created = await server.api('POST', '/v1/keys', {
      body: {
        name: 'billing-consumer',
        permissions: [
          { topics: 'orders.*', actions: ['consume'] },
          { groups: 'billing-*', actions: ['consume', 'consume'] },
        ],
      },
    });
    expect(created.status, created.text).toBe(201);
    const expected = [
      { topics: 'orders.*', actions: ['consume'] },
      { groups: 'billing-*', actions: ['consume'] },
    ];
    expect(created.json.permissions).toEqual(expected);
    const listed = (await server.api('GET', '/v1/keys')).json.keys.find(
      (k: { id: string }) => k.id === created.json.id,
    );
    expect(listed.permissions).toEqual(expected);
  });

  it.each([
    ['both topics and groups', { topics: 'orders.*', groups: 'billing-*', actions: ['consume'] }],
    ['neither topics nor groups', { actions: ['consume'] }],
    ['a group pattern with other characters', { groups: 'billing/*', actions: ['consume'] }],
    ['produce on a group (nothing is produced to a group)', { groups: 'billing-*', actions: ['produce'] }],
    ['no action', { groups: 'billing-*', actions: [] }],
  ])('refuses a permission with %s (400)', async (_, permission) => {
    const r = await server.api('POST', '/v1/keys', { body: { name: 'x', permissions: [permission] } });
    expect([r.status, r.json.code]).toEqual([400, 'INVALID_REQUEST']);
    expect(r.json.detail).toMatch(/permissions\.0/);
  });
});
