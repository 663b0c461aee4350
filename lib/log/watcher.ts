import { type PartitionRef, partitionKey } from '../metadata/metadata-store.js';

type Waiter = { minHighWatermark: number; wake: (highWatermark?: number) => void };

/**
 * Wakes long-polling readers when this process commits to a partition. Commits made by other processes
 * (other Lambda instances, other agents) are seen by the readers' own polling of the index, so the watcher
 * only ever shortens a wait; correctness never depends on it.
 */
export class PartitionWatcher {
  private readonly waiters = new Map<string, Set<Waiter>>();

  notify(ref: PartitionRef, highWatermark: number): void {
    const set = this.waiters.get(partitionKey(ref));
    if (!set) return;
    for (const waiter of set) {
      if (highWatermark >= waiter.minHighWatermark) waiter.wake(highWatermark);
    }
  }

  /**
   * Resolves when a commit in this process takes the partition's high watermark to at least
   * `minHighWatermark` (with that committed high watermark), or with undefined when `timeoutMs` passes or
   * `signal` aborts, whichever comes first.
   */
  wait(
    ref: PartitionRef,
    minHighWatermark: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<number | undefined> {
    const key = partitionKey(ref);
    return new Promise((resolve) => {
      if (signal?.aborted) {
        resolve(undefined);
        return;
      }
      const set = this.waiters.get(key) ?? new Set<Waiter>();
      this.waiters.set(key, set);
      const done = (highWatermark?: number) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        set.delete(waiter);
        if (set.size === 0) this.waiters.delete(key);
        resolve(highWatermark);
      };
      const onAbort = () => done(undefined);
      const waiter: Waiter = { minHighWatermark, wake: done };
      const timer = setTimeout(onAbort, Math.max(0, timeoutMs));
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(waiter);
    });
  }
}
