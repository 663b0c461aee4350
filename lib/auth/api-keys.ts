import type { Clock } from '../clock.js';
import { InvalidRequestError } from '../errors.js';
import type { ApiKey, KeyStore } from '../metadata/key-store.js';
import { ACTIONS, isValidTopicPattern, type Permission } from './permissions.js';
import { mintToken } from './tokens.js';

export interface NewKey {
  name: string;
  permissions: Permission[];
  expiresAt?: number | undefined;
}

/** A key as shown to admins: never the token, never the hash. */
export type ApiKeyView = Omit<ApiKey, 'secretHash'>;

export function keyView(key: ApiKey): ApiKeyView {
  return {
    id: key.id,
    name: key.name,
    permissions: key.permissions,
    expiresAt: key.expiresAt,
    createdAt: key.createdAt,
    lastUsedAt: key.lastUsedAt,
  };
}

/**
 * Mints an API key: validates its permissions, stores the hash of a fresh token and returns the token, the
 * only time it exists outside the caller's hands.
 */
export async function createApiKey(
  store: KeyStore,
  clock: Clock,
  input: NewKey,
): Promise<{ key: ApiKeyView; token: string }> {
  const permissions = normalizePermissions(input.permissions);
  const now = clock.now();
  if (input.expiresAt !== undefined && input.expiresAt <= now) {
    throw new InvalidRequestError(`expiresAt ${input.expiresAt} is not in the future`);
  }
  const minted = mintToken();
  const key: ApiKey = {
    id: minted.id,
    name: input.name,
    permissions,
    secretHash: minted.secretHash,
    createdAt: now,
    expiresAt: input.expiresAt ?? null,
    lastUsedAt: null,
  };
  await store.createKey(key);
  return { key: keyView(key), token: minted.token };
}

/** Checks patterns and actions, and drops repeated actions (keeping their order). */
export function normalizePermissions(permissions: readonly Permission[]): Permission[] {
  if (permissions.length === 0) throw new InvalidRequestError('a key needs at least one permission');
  return permissions.map((permission, i) => {
    if (!isValidTopicPattern(permission.topics)) {
      throw new InvalidRequestError(
        `permissions.${i}.topics: '${permission.topics}' is not a topic pattern (1–249 of [a-zA-Z0-9._-] and *)`,
      );
    }
    if (permission.actions.length === 0) {
      throw new InvalidRequestError(`permissions.${i}.actions: name at least one action`);
    }
    for (const action of permission.actions) {
      if (!ACTIONS.includes(action)) {
        throw new InvalidRequestError(`permissions.${i}.actions: unknown action '${String(action)}'`);
      }
    }
    return { topics: permission.topics, actions: [...new Set(permission.actions)] };
  });
}
