import type { Clock } from '../clock.js';
import type { ApiKey, KeyStore } from '../metadata/key-store.js';
import { MissCache } from '../miss-cache.js';
import type { Principal } from './permissions.js';
import { parseToken, secretMatches } from './tokens.js';

export interface KeyAuthenticatorOptions {
  /**
   * How long a key read from the store is trusted. Bounds how long a revoked key keeps working on a warm
   * instance (expiry is checked on every request against the clock, so it is exact).
   */
  cacheTtlMs: number;
  /** At most this many keys are cached (least recently used go first). */
  cacheMaxEntries: number;
  /**
   * How long an unknown key id is remembered as unknown (no store read for it meanwhile): bounds how long a
   * key minted on another instance can be refused here. The instance that mints a key forgets its own miss.
   */
  missTtlMs: number;
  /** At most this many unknown ids are remembered (least recently added go first). */
  missMaxEntries: number;
  /** lastUsedAt is written at most once per this interval per key per process. */
  lastUsedIntervalMs: number;
  /** Called when recording a key's last use fails (it never fails the request). */
  onTouchError: (error: unknown, keyId: string) => void;
}

export const DEFAULT_KEY_AUTHENTICATOR_OPTIONS: KeyAuthenticatorOptions = {
  cacheTtlMs: 5_000,
  cacheMaxEntries: 1_000,
  missTtlMs: 2_000,
  missMaxEntries: 10_000,
  lastUsedIntervalMs: 60_000,
  onTouchError: (error, keyId) => console.error(`recording the last use of API key ${keyId} failed`, error),
};

/**
 * Turns an API key token into a Principal. Keys are cached per process for `cacheTtlMs` (a bounded LRU), so
 * a warm instance reads each key from the store at most once per TTL; revocation takes effect within it.
 */
export class KeyAuthenticator {
  private readonly options: KeyAuthenticatorOptions;
  private readonly cache = new Map<string, { key: ApiKey; readAt: number }>();
  private readonly touchedAt = new Map<string, number>();
  private readonly misses: MissCache;

  constructor(
    private readonly store: KeyStore,
    private readonly clock: Clock,
    options: Partial<KeyAuthenticatorOptions> = {},
  ) {
    this.options = { ...DEFAULT_KEY_AUTHENTICATOR_OPTIONS, ...options };
    this.misses = new MissCache(
      { ttlMs: this.options.missTtlMs, maxEntries: this.options.missMaxEntries },
      () => this.clock.now(),
    );
  }

  /**
   * `store` for the routes that mint keys: a key created through it is usable on this instance at once,
   * even if its id was asked for (and remembered as unknown) a moment before.
   */
  forgettingMissesOn(store: KeyStore): KeyStore {
    const misses = this.misses;
    return {
      createKey: async (key) => {
        await store.createKey(key);
        misses.forget(key.id);
      },
      getKey: (id) => store.getKey(id),
      listKeys: () => store.listKeys(),
      deleteKey: (id) => store.deleteKey(id),
      touchKey: (id, at) => store.touchKey(id, at),
    };
  }

  /**
   * The key's principal, or undefined for a malformed, unknown, wrong, revoked or expired token. `maxAgeMs`
   * (below the cache TTL) re-reads a key cached longer ago than that: a long-lived stream's re-checks use it
   * to end within the TTL of a revocation (functions/http/sse.ts).
   */
  async authenticate(token: string, options: { maxAgeMs?: number } = {}): Promise<Principal | undefined> {
    const parsed = parseToken(token);
    if (!parsed) return undefined;
    const key = await this.lookup(
      parsed.id,
      Math.min(options.maxAgeMs ?? Number.POSITIVE_INFINITY, this.options.cacheTtlMs),
    );
    if (!key || !secretMatches(parsed.secret, key.secretHash)) return undefined;
    const now = this.clock.now();
    if (key.expiresAt !== null && now >= key.expiresAt) return undefined;
    this.recordUse(key.id, now);
    return { kind: 'key', keyId: key.id, name: key.name, permissions: key.permissions };
  }

  private async lookup(id: string, maxAgeMs: number): Promise<ApiKey | undefined> {
    const now = this.clock.now();
    const cached = this.cache.get(id);
    if (cached && now - cached.readAt < maxAgeMs) {
      this.cache.delete(id); // re-insert: Map order is the LRU order
      this.cache.set(id, cached);
      return cached.key;
    }
    this.cache.delete(id);
    // An unknown id costs one store read per missTtlMs, however often it is sent.
    if (this.misses.has(id)) return undefined;
    const key = await this.store.getKey(id);
    if (key) remember(this.cache, id, { key, readAt: now }, this.options.cacheMaxEntries);
    else this.misses.add(id);
    return key;
  }

  /** Fire-and-forget, at most once per interval per key: never on the request's critical path. */
  private recordUse(id: string, now: number): void {
    const last = this.touchedAt.get(id);
    if (last !== undefined && now - last < this.options.lastUsedIntervalMs) return;
    remember(this.touchedAt, id, now, this.options.cacheMaxEntries);
    this.store.touchKey(id, now).catch((error: unknown) => this.options.onTouchError(error, id));
  }
}

function remember<V>(map: Map<string, V>, id: string, value: V, maxEntries: number): void {
  map.delete(id);
  map.set(id, value);
  while (map.size > maxEntries) {
    const oldest = map.keys().next();
    if (oldest.done) break;
    map.delete(oldest.value);
  }
}
