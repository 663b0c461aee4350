import { createHash } from 'node:crypto';
import type { Clock } from '../clock.js';
import { ConflictError, SluiceError, TopicNotFoundError } from '../errors.js';
import type { Log } from '../log/log.js';
import type { ProduceInput } from '../log/produce.js';
import type { SecretBox } from './secrets.js';
import { WebhookNotFoundError, type WebhookSource, type WebhookSourceStore } from './source-store.js';
import { type RejectReason, verifyWebhook } from './verify.js';

/** What a delivery became: a new record, or the record an earlier delivery of the same id became. */
export interface DeliveryResult {
  duplicate: boolean;
  topic: string;
  partition: number;
  offset: number;
}

export class WebhookSignatureError extends SluiceError {
  constructor(
    readonly reason: RejectReason,
    detail: string,
  ) {
    super('WEBHOOK_SIGNATURE_INVALID', detail);
  }
}

export interface WebhookIngestorOptions {
  /** How long a source's configuration is trusted once read (a reconfiguration applies within it). */
  cacheTtlMs: number;
  /** How long a delivery waits for a concurrent delivery of the same id to finish, before answering 409. */
  maxDuplicateWaitMs: number;
}

const DEFAULTS: WebhookIngestorOptions = { cacheTtlMs: 5_000, maxDuplicateWaitMs: 10_000 };

/** Header names Sluice puts on every webhook record. */
export const WEBHOOK_HEADERS = {
  source: 'webhook-source',
  deliveryId: 'webhook-delivery-id',
  contentType: 'content-type',
  receivedAt: 'webhook-received-at',
  verified: 'webhook-verified',
} as const;

/**
 * Turns signed third-party deliveries into records, exactly once per delivery id (docs/ARCHITECTURE.md §11):
 * verify over the raw bytes, then one idempotent produce keyed by the delivery id, whose idempotency record
 * is committed atomically with the record itself. A redelivery (or a racing duplicate) gets the first
 * delivery's offset and appends nothing.
 */
export class WebhookIngestor {
  private readonly options: WebhookIngestorOptions;
  private readonly cache = new Map<string, { source: WebhookSource; secrets: string[]; at: number }>();

