import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installSdkFaults, type SdkFaults } from '../faults/cluster/sdk-faults.js';
import { forkRng } from '../faults/rng.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Found by the fault suite (scenario lost-commit-response): when DynamoDB applied an Idempotency-Key's claim
 * but its answer was lost, the SDK's retry of the claim found the item it had itself just written and took it
 * for another attempt in flight. The produce answered 409 CONFLICT on its first try, and every retry with that
 * key got 409 until the claim's 60 s lease ran out.
 */
describe('an Idempotency-Key claim whose answer was lost', () => {
  let server: TestServer;
  let faults: SdkFaults | undefined;

  beforeAll(async () => {
    server = await startTestServer({
      dynamodbMiddleware: (dynamodb) => {
        // The next PutItem (the claim) is applied, then its answer is lost; after that no more faults.
        faults = installSdkFaults(dynamodb, 'dynamodb', forkRng(1, 'claim'), () => faults?.set({}));
      },
    });
  });
  afterAll(() => server.close());

  it("is recognised as this attempt's own by its retry: the produce is appended once and answers 200", async () => {
    expect((await server.api('POST', '/v1/topics', { body: { name: 'claims' } })).status).toBe(201);
    faults?.set({ ambiguous: 1, commands: ['PutItemCommand'] });
    const produce = () =>
      server.api('POST', '/v1/topics/claims/records', {
        body: { records: [{ value: 'once' }] },
        headers: { 'idempotency-key': 'claim-answer-lost' },
      });
    const first = await produce();
    expect(first.status, first.text).toBe(200);
    expect(first.json.offsets).toEqual([expect.objectContaining({ partition: 0, offset: 0 })]);
    const again = await produce();
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const read = await server.api('GET', '/v1/topics/claims/partitions/0/records?offset=0');
    expect(read.json.records.map((r: { value: unknown }) => r.value)).toEqual(['once']);
  });
});
