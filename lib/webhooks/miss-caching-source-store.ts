import type { Clock } from '../clock.js';
import { MissCache } from '../miss-cache.js';
import type { WebhookCounters, WebhookSource, WebhookSourceStore } from './source-store.js';

export interface SourceMissCacheOptions {
  /** How long an unknown source is remembered as unknown: bounds how long one configured on another
   * instance is answered 404 here. A source configured through this store is found at once. */
  ttlMs: number;
  /** At most this many unknown sources are remembered. */
  maxEntries: number;
}

export const DEFAULT_SOURCE_MISS_CACHE: SourceMissCacheOptions = { ttlMs: 2_000, maxEntries: 10_000 };

/**
 * A WebhookSourceStore that remembers the sources it did not find for a moment, so deliveries to an unknown
 * source (they carry no token: anyone can send them) cost one store read per source per `ttlMs`.
 */
export class MissCachingWebhookSourceStore implements WebhookSourceStore {
  private readonly misses: MissCache;

  constructor(
    private readonly store: WebhookSourceStore,
    clock: Clock,
    options: SourceMissCacheOptions = DEFAULT_SOURCE_MISS_CACHE,
  ) {
    this.misses = new MissCache(options, () => clock.now());
  }

  async put(source: WebhookSource): Promise<void> {
    await this.store.put(source);
    this.misses.forget(source.source);
  }

  async get(source: string): Promise<(WebhookSource & { counters: WebhookCounters }) | undefined> {
    if (this.misses.has(source)) return undefined;
    const found = await this.store.get(source);
    if (found === undefined) this.misses.add(source);
    return found;
  }

  list(): Promise<Array<WebhookSource & { counters: WebhookCounters }>> {
    return this.store.list();
  }

  delete(source: string): Promise<void> {
    return this.store.delete(source);
  }

  count(source: string, counter: string): Promise<void> {
    return this.store.count(source, counter);
  }
}
