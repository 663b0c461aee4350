import type { Permission } from '../auth/permissions.js';
import { SluiceError } from '../errors.js';

/** An API key as stored: never the token, only the SHA-256 of its secret (lib/auth/tokens.ts). */
export interface ApiKey {
  id: string;
  name: string;
  permissions: Permission[];
  /** Hex SHA-256 of the token's secret. */
  secretHash: string;
  createdAt: number;
  /** Epoch ms after which the key is refused; null for a key that does not expire. */
  expiresAt: number | null;
  /** Last successful authentication, recorded at most about once a minute per process; null if never. */
  lastUsedAt: number | null;
}

/** The port for API keys (items of the `<prefix>metadata` table in DynamoDB, memory in unit tests). */
export interface KeyStore {
  /** Stores a new key. Throws KeyExistsError when the id is taken (ids are random: practically never). */
  createKey(key: ApiKey): Promise<void>;
  /** The key (strongly consistent, so a revocation is seen at once), or undefined. */
  getKey(id: string): Promise<ApiKey | undefined>;
  /** Every key, ordered by id. */
  listKeys(): Promise<ApiKey[]>;
  /** Revokes a key. Throws KeyNotFoundError when there is no such key. */
  deleteKey(id: string): Promise<void>;
  /** Records a use: lastUsedAt becomes `at` unless it is already later. A missing key is left missing. */
  touchKey(id: string, at: number): Promise<void>;
}

export class KeyNotFoundError extends SluiceError {
  constructor(id: string) {
    super('NOT_FOUND', `API key '${id}' does not exist`);
  }
}

export class KeyExistsError extends SluiceError {
  constructor(id: string) {
    super('CONFLICT', `API key '${id}' already exists`);
  }
}
