import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * The client runs in Node 20+, Deno, Bun and browsers (issue 15): bundled for the browser it pulls in no
 * `node:` module and nothing of the server (no AWS SDK, no Hono, no zod at run time), and stays small.
 */
describe('sluice/client is portable', () => {
  it('bundles for the browser from client/index.ts with nothing of Node or the server', async () => {
    const result = await build({
      entryPoints: ['client/index.ts'],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((file) => /node_modules/.test(file) && !/eventsource-parser/.test(file))).toEqual(
      [],
    );
    expect(inputs.filter((file) => file.startsWith('functions/'))).toEqual([]);
    // The only server file at run time is the pure partitioner (Kafka's murmur2), shared on purpose.
    expect(inputs.filter((file) => file.startsWith('lib/'))).toEqual(['lib/partitioner.ts']);
    const code = result.outputFiles[0]?.text ?? '';
    expect(code).not.toMatch(/from\s*["']node:|require\(/);
    expect(code.length).toBeLessThan(100_000);
  });
});
