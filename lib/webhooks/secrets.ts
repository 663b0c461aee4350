import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Webhook signing secrets at rest. HMAC verification needs the secret itself, so it cannot be hashed as API
 * keys are; it is encrypted with AES-256-GCM under a key derived (HKDF-SHA256) from the server's key
 * material: SLUICE_WEBHOOK_SECRET_KEY when set, else the admin token. Changing that material makes stored
 * secrets unreadable: configure the sources again (docs/ARCHITECTURE.md §11).
 *
 * Format: `v1:` + base64url(12-byte IV ‖ 16-byte tag ‖ ciphertext).
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(keyMaterial: string) {
    if (keyMaterial.length < 16)
      throw new Error('webhook secret key material must be at least 16 characters');
    this.key = Buffer.from(hkdfSync('sha256', keyMaterial, 'sluice', 'webhook-secrets v1', 32));
  }

  seal(secret: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return `v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  open(sealed: string): string {
    if (!sealed.startsWith('v1:')) throw new Error('unknown sealed-secret format');
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}
