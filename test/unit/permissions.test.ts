import { describe, expect, it } from 'vitest';
import { createApiKey } from '../../lib/auth/api-keys.js';
import { KeyAuthenticator } from '../../lib/auth/authenticator.js';
import {
  ADMIN,
  authorize,
  authorizeGroup,
  canSee,
  isValidTopicPattern,
  matchesTopicPattern,
  type Permission,
  type Principal,
} from '../../lib/auth/permissions.js';
import { hashSecret, mintToken, parseToken, secretMatches } from '../../lib/auth/tokens.js';
import { ManualClock } from '../../lib/clock.js';
import { InvalidRequestError } from '../../lib/errors.js';
import { MemoryKeyStore } from '../../lib/metadata/memory-key-store.js';

const key = (...permissions: Permission[]): Principal => ({
  kind: 'key',
  keyId: '0123456789abcdef',
  name: 'test',
  permissions,
});

describe('topic patterns', () => {
  it.each([
    ['orders', 'orders', true],
    ['orders', 'orders2', false],
    ['orders', 'order', false],
    ['orders.*', 'orders.eu', true],
    ['orders.*', 'orders.', true],
    ['orders.*', 'orders', false],
    ['orders.*', 'ordersXeu', false],
    ['*', 'anything-at.all', true],
    ['*.audit', 'eu.billing.audit', true],
    ['*.audit', 'eu.audit.old', false],
    ['a*b*c', 'aXXbYYc', true],
    ['a*b*c', 'aXXcYYb', false],
    ['**', 'x', true],
    ['a*a*a*a*a*b', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', false],
  ])('%s matches %s: %s', (pattern, topic, expected) => {
    expect(matchesTopicPattern(pattern, topic)).toBe(expected);
  });

  it('treats dots and dashes literally, not as regular-expression syntax', () => {
    expect(matchesTopicPattern('a.b', 'aXb')).toBe(false);
    expect(matchesTopicPattern('a-b', 'a-b')).toBe(true);
  });

  it('accepts topic characters and * only', () => {
    expect(isValidTopicPattern('orders.*')).toBe(true);
    expect(isValidTopicPattern('*')).toBe(true);
    expect(isValidTopicPattern('Orders_2-eu.x')).toBe(true);
    expect(isValidTopicPattern('')).toBe(false);
    expect(isValidTopicPattern('orders/*')).toBe(false);
    expect(isValidTopicPattern('orders?')).toBe(false);
    expect(isValidTopicPattern('x'.repeat(250))).toBe(false);
  });
});

describe('authorize', () => {
  it('lets the admin token do everything', () => {
    for (const action of ['produce', 'consume', 'admin'] as const) {
      expect(authorize(ADMIN, action, 'any.topic')).toBe(true);
    }
  });

  it('grants an action only on topics matching a pattern that lists it', () => {
    const producer = key({ topics: 'orders.*', actions: ['produce'] });
    expect(authorize(producer, 'produce', 'orders.eu')).toBe(true);
    expect(authorize(producer, 'produce', 'payments')).toBe(false);
    expect(authorize(producer, 'consume', 'orders.eu')).toBe(false);
    expect(authorize(producer, 'admin', 'orders.eu')).toBe(false);
  });

  it('does not let admin imply produce or consume', () => {
    const admin = key({ topics: '*', actions: ['admin'] });
    expect(authorize(admin, 'admin', 'x')).toBe(true);
    expect(authorize(admin, 'produce', 'x')).toBe(false);
    expect(authorize(admin, 'consume', 'x')).toBe(false);
  });

  it('combines several permissions', () => {
    const p = key({ topics: 'orders.*', actions: ['produce'] }, { topics: 'audit', actions: ['consume'] });
    expect(authorize(p, 'produce', 'orders.x')).toBe(true);
    expect(authorize(p, 'consume', 'audit')).toBe(true);
    expect(authorize(p, 'consume', 'orders.x')).toBe(false);
  });

  it('sees a topic with any action on it, and nothing else', () => {
    const p = key({ topics: 'orders.*', actions: ['consume'] });
    expect(canSee(p, 'orders.eu')).toBe(true);
    expect(canSee(p, 'payments')).toBe(false);
    expect(canSee(key(), 'orders.eu')).toBe(false);
  });
});

describe('authorizeGroup', () => {
  it('lets the admin token use every group', () => {
    expect(authorizeGroup(ADMIN, 'consume', 'any-group')).toBe(true);
    expect(authorizeGroup(ADMIN, 'admin', 'any-group')).toBe(true);
  });

  it('grants a group only through a group permission whose pattern matches and lists the action', () => {
    const p = key({ topics: '*', actions: ['consume'] }, { groups: 'billing-*', actions: ['consume'] });
    expect(authorizeGroup(p, 'consume', 'billing-1')).toBe(true);
    expect(authorizeGroup(p, 'consume', 'victim')).toBe(false);
    expect(authorizeGroup(p, 'admin', 'billing-1')).toBe(false);
  });

  it('denies every group to a key with topic permissions only (deny by default)', () => {
    const p = key({ topics: '*', actions: ['produce', 'consume', 'admin'] });
    expect(authorizeGroup(p, 'consume', 'billing-1')).toBe(false);
    expect(authorizeGroup(p, 'admin', 'billing-1')).toBe(false);
  });

  it('never lets a group permission grant a topic of the same name', () => {
    const p = key({ groups: '*', actions: ['consume', 'admin'] });
    expect(authorize(p, 'consume', 'billing-1')).toBe(false);
    expect(canSee(p, 'billing-1')).toBe(false);
  });
});

describe('tokens', () => {
  it('are sk_<id>_<secret> with 32 random bytes, and parse back', () => {
    const minted = mintToken();
    expect(minted.token).toMatch(/^sk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const parsed = parseToken(minted.token);
    expect(parsed?.id).toBe(minted.id);
    expect(Buffer.from(parsed?.secret ?? '', 'base64url')).toHaveLength(32);
    expect(secretMatches(parsed?.secret ?? '', minted.secretHash)).toBe(true);
    expect(minted.secretHash).toBe(hashSecret(parsed?.secret ?? ''));
    expect(minted.secretHash).not.toContain(parsed?.secret);
  });

  it('rejects anything else, and a wrong secret', () => {
    expect(parseToken('not-a-key')).toBeUndefined();
    expect(parseToken('sk_0123_abc')).toBeUndefined();
    const minted = mintToken();
    const other = parseToken(mintToken().token);
    expect(secretMatches(other?.secret ?? '', minted.secretHash)).toBe(false);
    expect(secretMatches('x', 'not-hex')).toBe(false);
  });
});

describe('createApiKey', () => {
  const clock = new ManualClock();

  it('refuses bad patterns, empty actions, no permissions and an expiry in the past', async () => {
    const store = new MemoryKeyStore();
    const bad = [
      { name: 'a', permissions: [] },
      { name: 'a', permissions: [{ topics: 'a/b', actions: ['produce' as const] }] },
      { name: 'a', permissions: [{ topics: 'a', actions: [] }] },
      { name: 'a', permissions: [{ topics: 'a', actions: ['produce' as const] }], expiresAt: clock.now() },
      { name: 'a', permissions: [{ groups: 'g/*', actions: ['consume' as const] }] },
      { name: 'a', permissions: [{ groups: 'g', actions: ['produce'] } as unknown as Permission] },
      {
        name: 'a',
        permissions: [{ groups: 'g', topics: 't', actions: ['consume'] } as unknown as Permission],
      },
      { name: 'a', permissions: [{ actions: ['consume'] } as unknown as Permission] },
    ];
    for (const input of bad) {
      await expect(createApiKey(store, clock, input)).rejects.toBeInstanceOf(InvalidRequestError);
    }
    expect(await store.listKeys()).toEqual([]);
  });

  it('stores only the hash of the token it returns', async () => {
    const store = new MemoryKeyStore();
    const { key: created, token } = await createApiKey(store, clock, {
      name: 'p',
      permissions: [{ topics: 'orders.*', actions: ['produce', 'produce'] }],
    });
    const stored = await store.getKey(created.id);
    expect(stored?.permissions).toEqual([{ topics: 'orders.*', actions: ['produce'] }]);
    expect(JSON.stringify(stored)).not.toContain(token.slice(20));
  });
});

describe('KeyAuthenticator', () => {
  const setup = async (options: { expiresAt?: number } = {}) => {
    const clock = new ManualClock();
    const store = new MemoryKeyStore();
    const { key: created, token } = await createApiKey(store, clock, {
      name: 'consumer',
      permissions: [{ topics: 'orders.*', actions: ['consume'] }],
      ...options,
    });
    const errors: unknown[] = [];
    const auth = new KeyAuthenticator(store, clock, {
      cacheTtlMs: 5_000,
      cacheMaxEntries: 2,
      lastUsedIntervalMs: 60_000,
      onTouchError: (error) => errors.push(error),
    });
    return { clock, store, created, token, auth, errors };
  };

  it('authenticates a key as its principal', async () => {
    const { auth, token, created } = await setup();
    expect(await auth.authenticate(token)).toEqual({
      kind: 'key',
      keyId: created.id,
      name: 'consumer',
      permissions: [{ topics: 'orders.*', actions: ['consume'] }],
    });
  });

  it('rejects malformed tokens, unknown ids and wrong secrets', async () => {
    const { auth, token } = await setup();
    expect(await auth.authenticate('garbage')).toBeUndefined();
    expect(await auth.authenticate(mintToken().token)).toBeUndefined();
    const wrongSecret = `${token.slice(0, 20)}${'A'.repeat(43)}`;
    expect(await auth.authenticate(wrongSecret)).toBeUndefined();
  });

  it('refuses a revoked key once the cache TTL has passed, not later', async () => {
    const { auth, token, store, created, clock } = await setup();
    expect(await auth.authenticate(token)).toBeDefined();
    await store.deleteKey(created.id);
    clock.advance(4_999);
    expect(await auth.authenticate(token)).toBeDefined(); // still cached: the documented bound
    clock.advance(1);
    expect(await auth.authenticate(token)).toBeUndefined();
  });

  it('refuses an expired key at once, cached or not', async () => {
    const { auth, token, clock } = await setup({ expiresAt: new ManualClock().now() + 1_000 });
    expect(await auth.authenticate(token)).toBeDefined();
    clock.advance(1_000);
    expect(await auth.authenticate(token)).toBeUndefined();
  });

  it('keeps at most cacheMaxEntries keys', async () => {
    const { auth, token, store, created, clock } = await setup();
    await auth.authenticate(token);
    for (let i = 0; i < 2; i += 1) {
      const other = await createApiKey(store, clock, {
        name: `k${i}`,
        permissions: [{ topics: '*', actions: ['consume'] }],
      });
      await auth.authenticate(other.token);
    }
    await store.deleteKey(created.id);
    // Evicted (least recently used of three with room for two), so the revocation is seen before the TTL.
    expect(await auth.authenticate(token)).toBeUndefined();
  });

  it('records the last use at most once per interval, and survives a failing store', async () => {
    const { auth, token, store, created, clock, errors } = await setup();
    await auth.authenticate(token);
    await Promise.resolve();
    const first = clock.now();
    expect((await store.getKey(created.id))?.lastUsedAt).toBe(first);
    clock.advance(30_000);
    await auth.authenticate(token);
    await Promise.resolve();
    expect((await store.getKey(created.id))?.lastUsedAt).toBe(first);
    clock.advance(30_000);
    store.touchKey = async () => {
      throw new Error('throttled');
    };
    expect(await auth.authenticate(token)).toBeDefined();
    await new Promise((resolve) => setImmediate(resolve));
    expect(errors).toHaveLength(1);
  });
});
