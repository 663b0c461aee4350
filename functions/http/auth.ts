import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { problem, problemResponse } from './errors.js';

/**
 * Bearer-token check for /v1. Hono's bearerAuth middleware answers in its own format; the contract needs
 * problem+json with code UNAUTHORIZED, so this small check is written out. Tokens are compared as SHA-256
 * digests with timingSafeEqual, so neither content nor length leaks through timing.
 */
export function requireAdminToken(adminToken: string): MiddlewareHandler {
  const expected = digest(adminToken);
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) {
      return problemResponse(
        c,
        problem('UNAUTHORIZED', 'missing bearer token (Authorization: Bearer <token>)'),
      );
    }
    if (!timingSafeEqual(digest(match[1]), expected)) {
      return problemResponse(c, problem('UNAUTHORIZED', 'unknown token'));
    }
    await next();
    return undefined;
  };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
