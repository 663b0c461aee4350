import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLog } from '../../functions/deps.js';
import { createApp } from '../../functions/http/app.js';
import { hashSecret } from '../../lib/auth/tokens.js';
import { ManualClock } from '../../lib/clock.js';
import { DynamoDbGroupStore } from '../../lib/groups/dynamodb-group-store.js';
import { DEFAULT_LIMITS } from '../../lib/limits.js';
import { DEFAULT_LOG_OPTIONS } from '../../lib/log/log.js';
import { DynamoDbKeyStore } from '../../lib/metadata/dynamodb-key-store.js';
import { ensureTables, type TableNames } from '../../lib/metadata/dynamodb-schema.js';
import { MissCache } from '../../lib/miss-cache.js';
import { S3SegmentStore } from '../../lib/storage/s3-segment-store.js';
import { DynamoDbWebhookSourceStore } from '../../lib/webhooks/dynamodb-source-store.js';
import { makeDynamoClient, makeS3Client, testEndpoints, uniquePrefix } from '../support/env.js';

/**
 * Requests with no valid credentials must not cost a DynamoDB read each: an unknown API key id and an
 * unknown webhook source are remembered as unknown for a bounded time (ARCHITECTURE.md §8: 2 s, at most
 * 10,000 names per instance). Two app instances share one set of tables; what one creates, the other finds
 * within the bound, and the one that created it at once. (Before: every such request read the store.)
 */
const BOUND_MS = 2_000;
const dynamodb = makeDynamoClient();
const s3 = makeS3Client();
const clock = new ManualClock(Date.now());
const adminToken = `admin-${randomBytes(8).toString('hex')}`;
let tables: TableNames;
let prefix: string;

class CountingKeyStore extends DynamoDbKeyStore {
  reads = 0;
  override async getKey(id: string) {
    this.reads++;
    return super.getKey(id);
  }
}

class CountingSourceStore extends DynamoDbWebhookSourceStore {
  reads = 0;
  override async get(source: string) {
    this.reads++;
    return super.get(source);
  }
}

function instance() {
  const keys = new CountingKeyStore(dynamodb, tables);
  const webhooks = new CountingSourceStore(dynamodb, tables);
  const app = createApp({
    log: createLog({
      dynamodb,
      store: new S3SegmentStore(s3, testEndpoints().bucket),
      tablePrefix: prefix,
      log: DEFAULT_LOG_OPTIONS,
      limits: DEFAULT_LIMITS,
      clock,
    }),
    adminToken,
    keys,
    groups: new DynamoDbGroupStore(dynamodb, tables),
    webhooks,
    limits: DEFAULT_LIMITS,
    clock,
    logError: () => undefined,
  });
  const call = (method: string, path: string, token: string, body?: unknown) =>
    app.request(path, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const deliver = (source: string) =>
    app.request(`/v1/webhooks/${source}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ hello: source, nonce: randomBytes(8).toString('hex') }),
    });
  return { app, keys, webhooks, call, deliver };
}

/** A well-formed token for key id `id` (16 hex digits) and the hash its key item would store. */
function tokenFor(id: string): { token: string; secretHash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { token: `sk_${id}_${secret}`, secretHash: hashSecret(secret) };
}

let a: ReturnType<typeof instance>;
let b: ReturnType<typeof instance>;

beforeAll(async () => {
  prefix = uniquePrefix('misses');
  tables = await ensureTables(dynamodb, prefix);
  a = instance();
  b = instance();
  expect((await a.call('POST', '/v1/topics', adminToken, { name: 'hooks' })).status).toBe(201);
});

afterAll(() => {
  dynamodb.destroy();
  s3.destroy();
});

describe('an unknown API key id', () => {
  it('costs one store read per instance and bound, however often it is sent', async () => {
    const { token } = tokenFor(randomBytes(8).toString('hex'));
    const before = a.keys.reads;
    for (let i = 0; i < 50; i++) expect((await a.call('GET', '/v1/topics', token)).status).toBe(401);
    expect(a.keys.reads - before).toBe(1);
    clock.advance(BOUND_MS);
    expect((await a.call('GET', '/v1/topics', token)).status).toBe(401);
    expect(a.keys.reads - before).toBe(2);
  });

  it('is usable on another instance within the bound once it is created there', async () => {
    const id = randomBytes(8).toString('hex');
    const { token, secretHash } = tokenFor(id);
    expect((await a.call('GET', '/v1/topics', token)).status).toBe(401);
    // Instance B (its store) creates the key with that id.
    await b.keys.createKey({
      id,
      name: 'late',
      permissions: [{ topics: '*', actions: ['consume'] }],
      secretHash,
      createdAt: clock.now(),
      expiresAt: null,
      lastUsedAt: null,
    });
    expect((await b.call('GET', '/v1/topics', token)).status).toBe(200);
    clock.advance(BOUND_MS);
    expect((await a.call('GET', '/v1/topics', token)).status).toBe(200);
  });

  it('is usable at once on the instance that minted it', async () => {
    const minted = await a.call('POST', '/v1/keys', adminToken, {
      name: 'fresh',
      permissions: [{ topics: '*', actions: ['consume'] }],
    });
    expect(minted.status).toBe(201);
    const { token } = (await minted.json()) as { token: string };
    expect((await a.call('GET', '/v1/topics', token)).status).toBe(200);
  });
});

describe('an unknown webhook source', () => {
  it('costs one store read per instance and bound, however many deliveries it gets', async () => {
    const source = `nobody-${randomBytes(4).toString('hex')}`;
    const before = a.webhooks.reads;
    for (let i = 0; i < 50; i++) expect((await a.deliver(source)).status).toBe(404);
    expect(a.webhooks.reads - before).toBe(1);
  });

  it('takes deliveries on another instance within the bound, and at once where it was configured', async () => {
    const source = `later-${randomBytes(4).toString('hex')}`;
    expect((await a.deliver(source)).status).toBe(404);
    expect((await b.deliver(source)).status).toBe(404);
    const put = await b.call('PUT', `/v1/webhooks/${source}`, adminToken, {
      topic: 'hooks',
      verify: { scheme: 'none' },
    });
    expect(put.status).toBeLessThan(300);
    expect((await b.deliver(source)).status).toBe(202);
    clock.advance(BOUND_MS);
    expect((await a.deliver(source)).status).toBe(202);
  });
});

describe('the memory of unknown names', () => {
  it('holds at most its bound of names, the most recent ones', () => {
    const misses = new MissCache({ ttlMs: BOUND_MS, maxEntries: 3 }, () => clock.now());
    for (const name of ['n1', 'n2', 'n3', 'n4', 'n5']) misses.add(name);
    expect(misses.size).toBe(3);
    expect(['n1', 'n2', 'n3', 'n4', 'n5'].map((n) => misses.has(n))).toEqual([
      false,
      false,
      true,
      true,
      true,
    ]);
  });
});
