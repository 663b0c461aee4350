import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { KeyAuthenticator } from '../../lib/auth/authenticator.js';
import {
  type Action,
  ADMIN,
  authorize,
  authorizeGroup,
  describePrincipal,
  type GroupAction,
  type Principal,
} from '../../lib/auth/permissions.js';
import { SluiceError } from '../../lib/errors.js';
import { problem, problemResponse } from './errors.js';

declare module 'hono' {
  interface ContextVariableMap {
    /** Who is calling; set by `authenticate` on every /v1 request. */
    principal: Principal;
  }
}

/**
 * Bearer-token check for /v1: the admin token (SLUICE_ADMIN_TOKEN) or an API key (`sk_<id>_<secret>`).
 * Sets `c.get('principal')`. Hono's bearerAuth middleware answers in its own format; the contract needs
 * problem+json with code UNAUTHORIZED, so this small check is written out. The admin token is compared as
 * a SHA-256 digest with timingSafeEqual, so neither content nor length leaks through timing; API keys are
 * compared the same way by the KeyAuthenticator.
 */
export function authenticate(options: { adminToken: string; keys: KeyAuthenticator }): MiddlewareHandler {
  const expected = digest(options.adminToken);
  return async (c, next) => {
    const token = bearerToken(c);
    if (!token) {
      return problemResponse(
        c,
        problem('UNAUTHORIZED', 'missing bearer token (Authorization: Bearer <token>)'),
      );
    }
    const principal = timingSafeEqual(digest(token), expected)
      ? ADMIN
      : await options.keys.authenticate(token);
    if (!principal) return problemResponse(c, problem('UNAUTHORIZED', 'unknown, revoked or expired token'));
    c.set('principal', principal);
    await next();
    return undefined;
  };
}

/** The bearer token of the request (already checked by `authenticate`). */
export function bearerToken(c: Context): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1];
}

export class ForbiddenError extends SluiceError {
  constructor(message: string) {
    super('FORBIDDEN', message);
  }
}

/** The caller (set by `authenticate`). */
export function principalOf(c: Context): Principal {
  const principal = c.get('principal') as Principal | undefined;
  if (!principal) throw new SluiceError('INTERNAL', 'no principal: the auth middleware did not run');
  return principal;
}

/**
 * Throws ForbiddenError (403) unless the caller may perform `action` on `topic`. Call it first in a
 * handler, before anything that could reveal whether the topic exists (403 before 404).
 */
export function requirePermission(c: Context, action: Action, topic: string): Principal {
  const principal = principalOf(c);
  if (!authorize(principal, action, topic)) {
    throw new ForbiddenError(`${describePrincipal(principal)} may not ${action} on topic '${topic}'`);
  }
  return principal;
}

/** Throws ForbiddenError unless the caller holds at least one of `actions` on `topic`. */
export function requireAnyPermission(c: Context, actions: readonly Action[], topic: string): Principal {
  const principal = principalOf(c);
  if (!actions.some((action) => authorize(principal, action, topic))) {
    throw new ForbiddenError(
      `${describePrincipal(principal)} has no permission (${actions.join(', ')}) on topic '${topic}'`,
    );
  }
  return principal;
}

/**
 * Throws ForbiddenError unless the caller holds one of `actions` on the consumer group `group` (a group
 * permission; topic permissions never grant a group). Decided on the name alone, before the group is read,
 * so a denied caller gets the same 403 whether the group exists or not; the message names only the group.
 */
export function requireGroupPermission(
  c: Context,
  actions: readonly GroupAction[],
  group: string,
): Principal {
  const principal = principalOf(c);
  if (!actions.some((action) => authorizeGroup(principal, action, group))) {
    throw new ForbiddenError(
      `${describePrincipal(principal)} may not ${actions.join(' or ')} on group '${group}'`,
    );
  }
  return principal;
}

/** Throws ForbiddenError unless the caller is the admin token (key management, maintenance). */
export function requireAdminToken(c: Context, what = 'manage API keys'): void {
  const principal = principalOf(c);
  if (principal.kind !== 'admin') {
    throw new ForbiddenError(`${describePrincipal(principal)} may not ${what}: use the admin token`);
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
