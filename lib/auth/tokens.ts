import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API key tokens: `sk_<id>_<secret>`. The id (8 random bytes, hex) names the key item; the secret is 32
 * random bytes (base64url, 43 characters). Only SHA-256 of the secret is stored. A fast hash is right here:
 * slow password hashes (bcrypt, scrypt) exist to resist guessing low-entropy passwords, and 256 random
 * bits cannot be guessed however fast the hash is; a fast hash also keeps every request cheap.
 */
const TOKEN_FORMAT = /^sk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface MintedToken {
  id: string;
  token: string;
  /** Hex SHA-256 of the secret: what the key store keeps. */
  secretHash: string;
}

export function mintToken(): MintedToken {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, token: `sk_${id}_${secret}`, secretHash: hashSecret(secret) };
}

/** The id and secret of a well-formed API key token, or undefined for anything else. */
export function parseToken(token: string): { id: string; secret: string } | undefined {
  const match = TOKEN_FORMAT.exec(token);
  if (!match?.[1] || !match[2]) return undefined;
  return { id: match[1], secret: match[2] };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const presented = Buffer.from(hashSecret(secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
