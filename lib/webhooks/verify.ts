import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Verification of signed webhook deliveries (SPEC §2 "Webhook ingestion"). Pure: no I/O, no clock of its
 * own (`now` is passed in), and it never throws on bad input; a rejected delivery comes back with a stable
 * reason code that the route counts under `rejected.<reason>`.
 *
 * Every scheme signs with HMAC-SHA256. The signature presented is decoded to its 32 bytes and compared with
 * each expected digest by `crypto.timingSafeEqual` (equal lengths only, so the comparison never throws and
 * its time does not depend on where the bytes differ). Reasons:
 * - `missing-signature`: the scheme's signature headers are absent (or, for 'hmac-sha256', no header is
 *   configured);
 * - `malformed-signature`: present but unparseable: no signature of the supported version and encoding, or a
 *   timestamp that is not whole epoch seconds;
 * - `bad-signature`: at least one well-formed signature, and none matches any secret;
 * - `timestamp-out-of-tolerance`: the signature matches but the signed timestamp is more than
 *   `toleranceSec` from now, either way. The signature is checked first, so this code means an authentic
 *   delivery that is stale or replayed (or a sender with a wrong clock), never a forgery;
 * - `missing-delivery-id`: the signature matches but the scheme's delivery id is absent.
 */

export type WebhookScheme = 'standard-webhooks' | 'github' | 'stripe' | 'hmac-sha256' | 'none';

export interface VerifyInput {
  scheme: WebhookScheme;
  /** One or two secrets (two during rotation); a delivery is valid if it verifies under any. */
  secrets: readonly string[];
  /** Request headers, lower-cased names. */
  headers: Readonly<Record<string, string | undefined>>;
  /** The raw request body bytes, exactly as received. */
  body: Buffer;
  /** For 'hmac-sha256': the header carrying the signature (lower-case). */
  header?: string;
  /** Timestamp tolerance for schemes that sign a timestamp (standard-webhooks, stripe), seconds; default 300. */
  toleranceSec?: number;
  /** Now, epoch ms (injected, for tests). */
  now: number;
}

export type VerifyResult =
  | { ok: true; deliveryId: string | undefined; verified: boolean }
  | { ok: false; reason: RejectReason; detail: string };

/** Stable reason codes, used as counter names: */
export type RejectReason =
  | 'missing-signature'
  | 'malformed-signature'
  | 'bad-signature'
  | 'timestamp-out-of-tolerance'
  | 'missing-delivery-id';

export const DEFAULT_TOLERANCE_SEC = 300;

type Rejected = Extract<VerifyResult, { ok: false }>;

const SHA256_BYTES = 32;
const HEX_SHA256 = /^[0-9a-f]{64}$/i;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const BASE64_ANY_ALPHABET = /^[A-Za-z0-9+/_-]+={0,2}$/;
const EPOCH_SECONDS = /^\d{1,12}$/;

export function verifyWebhook(input: VerifyInput): VerifyResult {
  switch (input.scheme) {
    case 'standard-webhooks':
      return verifyStandardWebhooks(input);
    case 'github':
      return verifyGithub(input);
    case 'stripe':
      return verifyStripe(input);
    case 'hmac-sha256':
      return verifyHmacSha256(input);
    case 'none':
      return { ok: true, deliveryId: genericDeliveryId(input.headers), verified: false };
    default:
      return reject('malformed-signature', `unknown scheme '${String(input.scheme satisfies never)}'`);
  }
}

/**
 * Why a secret cannot verify anything under a scheme, or undefined when it can; for validating a source's
 * configuration before it is stored. Standard Webhooks secrets are base64 (optionally `whsec_`-prefixed);
 * the other schemes use the secret's UTF-8 bytes as the key, so any non-empty string will do.
 */
export function secretProblem(scheme: WebhookScheme, secret: string): string | undefined {
  if (scheme === 'none') return undefined;
  if (secret.length === 0) return 'the secret is empty';
  if (scheme === 'standard-webhooks' && standardWebhooksKey(secret) === undefined) {
    return "a Standard Webhooks secret is base64, optionally prefixed with 'whsec_'";
  }
  return undefined;
}

/**
 * Standard Webhooks (https://www.standardwebhooks.com), as sent by Svix and others: `webhook-id`,
 * `webhook-timestamp` and `webhook-signature` (a space-separated list of `v1,<base64>`; entries of other
 * versions, such as the asymmetric `v1a`, are ignored) over `${id}.${timestamp}.${body}`, keyed by the
 * base64-decoded secret. Svix's own `svix-id`, `svix-timestamp`, `svix-signature` are accepted when no
 * `webhook-*` header is present, as Svix's libraries do.
 */
