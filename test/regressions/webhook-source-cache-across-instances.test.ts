import { describe, expect, it } from 'vitest';
import { type TestServer, useTwoInstances } from '../support/server.js';
import { hmacHex } from '../support/webhook-signers.js';

/**
 * docs/ARCHITECTURE.md §8: each instance caches a webhook source's configuration for 5 s. A source changed
 * through one instance is used by another within that bound, and by the instance that changed it at once.
 * (Every cache has a bound and a test that it holds across instances.)
 */
let a: TestServer;
let b: TestServer;
useTwoInstances({}, (x, y) => {
  a = x;
  b = y;
});

const CACHE_BOUND_MS = 5_000;

function deliver(server: TestServer, source: string, secret: string, body: string) {
  return server.api('POST', `/v1/webhooks/${source}`, {
    body,
    headers: { 'content-type': 'text/plain', 'x-signature': hmacHex(secret, body) },
    auth: null,
  });
}

describe('a webhook source changed on another instance', () => {
  it('is used by this instance within the cache bound, and at once by the instance that changed it', async () => {
    const topic = `wh-cache-${Date.now().toString(36)}`;
    const source = `src-${Date.now().toString(36)}`;
    expect((await a.api('POST', '/v1/topics', { body: { name: topic } })).status).toBe(201);
    const put = (server: TestServer, secret: string) =>
      server.api('PUT', `/v1/webhooks/${source}`, {
        body: { topic, verify: { scheme: 'hmac-sha256', secret, header: 'X-Signature' } },
      });
    expect((await put(a, 'first-secret-1')).status).toBe(200);
    // a reads (and caches) the configuration.
    expect((await deliver(a, source, 'first-secret-1', 'event-0')).status).toBe(202);

    // The secret is rotated through b: b uses the new one at once.
    expect((await put(b, 'second-secret-2')).status).toBe(200);
    const rotatedAt = Date.now();
    expect((await deliver(b, source, 'second-secret-2', 'event-1')).status).toBe(202);
    expect((await deliver(b, source, 'first-secret-1', 'event-2')).status).toBe(401);

    // a follows within the bound: poll with the new secret until it is accepted.
    let n = 3;
    for (;;) {
      const res = await deliver(a, source, 'second-secret-2', `event-${n++}`);
      if (res.status === 202) break;
      expect(res.status).toBe(401);
      expect(Date.now() - rotatedAt).toBeLessThan(CACHE_BOUND_MS + 1_000);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(Date.now() - rotatedAt).toBeLessThan(CACHE_BOUND_MS + 1_000);
    // ... and from then on refuses the old secret.
    expect((await deliver(a, source, 'first-secret-1', `event-${n++}`)).status).toBe(401);
  });
});
