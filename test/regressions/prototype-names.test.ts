import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysOf, TestMember } from '../support/group-client.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Issue 12, item 2: names a caller chooses reached object prototypes. A member id `__proto__` answered 200
 * with a non-array `assignments` and broke the group for everyone (list, describe, every join: 500) until
 * its DynamoDB item was deleted by hand; member ids and topics named `constructor`, `toString`, … made
 * every member call or join 500. SPEC Limits: such names are data and behave as any other name.
 */
const NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
  for (const name of NAMES) {
    expect((await server.api('POST', '/v1/topics', { body: { name, partitions: 2 } })).status).toBe(201);
  }
});
afterAll(async () => {
  await server?.close();
});

describe.each(NAMES)('the name %s', (name) => {
  it('names a topic like any other: get, patch, partitions, produce, fetch', async () => {
    const got = await server.api('GET', `/v1/topics/${name}`);
    expect(got.status).toBe(200);
    expect(got.json.name).toBe(name);
    const patched = await server.api('PATCH', `/v1/topics/${name}`, { body: { partitions: 3 } });
    expect(patched.status).toBe(200);
    expect(patched.json.partitions).toBe(3);
    const partitions = await server.api('GET', `/v1/topics/${name}/partitions`);
    expect(partitions.status).toBe(200);
    expect(partitions.json.partitions).toHaveLength(3);
    const produced = await server.api('POST', `/v1/topics/${name}/records`, {
      body: { records: [0, 1, 2].map((p) => ({ partition: p, key: name, value: { name } })) },
    });
    expect(produced.status).toBe(200);
    const fetched = await server.api('GET', `/v1/topics/${name}/partitions/1/records?offset=0`);
    expect(fetched.status).toBe(200);
    expect(fetched.json.records.map((r: { value: unknown }) => r.value)).toEqual([{ name }]);
  });

  it('names a group and a member like any other: join, heartbeat, fetch, commit, describe, list, leave, reset', async () => {
    const member = new TestMember(server, name, [name]);
    member.memberId = name;
    await member.join();
    expect(member.memberId).toBe(name);
    expect(Array.isArray(member.assignments)).toBe(true);
    expect(keysOf(member.assignments)).toEqual([`${name}/0`, `${name}/1`, `${name}/2`]);

    // Another member still joins the group, and both assignments are lists that cover the topic once.
    const other = await new TestMember(server, name, [name]).join();
    await member.refresh();
    expect(Array.isArray(other.assignments)).toBe(true);
    expect([...keysOf(member.assignments), ...keysOf(other.assignments)].sort()).toEqual([
      `${name}/0`,
      `${name}/1`,
      `${name}/2`,
    ]);

    const heartbeat = await member.heartbeat();
    expect(heartbeat.status).toBe(200);
    expect(Array.isArray(heartbeat.json.assignments)).toBe(true);
    for (const m of [member, other]) {
      const fetched = await m.fetch();
      expect(fetched.status).toBe(200);
      const offsets = m.assignments.map(({ topic, partition }) => ({ topic, partition, offset: 1 }));
      expect((await m.commit(offsets)).status).toBe(204);
    }

    const described = await server.api('GET', `/v1/groups/${name}`);
    expect(described.status).toBe(200);
    expect(described.json.members.map((m: { memberId: string }) => m.memberId).sort()).toEqual(
      [name, other.memberId].sort(),
    );
    for (const m of described.json.members) expect(Array.isArray(m.assignments)).toBe(true);
    expect(described.json.offsets.map((o: { committedOffset: number }) => o.committedOffset)).toEqual([
      1, 1, 1,
    ]);
    const listed = await server.api('GET', '/v1/groups');
    expect(listed.status).toBe(200);
    expect(listed.json.groups.find((g: { group: string }) => g.group === name)?.members).toBe(2);

    expect((await member.leave()).status).toBe(204);
    expect((await other.leave()).status).toBe(204);
    const reset = await server.api('POST', `/v1/groups/${name}/offsets/reset`, {
      body: { to: 'earliest', topics: [name] },
    });
    expect(reset.status).toBe(200);
    expect(reset.json.offsets).toEqual([0, 1, 2].map((partition) => ({ topic: name, partition, offset: 0 })));
  });

  it('names an API key and a webhook source like any other', async () => {
    const key = await server.api('POST', '/v1/keys', {
      body: { name, permissions: [{ topics: name, actions: ['consume'] }] },
    });
    expect(key.status).toBe(201);
    expect(key.json.name).toBe(name);
    const keys = await server.api('GET', '/v1/keys');
    expect(keys.json.keys.some((k: { name: string }) => k.name === name)).toBe(true);

    const put = await server.api('PUT', `/v1/webhooks/${name}`, {
      body: { topic: name, verify: { scheme: 'none' } },
    });
    expect(put.status).toBe(200);
    expect((await server.api('GET', `/v1/webhooks/${name}`)).status).toBe(200);
    expect((await server.api('DELETE', `/v1/webhooks/${name}`)).status).toBe(204);
  });
});

describe('a group of members named like object properties, on topics named so', () => {
  it('assigns every partition once, as lists, and keeps working for everyone', async () => {
    const group = 'prototype-names-all';
    const members: TestMember[] = [];
    for (const name of NAMES) {
      const member = new TestMember(server, group, NAMES);
      member.memberId = name;
      members.push(await member.join());
    }
    for (const m of members) await m.refresh();
    const owned = members.flatMap((m) => keysOf(m.assignments));
    expect(owned.sort()).toEqual(NAMES.flatMap((t) => [0, 1, 2].map((p) => `${t}/${p}`)).sort());
    for (const m of members) {
      const fetched = await m.fetch();
      expect(fetched.status).toBe(200);
      expect(Array.isArray(fetched.json.records)).toBe(true);
    }
    // A newcomer joins and lists and describes as usual.
    const newcomer = await new TestMember(server, group, NAMES).join();
    expect(Array.isArray(newcomer.assignments)).toBe(true);
    expect((await server.api('GET', `/v1/groups/${group}`)).status).toBe(200);
    expect((await server.api('GET', '/v1/groups')).status).toBe(200);
    for (const m of [...members, newcomer]) expect((await m.leave()).status).toBe(204);
  });

  it('deletes the topics', async () => {
    for (const name of NAMES) expect((await server.api('DELETE', `/v1/topics/${name}`)).status).toBe(204);
    expect((await server.api('GET', `/v1/topics/${NAMES[0]}`)).status).toBe(404);
  });
});
