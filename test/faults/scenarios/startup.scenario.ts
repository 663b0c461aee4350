import { expect, it } from 'vitest';
import { Cluster } from '../cluster/cluster.js';
import { History } from '../history.js';
import { FAULT_DEFAULTS, faultBackends, SEED } from '../run.js';

/**
 * A deployment's first start: several instances (agent and Lambda wiring) set up fresh tables at the same
 * moment, twice over. Every one must start; table setup is check-then-act and must be safe to race.
 */
it('simultaneous-start-on-fresh-tables', async () => {
  const backends = faultBackends();
  try {
    for (let round = 0; round < 2; round++) {
      const cluster = await Cluster.create({
        seed: SEED + round,
        history: new History(),
        backends,
        name: `startup-${round}`,
        defaults: FAULT_DEFAULTS,
      });
      try {
        const names = ['s1', 's2', 's3', 's4'];
        const failure = await cluster
          .startTogether(names.map((name, i) => [name, { mode: i % 2 === 0 ? 'agent' : 'lambda' }]))
          .then(
            () => undefined,
            (error: unknown) => String(error),
          );
        expect(failure, `round ${round} (seed ${SEED}): every instance starts`).toBeUndefined();
        expect(
          cluster
            .alive()
            .map((i) => i.name)
            .sort(),
        ).toEqual(names);
      } finally {
        await cluster.close();
      }
    }
  } finally {
    backends.s3.destroy();
    backends.dynamodb.destroy();
  }
});
