import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestMember } from '../support/group-client.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Permission is decided before anything is looked up (SPEC §2 Auth): for a group the caller may not use, an
 * existing and a missing group get the same 403, whose message names only what the caller asked for. Before,
 * describe, heartbeat, fetch, leave and reset loaded the group first: 404 for a missing group, 403 naming the
 * topic behind an existing one, and reset answered 409 "has 1 live member(s)" before any permission check.
 */
let server: TestServer;
const run = Date.now().toString(36);

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

async function mint(...permissions: unknown[]): Promise<string> {
  const r = await server.api('POST', '/v1/keys', { body: { name: 'prober', permissions } });
  expect(r.status, r.text).toBe(201);
  return r.json.token;
}

interface Answer {
  status: number;
  code: unknown;
  type: unknown;
  title: unknown;
  detail: unknown;
}

/** Every group call a prober might try, on `group` and member `memberId`, naming the topic only in bodies. */
function probes(group: string, memberId: string, topic: string) {
  const member = `/v1/groups/${group}/members/${memberId}`;
  return {
    describe: ['GET', `/v1/groups/${group}`],
    join: ['POST', `/v1/groups/${group}/members`, { topics: [topic], memberId }],
    heartbeat: ['POST', `${member}/heartbeat`],
    fetch: ['GET', `${member}/records`],
    leave: ['DELETE', member],
    commit: [
      'POST',
      `/v1/groups/${group}/commits`,
      { memberId, generation: 1, offsets: [{ topic, partition: 0, offset: 0 }] },
    ],
    resetAll: ['POST', `/v1/groups/${group}/offsets/reset`, { to: 'earliest' }],
    resetTopic: ['POST', `/v1/groups/${group}/offsets/reset`, { to: 'earliest', topics: [topic] }],
  } satisfies Record<string, [string, string, unknown?]>;
}

async function answers(
  auth: string,
  calls: Record<string, [string, string, unknown?]>,
): Promise<Record<string, Answer>> {
  const out: Record<string, Answer> = {};
  for (const [name, [method, path, body]] of Object.entries(calls)) {
    const r = await server.api(method, path, { auth, ...(body !== undefined ? { body } : {}) });
    const { status, code, type, title, detail } = { ...r.json, status: r.status };
    out[name] = { status, code, type, title, detail };
  }
  return out;
}

describe('probing consumer groups', () => {
  it('gives a caller without rights on the group the same 403 whether it exists or not', async () => {
    const topic = `secret-orders-${run}`;
    expect((await server.api('POST', '/v1/topics', { body: { name: topic } })).status).toBe(201);
    const group = `payroll-${run}`;
    const memberId = 'worker-1';
    const keys = {
      // topic rights everywhere, no group permission at all
      topicsOnly: await mint({ topics: '*', actions: ['produce', 'consume', 'admin'] }),
      // rights on other groups only
      otherGroups: await mint(
        { topics: '*', actions: ['consume', 'admin'] },
        { groups: 'billing-*', actions: ['consume', 'admin'] },
      ),
    };

    const before: Record<string, Record<string, Answer>> = {};
    for (const [name, auth] of Object.entries(keys)) {
      before[name] = await answers(auth, probes(group, memberId, topic));
    }

    // Now the group exists, with a live member, committed offsets and the secret topic behind it.
    const member = new TestMember(server, group, [topic]);
    member.memberId = memberId;
    await member.join();
    expect((await member.fetch()).status).toBe(200);
    expect((await member.commit([{ topic, partition: 0, offset: 0 }])).status).toBe(204);

    for (const [name, auth] of Object.entries(keys)) {
      const after = await answers(auth, probes(group, memberId, topic));
      expect(after, name).toEqual(before[name]);
      for (const [call, answer] of Object.entries(after)) {
        expect([call, answer.status, answer.code]).toEqual([call, 403, 'FORBIDDEN']);
        expect(answer.detail, call).toContain(`group '${group}'`);
        expect(answer.detail, call).not.toContain(topic);
        expect(answer.detail, call).not.toMatch(/exist|member\(s\)|live/);
      }
    }

    // Nothing the probes did changed the group.
    const state = await server.api('GET', `/v1/groups/${group}`);
    expect(state.json.generation).toBe(member.generation);
    expect(state.json.members.map((m: { memberId: string }) => m.memberId)).toEqual([memberId]);
  });

  it('answers a reset without rights with 403, never with 409 about live members', async () => {
    const topic = `secret-ledger-${run}`;
    expect((await server.api('POST', '/v1/topics', { body: { name: topic } })).status).toBe(201);
    const group = `ledger-${run}`;
    const member = await new TestMember(server, group, [topic]).join();
    expect((await member.fetch()).status).toBe(200);
    expect((await member.commit([{ topic, partition: 0, offset: 0 }])).status).toBe(204);
    const reset = (auth: string) =>
      server.api('POST', `/v1/groups/${group}/offsets/reset`, { auth, body: { to: 'earliest' } });

    // Consume on the group is not admin on it.
    const consumer = await mint(
      { topics: '*', actions: ['consume'] },
      { groups: group, actions: ['consume'] },
    );
    // Admin on the group, but not on the topic behind it (which the caller did not name).
    const groupAdmin = await mint(
      { topics: '*', actions: ['consume'] },
      { groups: group, actions: ['admin'] },
    );
    for (const auth of [consumer, groupAdmin]) {
      const r = await reset(auth);
      expect([r.status, r.json.code]).toEqual([403, 'FORBIDDEN']);
      expect(r.json.detail).toContain(`group '${group}'`);
      expect(r.json.detail).not.toContain(topic);
    }

    // Only a caller allowed to reset learns that the group has live members.
    const admin = await mint({ topics: topic, actions: ['admin'] }, { groups: group, actions: ['admin'] });
    for (const auth of [admin, server.token]) {
      const r = await reset(auth);
      expect([r.status, r.json.code]).toEqual([409, 'CONFLICT']);
      expect(r.json.detail).toMatch(/1 live member/);
    }
  });

  it("does not name a member's topics to a caller on the group that did not name them", async () => {
    const topic = `secret-payouts-${run}`;
    expect((await server.api('POST', '/v1/topics', { body: { name: topic } })).status).toBe(201);
    const group = `payouts-${run}`;
    const member = await new TestMember(server, group, [topic]).join();
    const auth = await mint(
      { topics: 'public.*', actions: ['consume'] },
      { groups: group, actions: ['consume'] },
    );
    const base = `/v1/groups/${group}/members/${member.memberId}`;
    for (const [method, path] of [
      ['POST', `${base}/heartbeat`],
      ['GET', `${base}/records`],
      ['DELETE', base],
    ] as const) {
      const r = await server.api(method, path, { auth });
      expect([r.status, r.json.code]).toEqual([403, 'FORBIDDEN']);
      expect(r.json.detail).toContain(`group '${group}'`);
      expect(r.json.detail).not.toContain(topic);
    }
    const state = await server.api('GET', `/v1/groups/${group}`);
    expect(state.json.members).toHaveLength(1);
  });
});
