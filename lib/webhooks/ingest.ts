import { createHash } from 'node:crypto';
import type { Clock } from '../clock.js';
import { ConflictError, InvalidRequestError, SluiceError, TopicNotFoundError } from '../errors.js';
import { DEFAULT_LIMITS } from '../limits.js';
import type { Log } from '../log/log.js';
import { jsonDepthExceeds, type ProduceInput } from '../log/produce.js';
import type { SecretBox } from './secrets.js';
import {
  WebhookNotFoundError,
  type WebhookSchemeName,
  type WebhookSource,
  type WebhookSourceStore,
} from './source-store.js';
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
  /** How deeply a JSON body may nest (as a produced value: SPEC Produce); a deeper one is refused (400). */
  maxJsonDepth: number;
}

const DEFAULTS: WebhookIngestorOptions = {
  cacheTtlMs: 5_000,
  maxDuplicateWaitMs: 10_000,
  maxJsonDepth: DEFAULT_LIMITS.maxJsonDepth,
};

/**
 * Schemes whose signature covers a delivery id or a timestamp: a replay under a new id fails verification
 * (standard-webhooks signs the id; stripe signs a timestamp, and its id is in the signed body). The others
 * (github, hmac-sha256, none) deduplicate on the body's hash instead.
 */
const SIGNS_ID_OR_TIME: ReadonlySet<WebhookSchemeName> = new Set(['standard-webhooks', 'stripe']);

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
    requestHeaders: Readonly<Record<string, string | undefined>>,
    body: Buffer,
  ): Promise<DeliveryResult> {
    // Looked up by names the source's configuration chooses (key extractor, signature and pass-through
    // headers): a null-prototype copy, so that `constructor` or `__proto__` is an absent header, not a
    // property of Object.prototype.
    const headers: Record<string, string | undefined> = Object.create(null);
    for (const [name, value] of Object.entries(requestHeaders)) headers[name] = value;
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
    // Where the signature covers no delivery id and no timestamp, the id is the sender's unsigned word: a
    // captured delivery replayed under a fresh id would verify again. There the body is the identity, so
    // the same bytes within the window are a duplicate whatever id they carry (SPEC Webhooks).
    const dedupeKey = SIGNS_ID_OR_TIME.has(source.scheme) ? deliveryId : `sha256:${bodyHash}`;
    let input: ProduceInput;
    try {
      input = toRecord(source, headers, body, deliveryId, now, verdict.verified, this.options.maxJsonDepth);
    } catch (error) {
      if (error instanceof InvalidRequestError) await this.count(sourceName, 'rejected.invalid-body');
      throw error;
    }
    const deadline = now + this.options.maxDuplicateWaitMs;
    for (let wait = 50; ; wait = Math.min(wait * 2, 1_000)) {
      try {
        const result = await this.deps.log.produce(source.topic, input, {
          idempotency: {
            scope: `webhook:${sourceName}`,
            key: dedupeKey,
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
        if (error instanceof InvalidRequestError) {
          // The delivery cannot be a record as it is (for example a key that is not well-formed Unicode).
          await this.count(sourceName, 'rejected.invalid-body');
          throw error;
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
  maxJsonDepth: number,
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
  // Before anything serialises it (the key extractor, the produce): JSON.stringify recurses.
  if (isJson && jsonDepthExceeds(json, maxJsonDepth)) {
    throw new InvalidRequestError(
      `the JSON body nests arrays and objects more than ${maxJsonDepth} levels deep`,
    );
  }
  const text = isJson ? undefined : utf8(body);
  const format: ProduceInput['format'] = isJson ? 'json' : text !== undefined ? 'text' : 'binary';
  const value = isJson ? json : text !== undefined ? text : body.toString('base64');
  const recordHeaders: Record<string, string> = Object.create(null);
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
  // Own properties only: a name such as `constructor` or `__proto__` is data, never Object.prototype's.
  if (extractor.startsWith('header:')) {
    const name = extractor.slice(7).toLowerCase();
    return Object.hasOwn(headers, name) ? (headers[name] ?? null) : null;
  }
  if (!extractor.startsWith('json:')) return null;
  let node: unknown = json;
  for (const part of extractor.slice(5).split('.')) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, part)) return null;
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
