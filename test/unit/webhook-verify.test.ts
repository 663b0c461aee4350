import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  secretProblem,
  type VerifyInput,
  verifyWebhook,
  type WebhookScheme,
} from '../../lib/webhooks/verify.js';

/*
 * Each scheme is checked first against a vector published by its specification, its vendor's docs or its
 * official SDK, so that a mistake shared by our verifier and our own test signer cannot pass unnoticed. The
 * negative cases (wrong secret, altered body, missing and malformed headers, stale timestamps, rotation)
 * then use the small signers below, which follow each scheme's documented algorithm.
 */

const hmac = (key: string | Buffer, content: string | Buffer): Buffer =>
  createHmac('sha256', key).update(content).digest();

/** Flips the last bit of the body's first byte: a one-byte change. */
function alterOneByte(body: Buffer): Buffer {
  const copy = Buffer.from(body);
  copy[0] = (copy[0] ?? 0) ^ 1;
  return copy;
}

function input(scheme: WebhookScheme, fields: Partial<VerifyInput>): VerifyInput {
  return { scheme, secrets: [], headers: {}, body: Buffer.alloc(0), now: 0, ...fields };
}

describe('standard-webhooks', () => {
  // The Standard Webhooks reference vector: standard-webhooks/standard-webhooks,
  // libraries/javascript/src/webhook.test.ts, test "sign function works" (the same values appear in the
  // other reference libraries' tests and in Svix's docs).
  const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
  const TIMESTAMP = 1614265330;
  const BODY = Buffer.from('{"test": 2432232314}');
  const SIGNATURE = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
  const NOW = TIMESTAMP * 1000;
  const OTHER_SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

  const headers = (signature = SIGNATURE, timestamp = String(TIMESTAMP), id = ID) => ({
    'webhook-id': id,
    'webhook-timestamp': timestamp,
    'webhook-signature': signature,
  });
  const sign = (secret: string, timestamp = TIMESTAMP, body = BODY, id = ID): string => {
    const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
    return `v1,${hmac(key, Buffer.concat([Buffer.from(`${id}.${timestamp}.`), body])).toString('base64')}`;
  };
  const verify = (fields: Partial<VerifyInput>) =>
    verifyWebhook(
      input('standard-webhooks', { secrets: [SECRET], headers: headers(), body: BODY, now: NOW, ...fields }),
    );

  it('verifies the specification’s published example, with webhook-id as the delivery id', () => {
    expect(verify({})).toEqual({ ok: true, deliveryId: ID, verified: true });
  });

  it('accepts the secret without its whsec_ prefix', () => {
    expect(verify({ secrets: ['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] })).toMatchObject({ ok: true });
  });

  it('accepts Svix-branded svix-* headers', () => {
    const svix = { 'svix-id': ID, 'svix-timestamp': String(TIMESTAMP), 'svix-signature': SIGNATURE };
    expect(verify({ headers: svix })).toEqual({ ok: true, deliveryId: ID, verified: true });
  });

  it('our signer reproduces the published signature (so the cases below test the real algorithm)', () => {
    expect(sign(SECRET)).toBe(SIGNATURE);
  });

  it('rejects a wrong secret', () => {
    expect(verify({ secrets: [OTHER_SECRET] })).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('rejects a body altered by one byte', () => {
    expect(verify({ body: alterOneByte(BODY) })).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('rejects a changed webhook-id, which is part of the signed content', () => {
    expect(verify({ headers: headers(SIGNATURE, String(TIMESTAMP), 'msg_other') })).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])(
    'rejects a delivery without %s',
    (name) => {
      const partial = Object.fromEntries(Object.entries(headers()).filter(([key]) => key !== name));
      expect(verify({ headers: partial })).toMatchObject({ ok: false, reason: 'missing-signature' });
    },
  );

  it('treats a blank header as missing', () => {
    expect(verify({ headers: headers('  ') })).toMatchObject({ ok: false, reason: 'missing-signature' });
  });

  it.each([
    ['no version prefix', 'g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='],
    ['not base64', 'v1,not*base64!'],
    ['a truncated signature', 'v1,g0hM9SsE'],
    ['an empty v1 entry', 'v1,'],
  ])('rejects a signature header with %s as malformed', (_, signature) => {
    expect(verify({ headers: headers(signature) })).toMatchObject({
      ok: false,
      reason: 'malformed-signature',
    });
  });

  it('rejects a timestamp that is not epoch seconds as malformed', () => {
    expect(verify({ headers: headers(SIGNATURE, '2021-02-25T15:02:10Z') })).toMatchObject({
      ok: false,
      reason: 'malformed-signature',
    });
  });

  it('ignores entries of other versions, and rejects a header holding only those', () => {
    const v1a = SIGNATURE.replace('v1,', 'v1a,');
    expect(verify({ headers: headers(`v2,${SIGNATURE.slice(3)} ${SIGNATURE}`) })).toMatchObject({ ok: true });
    expect(verify({ headers: headers(v1a) })).toMatchObject({ ok: false, reason: 'malformed-signature' });
  });

  it('accepts a header listing several signatures when any one matches', () => {
    const list = [sign(OTHER_SECRET), 'v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=', SIGNATURE].join(' ');
    expect(verify({ headers: headers(list) })).toMatchObject({ ok: true, deliveryId: ID });
  });

  it('during a rotation, verifies under the second of two secrets', () => {
    expect(verify({ secrets: [OTHER_SECRET, SECRET] })).toMatchObject({ ok: true, verified: true });
    const signedWithNew = headers(sign(OTHER_SECRET));
    expect(verify({ secrets: [SECRET, OTHER_SECRET], headers: signedWithNew })).toMatchObject({ ok: true });
  });

  it('accepts timestamps up to the tolerance away, in both directions', () => {
    expect(verify({ now: NOW + 300_999 })).toMatchObject({ ok: true });
    expect(verify({ now: NOW - 300_000 })).toMatchObject({ ok: true });
  });

  it('rejects a timestamp older than the tolerance (default 300 s)', () => {
    expect(verify({ now: NOW + 301_000 })).toMatchObject({ ok: false, reason: 'timestamp-out-of-tolerance' });
  });

  it('rejects a timestamp further in the future than the tolerance', () => {
    expect(verify({ now: NOW - 301_000 })).toMatchObject({ ok: false, reason: 'timestamp-out-of-tolerance' });
  });

  it('honours a configured tolerance', () => {
    expect(verify({ now: NOW + 61_000, toleranceSec: 60 })).toMatchObject({
      ok: false,
      reason: 'timestamp-out-of-tolerance',
    });
    expect(verify({ now: NOW + 3_600_000, toleranceSec: 3_600 })).toMatchObject({ ok: true });
  });

  it('reports a forgery as bad-signature even when its timestamp is also stale', () => {
    expect(verify({ secrets: [OTHER_SECRET], now: NOW + 3_600_000 })).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('rejects everything when no configured secret is usable base64', () => {
    expect(verify({ secrets: ['not base64!'] })).toMatchObject({ ok: false, reason: 'bad-signature' });
    expect(verify({ secrets: [] })).toMatchObject({ ok: false, reason: 'bad-signature' });
  });
});

describe('github', () => {
  // GitHub Docs, "Validating webhook deliveries" ("Testing the webhook payload validation"):
  // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
  const SECRET = "It's a Secret to Everybody";
  const BODY = Buffer.from('Hello, World!');
  const SIGNATURE = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
  const DELIVERY = '72d3162e-cc78-11e3-81ab-4c9367dc0958';

  const headers = (signature = SIGNATURE, delivery = DELIVERY) => ({
    'x-hub-signature-256': signature,
    'x-github-delivery': delivery,
  });
  const sign = (secret: string, body = BODY) => `sha256=${hmac(secret, body).toString('hex')}`;
  const verify = (fields: Partial<VerifyInput>) =>
    verifyWebhook(input('github', { secrets: [SECRET], headers: headers(), body: BODY, ...fields }));

  it('verifies the docs’ example, with x-github-delivery as the delivery id', () => {
    expect(verify({})).toEqual({ ok: true, deliveryId: DELIVERY, verified: true });
  });

  it('our signer reproduces the docs’ signature', () => {
    expect(sign(SECRET)).toBe(SIGNATURE);
  });

  it('rejects a wrong secret', () => {
    expect(verify({ secrets: ["It's a Secret to Nobody"] })).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('rejects a body altered by one byte', () => {
    expect(verify({ body: Buffer.from('Hello, World?') })).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
    expect(verify({ body: alterOneByte(BODY) })).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('rejects a delivery without x-hub-signature-256, even when it has the SHA-1 x-hub-signature', () => {
    expect(verify({ headers: { 'x-github-delivery': DELIVERY } })).toMatchObject({
      ok: false,
      reason: 'missing-signature',
    });
    const sha1 = `sha1=${createHmac('sha1', SECRET).update(BODY).digest('hex')}`;
    expect(verify({ headers: { 'x-hub-signature': sha1, 'x-github-delivery': DELIVERY } })).toMatchObject({
      ok: false,
      reason: 'missing-signature',
    });
  });

  it.each([
    ['no sha256= prefix', SIGNATURE.slice('sha256='.length)],
    ['another algorithm', SIGNATURE.replace('sha256=', 'sha1=')],
    ['a truncated digest', SIGNATURE.slice(0, 40)],
    ['non-hex digits', `sha256=${'z'.repeat(64)}`],
    ['two signatures (GitHub sends one)', `${SIGNATURE},${SIGNATURE}`],
  ])('rejects a signature with %s as malformed', (_, signature) => {
    expect(verify({ headers: headers(signature) })).toMatchObject({
      ok: false,
      reason: 'malformed-signature',
    });
  });

  it('accepts upper-case hex digits', () => {
    expect(verify({ headers: headers(`sha256=${SIGNATURE.slice(7).toUpperCase()}`) })).toMatchObject({
      ok: true,
    });
  });

  it('rejects an authentic delivery without x-github-delivery as missing-delivery-id', () => {
    expect(verify({ headers: { 'x-hub-signature-256': SIGNATURE } })).toMatchObject({
      ok: false,
      reason: 'missing-delivery-id',
    });
    expect(verify({ headers: headers(SIGNATURE, ' ') })).toMatchObject({
      ok: false,
      reason: 'missing-delivery-id',
    });
  });

  it('checks the signature before the delivery id', () => {
    expect(verify({ secrets: ['wrong'], headers: { 'x-hub-signature-256': SIGNATURE } })).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('during a rotation, verifies under the second of two secrets', () => {
    expect(verify({ secrets: ['the new secret', SECRET] })).toMatchObject({ ok: true, verified: true });
    expect(
      verify({ secrets: [SECRET, 'the new secret'], headers: headers(sign('the new secret')) }),
    ).toMatchObject({
      ok: true,
    });
  });

  it('signs no timestamp, so the clock does not matter', () => {
    expect(verify({ now: Date.UTC(2099, 0, 1) })).toMatchObject({ ok: true });
  });
});

describe('stripe', () => {
  // A Stripe-signature header that Stripe sent with a test webhook, kept as a fixture in the official .NET
  // SDK: stripe/stripe-dotnet at 0fec46028823824ada4de6729d2b80115f2f0294,
  // src/Stripe.Tests.XUnit/events/when_constructing_an_event.cs (header and secret) and event.json (the body;
  // signed without a trailing newline). Its v0 entry is a signature Stripe's verifiers ignore.
  const SECRET = 'whsec_H68eTX02a4bCbiQOOoSAsIytOvuWZrQC';
  const T = 1493329224;
  const HEADER =
    't=1493329224,v1=09b8e30b483570b410390cdac6327c036937e84a6316008a0143db833ac21a09,' +
    'v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef';
  const BODY = Buffer.from(
    `{
  "id": "evt_1ADKLLLWlyqCpbLp0qRyqExL",
  "object": "event",
  "api_version": "2017-04-06",
  "created": 1493329207,
  "data": {
    "object": {
      "id": "ii_1ACxoELWlyqCpbLpBSzyGWHX",
      "object": "invoiceitem",
      "amount": 1000,
      "currency": "usd",
      "customer": "cus_AY3wPzBBv9DU2H",
      "date": 1493242586,
      "description": "Test Invoice Item",
      "discountable": false,
      "invoice": "in_1ADKLKLWlyqCpbLpMhrRBk7u",
      "livemode": false,
      "metadata": {
        "A": "Value-A",
        "B": "Value-B"
      },
      "period": {
        "start": 1493242586,
        "end": 1493242586
      },
      "plan": null,
      "proration": false,
      "quantity": null,
      "subscription": null
    },
    "previous_attributes": {
      "invoice": null
    }
  },
  "livemode": false,
  "pending_webhooks": 2,
  "request": null,
  "type": "invoiceitem.updated"
}`,
  );
  const EVENT_ID = 'evt_1ADKLLLWlyqCpbLp0qRyqExL';
  const NOW = T * 1000 + 4_000;

  const v1 = (secret: string, t = T, body = BODY) =>
    hmac(secret, Buffer.concat([Buffer.from(`${t}.`), body])).toString('hex');
  const verify = (fields: Partial<VerifyInput>) =>
    verifyWebhook(
      input('stripe', {
        secrets: [SECRET],
        headers: { 'stripe-signature': HEADER },
        body: BODY,
        now: NOW,
        ...fields,
      }),
    );
  const withHeader = (header: string, fields: Partial<VerifyInput> = {}) =>
    verify({ headers: { 'stripe-signature': header }, ...fields });

  it('verifies a header Stripe sent, with the event id from the body as the delivery id', () => {
    expect(verify({})).toEqual({ ok: true, deliveryId: EVENT_ID, verified: true });
  });

  it('our signer reproduces Stripe’s v1 signature', () => {
    expect(v1(SECRET)).toBe('09b8e30b483570b410390cdac6327c036937e84a6316008a0143db833ac21a09');
  });

  it('keys the HMAC with the whole whsec_ string, not its base64 decoding', () => {
    expect(verify({ secrets: ['H68eTX02a4bCbiQOOoSAsIytOvuWZrQC'] })).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('rejects a wrong secret', () => {
    expect(verify({ secrets: ['whsec_someoneElsesSecret'] })).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('rejects a body altered by one byte', () => {
    expect(verify({ body: alterOneByte(BODY) })).toMatchObject({ ok: false, reason: 'bad-signature' });
    expect(verify({ body: Buffer.concat([BODY, Buffer.from('\n')]) })).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('rejects a delivery without stripe-signature', () => {
    expect(verify({ headers: {} })).toMatchObject({ ok: false, reason: 'missing-signature' });
  });

  it.each([
    ['garbage', "I'm not even a real signature header"],
    ['no timestamp', `v1=${v1(SECRET)}`],
    ['an empty timestamp', `t=,v1=${v1(SECRET)}`],
    ['a non-numeric timestamp', `t=yesterday,v1=${v1(SECRET)}`],
    ['two timestamps', `t=${T},t=${T + 1},v1=${v1(SECRET)}`],
    ['no v1 signature', `t=${T},v0=${v1(SECRET)}`],
    ['a v1 that is not 64 hex digits', `t=${T},v1=potato`],
  ])('rejects a header with %s as malformed', (_, header) => {
    expect(withHeader(header)).toMatchObject({ ok: false, reason: 'malformed-signature' });
  });

  it('accepts a header with several v1 signatures when any one matches, ignoring unreadable ones', () => {
    const header = `t=${T},v1=potato,v1=${v1('whsec_rolledKey')},v1=${v1(SECRET)},v0=${v1(SECRET)}`;
    expect(withHeader(header)).toEqual({ ok: true, deliveryId: EVENT_ID, verified: true });
  });

  it('during a rotation, verifies under the second of two secrets', () => {
    expect(verify({ secrets: ['whsec_newSecret', SECRET] })).toMatchObject({ ok: true, verified: true });
    const signedWithNew = `t=${T},v1=${v1('whsec_newSecret')}`;
    expect(withHeader(signedWithNew, { secrets: [SECRET, 'whsec_newSecret'] })).toMatchObject({ ok: true });
  });

  it('rejects a timestamp older than the tolerance (default 300 s)', () => {
    expect(verify({ now: (T + 301) * 1000 })).toMatchObject({
      ok: false,
      reason: 'timestamp-out-of-tolerance',
    });
    expect(verify({ now: (T + 300) * 1000 })).toMatchObject({ ok: true });
  });

  it('rejects a timestamp further in the future than the tolerance', () => {
    expect(verify({ now: (T - 301) * 1000 })).toMatchObject({
      ok: false,
      reason: 'timestamp-out-of-tolerance',
    });
    expect(verify({ now: (T - 300) * 1000 })).toMatchObject({ ok: true });
  });

  it('honours a configured tolerance', () => {
    expect(verify({ now: (T + 11) * 1000, toleranceSec: 10 })).toMatchObject({
      ok: false,
      reason: 'timestamp-out-of-tolerance',
    });
  });

  it('rejects an authentic body that is not JSON as missing-delivery-id', () => {
    const body = Buffer.from('} I am not valid JSON; 123][');
    expect(withHeader(`t=${T},v1=${v1(SECRET, T, body)}`, { body })).toMatchObject({
      ok: false,
      reason: 'missing-delivery-id',
    });
  });

  it.each([
    ['no id', '{"object":"event"}'],
    ['a numeric id', '{"id":42}'],
    ['an empty id', '{"id":""}'],
    ['an array', '["evt_1"]'],
  ])('rejects an authentic JSON body with %s as missing-delivery-id', (_, json) => {
    const body = Buffer.from(json);
    expect(withHeader(`t=${T},v1=${v1(SECRET, T, body)}`, { body })).toMatchObject({
      ok: false,
      reason: 'missing-delivery-id',
    });
  });

  it('checks the signature before reading the delivery id', () => {
    const body = Buffer.from('not json');
    expect(withHeader(`t=${T},v1=${v1('whsec_wrong', T, body)}`, { body })).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
  });
});

describe('hmac-sha256', () => {
  // The scheme is a bare HMAC-SHA256 of the body, so its published vector is RFC 4231 §4.3 (test case 2):
  // key "Jefe", data "what do ya want for nothing?".
  const SECRET = 'Jefe';
  const BODY = Buffer.from('what do ya want for nothing?');
  const HEX = '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843';
  const BASE64 = Buffer.from(HEX, 'hex').toString('base64');
  const HEADER = 'x-signature';

  const verify = (fields: Partial<VerifyInput>) =>
    verifyWebhook(
      input('hmac-sha256', {
        secrets: [SECRET],
        header: HEADER,
        headers: { [HEADER]: HEX },
        body: BODY,
        ...fields,
      }),
    );
  const withSignature = (signature: string, fields: Partial<VerifyInput> = {}) =>
    verify({ headers: { [HEADER]: signature }, ...fields });

  it.each([
    ['plain hex', HEX],
    ['sha256=hex', `sha256=${HEX}`],
    ['base64', BASE64],
    ['unpadded base64url', Buffer.from(HEX, 'hex').toString('base64url')],
  ])('verifies the RFC 4231 vector given as %s', (_, signature) => {
    expect(withSignature(signature)).toEqual({ ok: true, deliveryId: undefined, verified: true });
  });

  it('verifies GitHub’s published example too (same construction, sha256= prefix)', () => {
    const github = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    expect(
      withSignature(github, { secrets: ["It's a Secret to Everybody"], body: Buffer.from('Hello, World!') }),
    ).toMatchObject({ ok: true, verified: true });
  });

  it('rejects a wrong secret', () => {
    expect(verify({ secrets: ['Jeff'] })).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('rejects a body altered by one byte', () => {
    expect(verify({ body: alterOneByte(BODY) })).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('rejects a delivery without the configured header', () => {
    expect(verify({ headers: { 'x-other': HEX } })).toMatchObject({ ok: false, reason: 'missing-signature' });
  });

  it('rejects every delivery when no signature header is configured', () => {
    const unconfigured = input('hmac-sha256', { secrets: [SECRET], headers: { [HEADER]: HEX }, body: BODY });
    expect(verifyWebhook(unconfigured)).toMatchObject({ ok: false, reason: 'missing-signature' });
    expect(verify({ header: ' ' })).toMatchObject({ ok: false, reason: 'missing-signature' });
  });

  it.each([
    ['a truncated hex digest', HEX.slice(0, 40)],
    ['a digest of the wrong size', Buffer.alloc(20).toString('base64')],
    ['neither hex nor base64', 'sha256=???'],
    ['two signatures', `${HEX},${HEX}`],
  ])('rejects %s as malformed', (_, signature) => {
    expect(withSignature(signature)).toMatchObject({ ok: false, reason: 'malformed-signature' });
  });

  it('during a rotation, verifies under the second of two secrets', () => {
    expect(verify({ secrets: ['new secret', SECRET] })).toMatchObject({ ok: true, verified: true });
  });

  it('takes the delivery id from idempotency-key, then x-delivery-id, then webhook-id', () => {
    const all = { [HEADER]: HEX, 'idempotency-key': 'a', 'x-delivery-id': 'b', 'webhook-id': 'c' };
    expect(verify({ headers: all })).toMatchObject({ ok: true, deliveryId: 'a' });
    expect(verify({ headers: { ...all, 'idempotency-key': undefined } })).toMatchObject({ deliveryId: 'b' });
    expect(verify({ headers: { [HEADER]: HEX, 'webhook-id': 'c' } })).toMatchObject({ deliveryId: 'c' });
  });
});

describe('none', () => {
  it('accepts any delivery, unverified, with the generic delivery id', () => {
    expect(verifyWebhook(input('none', { headers: { 'x-delivery-id': 'd-1' } }))).toEqual({
      ok: true,
      deliveryId: 'd-1',
      verified: false,
    });
    expect(
      verifyWebhook(input('none', { secrets: ['ignored'], headers: { 'x-signature': 'junk' } })),
    ).toEqual({
      ok: true,
      deliveryId: undefined,
      verified: false,
    });
  });
});

describe('any scheme', () => {
  const schemes: WebhookScheme[] = ['standard-webhooks', 'github', 'stripe', 'hmac-sha256', 'none'];
  const headerNames = [
    'webhook-id',
    'webhook-timestamp',
    'webhook-signature',
    'x-hub-signature-256',
    'x-github-delivery',
    'stripe-signature',
    'x-signature',
  ];

  it('never throws, and never accepts arbitrary headers as signed', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...schemes),
        fc.dictionary(fc.constantFrom(...headerNames), fc.string({ maxLength: 120 })),
        fc.uint8Array({ maxLength: 64 }),
        fc.array(fc.string({ maxLength: 40 }), { maxLength: 2 }),
        (scheme, headers, body, secrets) => {
          const result = verifyWebhook({
            scheme,
            secrets,
            headers,
            body: Buffer.from(body),
            header: 'x-signature',
            now: 1_700_000_000_000,
          });
          expect(result.ok).toBe(scheme === 'none');
        },
      ),
      { numRuns: 500 },
    );
  });

  it('rejects an unknown scheme instead of throwing', () => {
    expect(verifyWebhook(input('sha1' as WebhookScheme, {}))).toMatchObject({ ok: false });
  });
});

describe('secretProblem', () => {
  it('requires base64 for Standard Webhooks and a non-empty secret elsewhere', () => {
    expect(secretProblem('standard-webhooks', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toBeUndefined();
    expect(secretProblem('standard-webhooks', 'not base64!')).toBeDefined();
    expect(secretProblem('stripe', 'whsec_anything')).toBeUndefined();
    expect(secretProblem('github', '')).toBeDefined();
    expect(secretProblem('none', '')).toBeUndefined();
  });
});
