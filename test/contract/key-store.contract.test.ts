import { describe, expect, it } from 'vitest';
import { DynamoDbKeyStore } from '../../lib/metadata/dynamodb-key-store.js';
import { ensureTables } from '../../lib/metadata/dynamodb-schema.js';
import {
  type ApiKey,
  KeyExistsError,
  KeyNotFoundError,
  type KeyStore,
} from '../../lib/metadata/key-store.js';
import { MemoryKeyStore } from '../../lib/metadata/memory-key-store.js';
import { makeDynamoClient, uniquePrefix } from '../support/env.js';

const adapters: Array<[string, () => Promise<KeyStore>]> = [
  ['memory', async () => new MemoryKeyStore()],
  [
    'DynamoDB (emulator)',
    async () => {
      const client = makeDynamoClient();
      return new DynamoDbKeyStore(client, await ensureTables(client, uniquePrefix('keys')));
    },
  ],
];

function apiKey(id: string, overrides: Partial<ApiKey> = {}): ApiKey {
  return {
    id,
    name: `key ${id}`,
    permissions: [
      { topics: 'orders.*', actions: ['produce'] },
      { topics: '*', actions: ['consume', 'admin'] },
      { groups: 'billing-*', actions: ['consume', 'admin'] },
    ],
    secretHash: 'ab'.repeat(32),
    createdAt: 1_700_000_000_000,
    expiresAt: null,
    lastUsedAt: null,
    ...overrides,
  };
}

describe.each(adapters)('KeyStore contract: %s', (_name, make) => {
  it('stores a key and reads it back exactly', async () => {
    const store = await make();
    const key = apiKey('00000000000000a1', { expiresAt: 1_800_000_000_000 });
    await store.createKey(key);
    expect(await store.getKey(key.id)).toEqual(key);
    expect(await store.getKey('00000000000000ff')).toBeUndefined();
  });

  it('refuses a second key with the same id', async () => {
    const store = await make();
    await store.createKey(apiKey('00000000000000a1'));
    await expect(store.createKey(apiKey('00000000000000a1'))).rejects.toBeInstanceOf(KeyExistsError);
  });

  it('lists every key ordered by id', async () => {
    const store = await make();
    await store.createKey(apiKey('00000000000000b2'));
    await store.createKey(apiKey('00000000000000a1'));
    expect((await store.listKeys()).map((k) => k.id)).toEqual(['00000000000000a1', '00000000000000b2']);
  });

  it('deletes a key, and reports deleting a missing one as KeyNotFoundError', async () => {
    const store = await make();
    await store.createKey(apiKey('00000000000000a1'));
    await store.deleteKey('00000000000000a1');
    expect(await store.getKey('00000000000000a1')).toBeUndefined();
    expect(await store.listKeys()).toEqual([]);
    await expect(store.deleteKey('00000000000000a1')).rejects.toBeInstanceOf(KeyNotFoundError);
  });

  it('records the last use, never moving it backwards', async () => {
    const store = await make();
    await store.createKey(apiKey('00000000000000a1'));
    await store.touchKey('00000000000000a1', 2_000);
    expect((await store.getKey('00000000000000a1'))?.lastUsedAt).toBe(2_000);
    await store.touchKey('00000000000000a1', 1_000);
    expect((await store.getKey('00000000000000a1'))?.lastUsedAt).toBe(2_000);
    await store.touchKey('00000000000000a1', 3_000);
    expect((await store.getKey('00000000000000a1'))?.lastUsedAt).toBe(3_000);
  });

  it('does not bring a revoked key back by recording its use', async () => {
    const store = await make();
    await store.createKey(apiKey('00000000000000a1'));
    await store.deleteKey('00000000000000a1');
    await expect(store.touchKey('00000000000000a1', 5_000)).resolves.toBeUndefined();
    expect(await store.getKey('00000000000000a1')).toBeUndefined();
  });
});
