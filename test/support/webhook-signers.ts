import { createHmac } from 'node:crypto';

/**
 * Signers as the senders implement them (Standard Webhooks / Svix, GitHub, Stripe), for posting real signed
 * deliveries in integration tests. The verifier is checked against the schemes' published vectors in
 * test/unit/webhook-verify.test.ts; these only produce deliveries.
 */
export function standardWebhooksHeaders(secret: string, id: string, timestampSec: number, body: string) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signature = createHmac('sha256', key).update(`${id}.${timestampSec}.${body}`).digest('base64');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSec),
    'webhook-signature': `v1,${signature}`,
  };
}

export function githubHeaders(secret: string, deliveryId: string, body: string) {
  return {
    'x-github-delivery': deliveryId,
    'x-github-event': 'push',
    'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
  };
}

export function stripeHeaders(secret: string, timestampSec: number, body: string) {
  const signature = createHmac('sha256', secret).update(`${timestampSec}.${body}`).digest('hex');
  return { 'stripe-signature': `t=${timestampSec},v1=${signature}` };
}

export function hmacHex(secret: string, body: string | Buffer): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}
