import { it } from 'vitest';
import { CATALOG } from '../catalog.js';
import { runScenario } from '../run.js';

// Half of the catalog (the other half is in the other file, so two workers share the run).
for (const scenario of CATALOG.filter((_, i) => i % 2 === 0)) {
  it(scenario.name, async () => {
    await runScenario(scenario);
  });
}
