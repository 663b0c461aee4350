/**
 * A short memory of names a store did not have (unknown API key ids, unknown webhook sources), so that a
 * stream of unauthenticated requests for names that do not exist costs a store read per name per `ttlMs`,
 * not one per request. Bounded: at most `maxEntries` names (least recently added go first). A name created
 * on another instance is found there at most `ttlMs` later; the instance that creates it calls `forget`.
 */
export class MissCache {
  private readonly missedAt = new Map<string, number>();

  constructor(
    private readonly options: { ttlMs: number; maxEntries: number },
    private readonly now: () => number,
  ) {}

  /** True while a miss of `name` recorded less than `ttlMs` ago is remembered. */
  has(name: string): boolean {
    const at = this.missedAt.get(name);
    if (at === undefined) return false;
    if (this.now() - at < this.options.ttlMs) return true;
    this.missedAt.delete(name);
    return false;
  }

  add(name: string): void {
    if (this.options.ttlMs <= 0 || this.options.maxEntries <= 0) return;
    this.missedAt.delete(name);
    this.missedAt.set(name, this.now());
    while (this.missedAt.size > this.options.maxEntries) {
      const oldest = this.missedAt.keys().next();
      if (oldest.done) break;
      this.missedAt.delete(oldest.value);
    }
  }

  forget(name: string): void {
    this.missedAt.delete(name);
  }

  get size(): number {
    return this.missedAt.size;
  }
}
