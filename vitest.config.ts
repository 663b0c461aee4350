import { defineConfig } from 'vitest/config';

// The AWS SDK is pinned to releases that run on Node 20 (README: Node versions); its notice that *later*
// releases will need Node 22 would otherwise be printed by every test process. The variable is the SDK's own
// switch for exactly that notice (no other warning is hidden); the workers and the servers tests start
// inherit it. Set it to 'false' to see the notice.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// biome-ignore lint/style/noDefaultExport: vitest needs a default export
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
