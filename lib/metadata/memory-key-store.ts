import { copyPermission } from '../auth/permissions.js';
import { type ApiKey, KeyExistsError, KeyNotFoundError, type KeyStore } from './key-store.js';

/** In-memory KeyStore for unit tests. Returns copies, so callers cannot change what is stored. */
export class MemoryKeyStore implements KeyStore {
  private readonly keys = new Map<string, ApiKey>();

  async createKey(key: ApiKey): Promise<void> {
    if (this.keys.has(key.id)) throw new KeyExistsError(key.id);
    this.keys.set(key.id, copy(key));
  }

  async getKey(id: string): Promise<ApiKey | undefined> {
    const key = this.keys.get(id);
    return key && copy(key);
  }

  async listKeys(): Promise<ApiKey[]> {
    return [...this.keys.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(copy);
  }

  async deleteKey(id: string): Promise<void> {
    if (!this.keys.delete(id)) throw new KeyNotFoundError(id);
  }

  async touchKey(id: string, at: number): Promise<void> {
    const key = this.keys.get(id);
    if (key && (key.lastUsedAt === null || key.lastUsedAt < at)) key.lastUsedAt = at;
  }
}

function copy(key: ApiKey): ApiKey {
  return { ...key, permissions: key.permissions.map(copyPermission) };
}
