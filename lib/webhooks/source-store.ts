import { SluiceError } from '../errors.js';

export type WebhookSchemeName = 'standard-webhooks' | 'github' | 'stripe' | 'hmac-sha256' | 'none';

/** A configured webhook source, as stored: secrets sealed (SecretBox), never in the clear. */
export interface WebhookSource {
  source: string;
  topic: string;
  scheme: WebhookSchemeName;
  /** Sealed secrets: one, or two during a rotation. None for scheme 'none'. */
  sealedSecrets: string[];
  /** For 'hmac-sha256': the header that carries the signature (lower-case). */
  header?: string;
  toleranceSec: number;
  /** `header:<name>` or `json:<dot.path>`; absent: records have no key. */
  key?: string;
  /** Request headers copied onto each record (lower-case names). */
  passHeaders: string[];
  /** How long a delivery id is remembered (senders retry for days). */
  dedupeWindowMs: number;
  createdAt: number;
  updatedAt: number;
}

/** Per-source counters: accepted, duplicate, and rejected by reason. */
export interface WebhookCounters {
  accepted: number;
  duplicate: number;
  rejected: Record<string, number>;
}

export interface WebhookSourceStore {
  /** Creates or replaces a source's configuration; its counters are kept. */
  put(source: WebhookSource): Promise<void>;
  get(source: string): Promise<(WebhookSource & { counters: WebhookCounters }) | undefined>;
  /** Every configured source, by name. */
  list(): Promise<Array<WebhookSource & { counters: WebhookCounters }>>;
  /** Throws WebhookNotFoundError when there is no such source. */
  delete(source: string): Promise<void>;
  /** Adds 1 to a counter: 'accepted', 'duplicate' or `rejected.<reason>`. */
  count(source: string, counter: string): Promise<void>;
}

export class WebhookNotFoundError extends SluiceError {
  constructor(source: string) {
    super('WEBHOOK_NOT_FOUND', `webhook source '${source}' is not configured`);
  }
}

export const EMPTY_COUNTERS: WebhookCounters = { accepted: 0, duplicate: 0, rejected: {} };

/** In-memory store for unit tests. */
export class MemoryWebhookSourceStore implements WebhookSourceStore {
  private readonly sources = new Map<string, WebhookSource>();
  private readonly counters = new Map<string, WebhookCounters>();

  async put(source: WebhookSource): Promise<void> {
    this.sources.set(source.source, structuredClone(source));
    if (!this.counters.has(source.source)) this.counters.set(source.source, structuredClone(EMPTY_COUNTERS));
  }

  async get(source: string) {
    const found = this.sources.get(source);
    if (!found) return undefined;
    return {
      ...structuredClone(found),
      counters: structuredClone(this.counters.get(source) ?? EMPTY_COUNTERS),
    };
  }

  async list() {
    const names = [...this.sources.keys()].sort();
    const all = await Promise.all(names.map((name) => this.get(name)));
    return all.filter((source) => source !== undefined);
  }

  async delete(source: string): Promise<void> {
    if (!this.sources.delete(source)) throw new WebhookNotFoundError(source);
    this.counters.delete(source);
  }

  async count(source: string, counter: string): Promise<void> {
    const c = this.counters.get(source);
    if (!c) return;
    if (counter === 'accepted') c.accepted++;
    else if (counter === 'duplicate') c.duplicate++;
    else if (counter.startsWith('rejected.')) {
      const reason = counter.slice('rejected.'.length);
      c.rejected[reason] = (c.rejected[reason] ?? 0) + 1;
    }
  }
}
