import { type PartitionRef, partitionKey } from '../metadata/metadata-store.js';

type Waiter = { minHighWatermark: number; wake: () => void };

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
      if (highWatermark >= waiter.minHighWatermark) waiter.wake();
    }
  }

  /**
   * Resolves when a commit in this process takes the partition's high watermark to at least
   * `minHighWatermark`, when `timeoutMs` passes, or when `signal` aborts, whichever comes first.
   */
  wait(ref: PartitionRef, minHighWatermark: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const key = partitionKey(ref);
    return new Promise((resolve) => {
      if (signal?.aborted) {
        resolve();
        return;
      }
      const set = this.waiters.get(key) ?? new Set<Waiter>();
      this.waiters.set(key, set);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        set.delete(waiter);
        if (set.size === 0) this.waiters.delete(key);
        resolve();
      };
      const waiter: Waiter = { minHighWatermark, wake: done };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      signal?.addEventListener('abort', done, { once: true });
      set.add(waiter);
    });
  }
}
