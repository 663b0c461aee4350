import type { Clock } from '../clock.js';
import { InvalidRequestError } from '../errors.js';
import type { ApiKey, KeyStore } from '../metadata/key-store.js';
import {
  ACTIONS,
  GROUP_ACTIONS,
  isGroupPermission,
  isValidTopicPattern,
  type Permission,
} from './permissions.js';
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

/**
 * Checks that each permission names exactly one of `topics` or `groups` with a valid pattern, and its
 * actions (a group permission grants `consume` or `admin`); drops repeated actions (keeping their order).
 */
export function normalizePermissions(permissions: readonly Permission[]): Permission[] {
  if (permissions.length === 0) throw new InvalidRequestError('a key needs at least one permission');
  return permissions.map((permission, i): Permission => {
    const hasTopics = 'topics' in permission && permission.topics !== undefined;
    const hasGroups = 'groups' in permission && permission.groups !== undefined;
    if (hasTopics === hasGroups) {
      throw new InvalidRequestError(`permissions.${i}: name exactly one of topics or groups`);
    }
    const kind = isGroupPermission(permission) ? 'groups' : 'topics';
    const pattern = isGroupPermission(permission) ? permission.groups : permission.topics;
    if (!isValidTopicPattern(pattern)) {
      throw new InvalidRequestError(
        `permissions.${i}.${kind}: '${pattern}' is not a ${kind === 'groups' ? 'group' : 'topic'} pattern ` +
          '(1–249 of [a-zA-Z0-9._-] and *)',
      );
    }
    if (permission.actions.length === 0) {
      throw new InvalidRequestError(`permissions.${i}.actions: name at least one action`);
    }
    const allowed: readonly string[] = kind === 'groups' ? GROUP_ACTIONS : ACTIONS;
    for (const action of permission.actions) {
      if (!allowed.includes(action)) {
        throw new InvalidRequestError(
          `permissions.${i}.actions: '${String(action)}' is not an action on ${kind} (${allowed.join(', ')})`,
        );
      }
    }
    return isGroupPermission(permission)
      ? { groups: permission.groups, actions: [...new Set(permission.actions)] }
      : { topics: permission.topics, actions: [...new Set(permission.actions)] };
  });
}