function verifyStandardWebhooks(input: VerifyInput): VerifyResult {
  const { headers } = input;
  const family = ['webhook-', 'svix-'].find((prefix) =>
    ['id', 'timestamp', 'signature'].some((name) => headers[prefix + name] !== undefined),
  );
  const prefix = family ?? 'webhook-';
  const id = headerValue(headers, `${prefix}id`);
  const timestamp = headerValue(headers, `${prefix}timestamp`);
  const signatures = headerValue(headers, `${prefix}signature`);
  if (id === undefined || timestamp === undefined || signatures === undefined) {
    const absent = [
      id === undefined && `${prefix}id`,
      timestamp === undefined && `${prefix}timestamp`,
      signatures === undefined && `${prefix}signature`,
    ].filter((name) => name !== false);
    return reject('missing-signature', `missing ${absent.join(', ')}`);
  }
  const signedAt = epochSeconds(timestamp);
  if (signedAt === undefined) {
    return reject('malformed-signature', `${prefix}timestamp is not whole epoch seconds`);
  }
  const candidates: Buffer[] = [];
  for (const entry of signatures.split(/\s+/)) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    const decoded = fromBase64(entry.slice(comma + 1), BASE64);
    if (decoded !== undefined) candidates.push(decoded);
  }
  if (candidates.length === 0) {
    return reject('malformed-signature', `${prefix}signature holds no 'v1,<base64 HMAC-SHA256>' entry`);
  }
  const keys = input.secrets.map(standardWebhooksKey).filter((key) => key !== undefined);
  const expected = keys.map((key) => hmacSha256(key, `${id}.${timestamp}.`, input.body));
  const mismatch = checkSignatures(expected, candidates, `${prefix}signature`);
  if (mismatch !== undefined) return mismatch;
  const stale = checkTolerance(signedAt, input);
  if (stale !== undefined) return stale;
  return { ok: true, deliveryId: id, verified: true };
}

/** GitHub: `x-hub-signature-256: sha256=<hex>` over the raw body; the delivery id is `x-github-delivery`. */
function verifyGithub(input: VerifyInput): VerifyResult {
  const { headers } = input;
  const signature = headerValue(headers, 'x-hub-signature-256');
  if (signature === undefined) {
    return reject(
      'missing-signature',
      headerValue(headers, 'x-hub-signature') === undefined
        ? 'missing x-hub-signature-256'
        : 'missing x-hub-signature-256 (x-hub-signature, SHA-1, is not accepted)',
    );
  }
  const candidate = signature.startsWith('sha256=') ? fromHex(signature.slice('sha256='.length)) : undefined;
  if (candidate === undefined) {
    return reject('malformed-signature', "x-hub-signature-256 is not 'sha256=<64 hex digits>'");
  }
  const expected = input.secrets.map((secret) => hmacSha256(secret, input.body));
  const mismatch = checkSignatures(expected, [candidate], 'x-hub-signature-256');
  if (mismatch !== undefined) return mismatch;
  const deliveryId = headerValue(headers, 'x-github-delivery');
  if (deliveryId === undefined) return reject('missing-delivery-id', 'missing x-github-delivery');
  return { ok: true, deliveryId, verified: true };
}

/**
 * Stripe: `stripe-signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=<hex>]` over `${t}.${body}`, keyed by the
 * secret's UTF-8 bytes, `whsec_` prefix included (Stripe does not decode it). Any matching v1 suffices;
 * Stripe sends one per active secret while a secret is being rolled. v0 and unknown keys are ignored. The
 * delivery id is the event's `id` in the JSON body.
 */
function verifyStripe(input: VerifyInput): VerifyResult {
  const header = headerValue(input.headers, 'stripe-signature');
  if (header === undefined) return reject('missing-signature', 'missing stripe-signature');
  const timestamps: string[] = [];
  const candidates: Buffer[] = [];
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    if (eq < 0) continue;
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (key === 't') timestamps.push(value);
    if (key === 'v1') {
      const decoded = fromHex(value);
      if (decoded !== undefined) candidates.push(decoded);
    }
  }
  const [timestamp] = timestamps;
  const signedAt = timestamps.length === 1 && timestamp !== undefined ? epochSeconds(timestamp) : undefined;
  if (timestamp === undefined || signedAt === undefined) {
    return reject('malformed-signature', "stripe-signature needs exactly one 't=<epoch seconds>'");
  }
  if (candidates.length === 0) {
    return reject('malformed-signature', "stripe-signature holds no 'v1=<64 hex digits>'");
  }
  const expected = input.secrets.map((secret) => hmacSha256(secret, `${timestamp}.`, input.body));
  const mismatch = checkSignatures(expected, candidates, 'stripe-signature');
  if (mismatch !== undefined) return mismatch;
  const stale = checkTolerance(signedAt, input);
  if (stale !== undefined) return stale;
  const deliveryId = jsonStringId(input.body);
  if (deliveryId === undefined) {
    return reject(
      'missing-delivery-id',
      "the body is not a JSON object with a string 'id' (the Stripe event id)",
    );
  }
  return { ok: true, deliveryId, verified: true };
}

