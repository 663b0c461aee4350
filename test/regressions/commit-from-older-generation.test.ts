import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysOf, TestMember } from '../support/group-client.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Issue 12, item 19 (SPEC "Consumer groups"): a commit from an older generation is accepted for the
 * partitions the member has owned without interruption since that generation, so a rebalance that leaves
 * a member's partitions in place causes no redelivery; a partition that moved stays FENCED. Before, every
 * commit of records fetched before a member joined was fenced, and those records were read again.
 */
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

describe('a commit from before a rebalance', () => {
  it('is accepted for the partitions the member kept and fenced for those that moved', async () => {
    const topic = `epochs-${Date.now().toString(36)}`;
    expect((await server.api('POST', '/v1/topics', { body: { name: topic, partitions: 4 } })).status).toBe(
      201,
    );
    const produced = await server.api('POST', `/v1/topics/${topic}/records`, {
      body: { records: [0, 1, 2, 3].map((partition) => ({ partition, value: { partition } })) },
    });
    expect(produced.status).toBe(200);

    const group = `epochs-${Date.now().toString(36)}`;
    const a = await new TestMember(server, group, [topic]).join();
    const fetched = await a.fetch();
    expect(fetched.json.records).toHaveLength(4);
    const fetchedIn = fetched.json.generation;

    // b joins while a processes its records: a new generation, in which a keeps two partitions.
    const b = await new TestMember(server, group, [topic]).join();
    expect(b.generation).toBe(fetchedIn + 1);
    await a.refresh();
    const kept = new Set(keysOf(a.assignments));
    const offsets = TestMember.nextOffsets(fetched.json.records);
    const keptOffsets = offsets.filter((o) => kept.has(`${o.topic}/${o.partition}`));
    const movedOffsets = offsets.filter((o) => !kept.has(`${o.topic}/${o.partition}`));
    expect(keptOffsets).toHaveLength(2);

    // The moved partitions are b's: a's commit of them from the old generation is fenced.
    const fenced = await a.commit(movedOffsets, fetchedIn);
    expect(fenced.status).toBe(409);
    expect(fenced.json.code).toBe('FENCED');
    // The kept ones commit with the generation the records were fetched in.
    expect((await a.commit(keptOffsets, fetchedIn)).status).toBe(204);

    // So a, fetching from its commits, reads nothing again; b reads its partitions from the start.
    expect((await a.fetch({ cursor: null })).json.records).toEqual([]);
    const bFetched = await b.fetch();
    expect(TestMember.nextOffsets(bFetched.json.records).sort((x, y) => x.partition - y.partition)).toEqual(
      movedOffsets.sort((x, y) => x.partition - y.partition),
    );
  });
});
