import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAwsClients } from '../../functions/deps.js';
import { startTcpProxy, type TcpProxy } from '../faults/cluster/tcp-proxy.js';
import { testEndpoints } from '../support/env.js';

/**
 * Found by the fault suite (scenario stalled-commit-past-gc-grace): the SDK's HTTP handler of this release
 * only logs a warning when `requestTimeout` passes, unless `throwOnRequestTimeout` is set, and Sluice's
 * clients did not set it. A DynamoDB connection that went silent (a network partition) held a commit attempt
 * until the network healed, 11 s later, far past the bound the commit deadline and GC's grace rely on.
 */
describe('a DynamoDB connection that goes silent', () => {
  let proxy: TcpProxy;
  beforeAll(async () => {
    const target = new URL(testEndpoints().dynamodbEndpoint);
    proxy = await startTcpProxy({
      target: { host: target.hostname, port: Number(target.port) },
      rng: { next: () => 0.5 },
    });
  });
  afterAll(() => proxy.close());

  it("fails the request after the client's request timeout instead of waiting for the network", async () => {
    const { dynamodb, s3 } = createAwsClients({
      region: testEndpoints().region,
      endpoints: { dynamodb: proxy.url },
      dynamodbRequestTimeoutMs: 1_000,
    });
    try {
      await dynamodb.send(new ListTablesCommand({}));
      proxy.setFaults({ blackhole: true });
      const started = Date.now();
      const error = await dynamodb.send(new ListTablesCommand({})).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      // The SDK's 3 attempts of 1 s each, and its backoff between them.
      expect(error?.name).toBe('TimeoutError');
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      proxy.setFaults({});
      dynamodb.destroy();
      s3.destroy();
    }
  }, 30_000);
});