  constructor(
    private readonly deps: { log: Log; sources: WebhookSourceStore; box: SecretBox; clock: Clock },
    options: Partial<WebhookIngestorOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** Forget a cached configuration (after this process changed it). */
  invalidate(source: string): void {
    this.cache.delete(source);
  }

  async deliver(
    sourceName: string,
    headers: Readonly<Record<string, string | undefined>>,
    body: Buffer,
  ): Promise<DeliveryResult> {
    const { source, secrets } = await this.source(sourceName);
    const now = this.deps.clock.now();
    const verdict = verifyWebhook({
      scheme: source.scheme,
      secrets,
      headers,
      body,
      ...(source.header !== undefined ? { header: source.header } : {}),
      toleranceSec: source.toleranceSec,
      now,
    });
    if (!verdict.ok) {
      await this.count(sourceName, `rejected.${verdict.reason}`);
      throw new WebhookSignatureError(verdict.reason, verdict.detail);
    }
    const bodyHash = createHash('sha256').update(body).digest('base64url');
    // Without a delivery id (a generic sender that sends none), the body itself identifies the delivery.
    const deliveryId = verdict.deliveryId ?? `sha256:${bodyHash}`;
    const input = toRecord(source, headers, body, deliveryId, now, verdict.verified);
    const deadline = now + this.options.maxDuplicateWaitMs;
    for (let wait = 50; ; wait = Math.min(wait * 2, 1_000)) {
      try {
        const result = await this.deps.log.produce(source.topic, input, {
          idempotency: {
            scope: `webhook:${sourceName}`,
            key: deliveryId,
            bodyHash,
            windowMs: source.dedupeWindowMs,
          },
        });
        const first = result.offsets[0];
        if (!first) throw new Error('a webhook produce returned no offset');
        await this.count(sourceName, result.replayed ? 'duplicate' : 'accepted');
        return {
          duplicate: result.replayed,
          topic: source.topic,
          partition: first.partition,
          offset: first.offset,
        };
      } catch (error) {
        if (error instanceof TopicNotFoundError) {
          await this.count(sourceName, 'rejected.topic-not-found');
          throw new SluiceError(
            'TOPIC_NOT_FOUND',
            `webhook source '${sourceName}' delivers to topic '${source.topic}', which does not exist (deleted?): ` +
              'create it again or reconfigure the source',
          );
        }
        if (error instanceof SluiceError && error.code === 'IDEMPOTENCY_KEY_REUSED') {
          await this.count(sourceName, 'rejected.delivery-id-reused');
          throw new SluiceError(
            'IDEMPOTENCY_KEY_REUSED',
            `delivery '${deliveryId}' was received before with a different body`,
          );
        }
        // A concurrent delivery of the same id holds it: wait for its outcome rather than append twice.
        if (error instanceof ConflictError && this.deps.clock.now() + wait < deadline) {
          await new Promise((resolve) => setTimeout(resolve, wait));
          continue;
        }
        throw error;
      }
    }
  }

  private async source(name: string): Promise<{ source: WebhookSource; secrets: string[] }> {
    const now = this.deps.clock.now();
    const cached = this.cache.get(name);
    if (cached && now - cached.at < this.options.cacheTtlMs) return cached;
    const stored = await this.deps.sources.get(name);
    if (!stored) {
      this.cache.delete(name);
      throw new WebhookNotFoundError(name);
    }
    const { counters: _counters, ...source } = stored;
    const entry = { source, secrets: source.sealedSecrets.map((s) => this.deps.box.open(s)), at: now };
    if (this.cache.size > 1_000) this.cache.clear();
    this.cache.set(name, entry);
    return entry;
  }

  private async count(source: string, counter: string): Promise<void> {
    // Counting never fails a delivery.
    await this.deps.sources.count(source, counter).catch(() => undefined);
  }
}

/** The record of a delivery: the body as JSON, text or binary; the key from the extractor; headers. */
function toRecord(
  source: WebhookSource,
  headers: Readonly<Record<string, string | undefined>>,
  body: Buffer,
  deliveryId: string,
  now: number,
  verified: boolean,
): ProduceInput {
  const contentType = headers['content-type'] ?? '';
  let json: unknown;
  let isJson = false;
  if (/\bjson\b/i.test(contentType)) {
    try {
      json = JSON.parse(body.toString('utf8'));
      isJson = json !== null; // a JSON null would read as a tombstone: keep it as text
    } catch {
      isJson = false;
    }
  }
  const text = isJson ? undefined : utf8(body);
  const format: ProduceInput['format'] = isJson ? 'json' : text !== undefined ? 'text' : 'binary';
  const value = isJson ? json : text !== undefined ? text : body.toString('base64');
  const recordHeaders: Record<string, string> = {};
  for (const name of source.passHeaders) {
    const v = headers[name];
    if (v !== undefined) recordHeaders[name] = v;
  }
  Object.assign(recordHeaders, {
    [WEBHOOK_HEADERS.source]: source.source,
    [WEBHOOK_HEADERS.deliveryId]: deliveryId,
    [WEBHOOK_HEADERS.contentType]: contentType,
    [WEBHOOK_HEADERS.receivedAt]: String(now),
    [WEBHOOK_HEADERS.verified]: String(verified),
  });
  return {
    format,
    records: [
      { key: extractKey(source.key, headers, isJson ? json : undefined), value, headers: recordHeaders },
    ],
  };
}

/** `header:<name>` or `json:<dot.path>`; a missing value gives no key. */
export function extractKey(
  extractor: string | undefined,
  headers: Readonly<Record<string, string | undefined>>,
  json: unknown,
): string | null {
  if (!extractor) return null;
  if (extractor.startsWith('header:')) return headers[extractor.slice(7).toLowerCase()] ?? null;
  if (!extractor.startsWith('json:')) return null;
  let node: unknown = json;
  for (const part of extractor.slice(5).split('.')) {
    if (node === null || typeof node !== 'object') return null;
    node = (node as Record<string, unknown>)[part];
  }
  if (node === undefined || node === null) return null;
  return typeof node === 'string' ? node : JSON.stringify(node);
}

/** The body as text when it is valid UTF-8 (and not JSON), else undefined (stored as binary). */
function utf8(body: Buffer): string | undefined {
  const text = body.toString('utf8');
  return Buffer.from(text, 'utf8').equals(body) ? text : undefined;
}
