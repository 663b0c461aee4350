import { DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureTables, tableNames } from '../../lib/metadata/dynamodb-schema.js';
import { makeDynamoClient, uniquePrefix } from '../support/env.js';

/** Two servers starting at once on fresh tables both set them up: table setup is safe to race. */
describe('table setup', () => {
  const clients = Array.from({ length: 4 }, () => makeDynamoClient());
  afterAll(() => {
    for (const client of clients) client.destroy();
  });

  it('succeeds for every one of several servers racing on the same fresh tables', async () => {
    for (let round = 0; round < 3; round++) {
      const prefix = uniquePrefix(`race${round}`);
      const results = await Promise.allSettled(clients.map((client) => ensureTables(client, prefix)));
      expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(
        clients.map(() => 'ok'),
      );
      const ttl = await clients[0]?.send(
        new DescribeTimeToLiveCommand({ TableName: tableNames(prefix).metadata }),
      );
      expect(ttl?.TimeToLiveDescription?.TimeToLiveStatus).toBe('ENABLED');
    }
  });
});
