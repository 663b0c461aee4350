import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../functions/http/app.js';
import { systemClock } from '../../lib/clock.js';
import { ERROR_CODES } from '../../lib/errors.js';
import { MemoryGroupStore } from '../../lib/groups/memory-group-store.js';
import { DEFAULT_LIMITS } from '../../lib/limits.js';
import { DEFAULT_LOG_OPTIONS, Log } from '../../lib/log/log.js';
import { MemoryKeyStore } from '../../lib/metadata/memory-key-store.js';
import { MemoryMetadataStore } from '../../lib/metadata/memory-metadata-store.js';
import { MemorySegmentStore } from '../../lib/storage/memory-segment-store.js';
import { MemoryWebhookSourceStore } from '../../lib/webhooks/source-store.js';

/**
 * Regression: the README's only API reference was a link to ../shared/SPEC.md, which a clone of the project
 * does not have. The project carries its own, docs/API.md, and it covers every operation the server
 * documents, every error code and every request limit.
 */

const read = (path: string) => readFile(new URL(`../../${path}`, import.meta.url), 'utf8');

async function operations(): Promise<string[]> {
  const log = new Log({
    store: new MemorySegmentStore(),
    metadata: new MemoryMetadataStore(),
    clock: systemClock,
    limits: DEFAULT_LIMITS,
    options: DEFAULT_LOG_OPTIONS,
  });
  const app = createApp({
    log,
    adminToken: 'an-admin-token-for-this-test',
    keys: new MemoryKeyStore(),
    groups: new MemoryGroupStore(),
    webhooks: new MemoryWebhookSourceStore(),
    limits: DEFAULT_LIMITS,
  });
  const doc = (await (await app.request('/openapi.json')).json()) as { paths: Record<string, object> };
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
  );
}

describe('the API reference in the repository', () => {
  it('is linked from the README and ARCHITECTURE, and no doc links ../shared/', async () => {
    const readme = await read('README.md');
    const architecture = await read('docs/ARCHITECTURE.md');
    const api = await read('docs/API.md');
    expect(readme).toContain('(docs/API.md)');
    expect(architecture).toContain('(API.md)');
    for (const text of [readme, architecture, api]) expect(text).not.toContain('../shared/');
  });

  it('describes every operation of /openapi.json', async () => {
    const api = await read('docs/API.md');
    const missing = (await operations()).filter((op) => !api.includes(`\`${op}\``));
    expect(missing).toEqual([]);
  });

  it('explains every error code', async () => {
    const api = await read('docs/API.md');
    expect(ERROR_CODES.filter((code) => !api.includes(`| \`${code}\` |`))).toEqual([]);
  });

  it('states every request limit', async () => {
    const api = await read('docs/API.md');
    const unstated = Object.entries(DEFAULT_LIMITS).filter(
      ([, value]) => !api.includes(value.toLocaleString('en-US')) && !api.includes(String(value)),
    );
    expect(unstated).toEqual([]);
  });
});