/**
 * A bare HMAC-SHA256 of the raw body, keyed by the secret's UTF-8 bytes, in the configured header: hex
 * (optionally `sha256=`-prefixed) or base64 (either alphabet, padding optional). One signature per header.
 */
function verifyHmacSha256(input: VerifyInput): VerifyResult {
  const name = input.header?.trim().toLowerCase();
  if (name === undefined || name === '') {
    return reject(
      'missing-signature',
      "scheme 'hmac-sha256' needs the name of its signature header ('header')",
    );
  }
  const value = headerValue(input.headers, name);
  if (value === undefined) return reject('missing-signature', `missing ${name}`);
  const bare = value.slice(0, 7).toLowerCase() === 'sha256=' ? value.slice(7) : value;
  const candidate = fromHex(bare) ?? fromBase64(bare, BASE64_ANY_ALPHABET);
  if (candidate === undefined) {
    return reject('malformed-signature', `${name} is neither hex nor base64 of a 32-byte HMAC-SHA256`);
  }
  const expected = input.secrets.map((secret) => hmacSha256(secret, input.body));
  const mismatch = checkSignatures(expected, [candidate], name);
  if (mismatch !== undefined) return mismatch;
  return { ok: true, deliveryId: genericDeliveryId(input.headers), verified: true };
}

function reject(reason: RejectReason, detail: string): Rejected {
  return { ok: false, reason, detail };
}

/** A header's value, trimmed; undefined when absent or blank. */
function headerValue(headers: VerifyInput['headers'], name: string): string | undefined {
  const value = headers[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** The delivery id for schemes without one of their own: `idempotency-key`, `x-delivery-id`, `webhook-id`. */
function genericDeliveryId(headers: VerifyInput['headers']): string | undefined {
  return (
    headerValue(headers, 'idempotency-key') ??
    headerValue(headers, 'x-delivery-id') ??
    headerValue(headers, 'webhook-id')
  );
}

function hmacSha256(key: string | Buffer, ...parts: ReadonlyArray<string | Buffer>): Buffer {
  const mac = createHmac('sha256', key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/** The HMAC key of a Standard Webhooks secret: base64 after an optional `whsec_` prefix. */
function standardWebhooksKey(secret: string): Buffer | undefined {
  const encoded = secret.trim().replace(/^whsec_/, '');
  if (!BASE64.test(encoded)) return undefined;
  const key = Buffer.from(encoded, 'base64');
  return key.length > 0 ? key : undefined;
}

function fromHex(text: string): Buffer | undefined {
  return HEX_SHA256.test(text) ? Buffer.from(text, 'hex') : undefined;
}

/** The 32 bytes of a base64 HMAC-SHA256, or undefined (Node's decoder accepts both alphabets). */
function fromBase64(text: string, alphabet: RegExp): Buffer | undefined {
  if (!alphabet.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.length === SHA256_BYTES ? bytes : undefined;
}

function epochSeconds(text: string): number | undefined {
  return EPOCH_SECONDS.test(text) ? Number(text) : undefined;
}

/**
 * Undefined when some candidate equals some expected digest. Every pair is compared, in constant time, so
 * the time taken depends only on how many signatures and secrets there are.
 */
function checkSignatures(
  expected: readonly Buffer[],
  candidates: readonly Buffer[],
  header: string,
): Rejected | undefined {
  if (expected.length === 0) return reject('bad-signature', 'no usable secret is configured');
  let matched = false;
  for (const digest of expected) {
    for (const candidate of candidates) {
      if (candidate.length === digest.length && timingSafeEqual(candidate, digest)) matched = true;
    }
  }
  return matched ? undefined : reject('bad-signature', `${header} matches no configured secret`);
}

function checkTolerance(signedAt: number, input: VerifyInput): Rejected | undefined {
  const toleranceSec = input.toleranceSec ?? DEFAULT_TOLERANCE_SEC;
  const skew = Math.floor(input.now / 1000) - signedAt;
  if (Math.abs(skew) <= toleranceSec) return undefined;
  const direction = skew > 0 ? `${skew} s old` : `${-skew} s in the future`;
  return reject(
    'timestamp-out-of-tolerance',
    `signed timestamp is ${direction}; tolerance is ${toleranceSec} s`,
  );
}

function jsonStringId(body: Buffer): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !('id' in parsed)) {
    return undefined;
  }
  return typeof parsed.id === 'string' && parsed.id !== '' ? parsed.id : undefined;
}
