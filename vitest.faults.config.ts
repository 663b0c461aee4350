import { defineConfig } from 'vitest/config';

// The fault suite (test/faults, docs/ARCHITECTURE.md §12): `npm run test:faults`. One seed for the whole
// run, shared by every worker through the environment; SLUICE_FAULT_SEED=<seed> replays a run's schedule.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.SLUICE_FAULT_SEED ??= String(Math.floor(Math.random() * 2 ** 31));
process.stderr.write(
  `[faults] seed ${process.env.SLUICE_FAULT_SEED} (replay: SLUICE_FAULT_SEED=${process.env.SLUICE_FAULT_SEED} npm run test:faults)\n`,
);

// biome-ignore lint/style/noDefaultExport: vitest needs a default export
export default defineConfig({
  test: {
    include: ['test/faults/scenarios/*.scenario.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    // Two scenarios at a time: each runs three or four instance processes on the shared emulators.
    maxWorkers: 2,
    testTimeout: 240_000,
    hookTimeout: 60_000,
  },
});
