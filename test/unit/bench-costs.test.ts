import { describe, expect, it } from 'vitest';
import {
  type DeployedMeasurement,
  deployedMonthlyCost,
  deployedUnits,
  LAMBDA_ASSUMPTION,
  MORE_PRICES,
} from '../../bench/deployed.js';
import { type AgentRun, agentMonthlyCost, hotTopicRates, randomKey } from '../../bench/keyed.js';

/**
 * The bench's cost arithmetic (bench/deployed.ts, bench/keyed.ts): counts in, rates and a monthly bill at
 * AWS's list prices out. Issue 14's figures are the worked examples.
 */

const SECONDS_PER_MONTH = 30 * 24 * 3600;

const noPass = { readUnits: 0, scanReadUnits: 0, writeUnits: 0, gets: 0, puts: 0, lists: 0, wallMs: 0 };

function measurement(overrides: Partial<DeployedMeasurement> = {}): DeployedMeasurement {
  return {
    keyed: true,
    simulatedSeconds: 60,
    fetchEverySeconds: 1,
    requests: { produce: 240, fetch: 480, commit: 0, commitsCarried: 472 },
    recordsProduced: 240 * 256,
    bytesProduced: 240 * 256 * 1024,
    recordsFetched: 2 * 240 * 256,
    // Issue 14's keyed row: 32.00 WRU + 16.03 RRU per request.
    produce: { puts: 240, readUnits: 240 * 16.03, writeUnits: 240 * 32 },
    consume: { gets: 0, readUnits: 0, writeUnits: 0 },
    probe: {
      fetches: 24,
      fetchReadUnits: 24 * 8.5,
      fetchWriteUnits: 0,
      commits: 24,
      commitPartitions: 96,
      commitReadUnits: 24 * 1,
      commitWriteUnits: 96,
    },
    metrics: { lines: 0, bytes: 0, distinctMetrics: 0 },
    batches: 240 * 16,
    chain: { records: 240, entriesIndexed: 16 },
    compaction: { ...noPass, batchesMoved: 0 },
    retention: noPass,
    gc: noPass,
    lag: noPass,
    ...overrides,
  };
}

const row = (m: DeployedMeasurement, part: string) => {
  const found = deployedMonthlyCost(m).find((r) => r.part === part);
  if (!found) throw new Error(`no row ${part}`);
  return found;
};

describe('the deployed monthly cost', () => {
  it("bills produce DynamoDB units per request, scaled to a month: issue 14's keyed row is $228.13", () => {
    const produce = row(measurement(), 'produce: DynamoDB');
    expect(produce.usd).toBeCloseTo(228.13, 2);
    expect(produce.counted).toBe('32.00 WRU + 16.03 RRU per request');
  });

  it('counts a Lambda invocation per member fetch and none for commits carried by fetches', () => {
    const carried = row(measurement(), '2 consumer groups');
    const separate = row(
      measurement({ requests: { produce: 240, fetch: 480, commit: 472, commitsCarried: 0 } }),
      '2 consumer groups',
    );
    const perMonth = SECONDS_PER_MONTH / 60;
    const lambdaCall =
      MORE_PRICES.lambdaPerMillionRequests / 1e6 +
      (LAMBDA_ASSUMPTION.apiCallMs / 1000) * LAMBDA_ASSUMPTION.memoryGb * MORE_PRICES.lambdaArmPerGbSecond;
    expect(carried.usd).toBeCloseTo(480 * perMonth * lambdaCall, 6);
    expect(separate.usd - carried.usd).toBeCloseTo(472 * perMonth * lambdaCall, 6);
    expect(carried.counted).toContain("carrying the commit of the previous fetch's records: 98%");
  });
});

describe('the per-request figures of a keyed run', () => {
  it('divides the produce units by the requests, and the probe rounds by their fetches and commits', () => {
    expect(deployedUnits(measurement())).toEqual({
      produceWruPerRequest: 32,
      produceRruPerRequest: 16.03,
      memberFetchRru: 8.5,
      memberCommitWru: 4,
      memberCommitPartitions: 4,
    });
  });

  it('gives no figure (NaN) for what was not measured', () => {
    const u = deployedUnits(
      measurement({
        probe: {
          fetches: 0,
          fetchReadUnits: 0,
          fetchWriteUnits: 0,
          commits: 0,
          commitPartitions: 0,
          commitReadUnits: 0,
          commitWriteUnits: 0,
        },
      }),
    );
    expect(u.memberFetchRru).toBeNaN();
    expect(u.memberCommitWru).toBeNaN();
  });
});

describe('the hot-topic rates', () => {
  const level = {
    writers: 16,
    wallMs: 10_000,
    commits: 250,
    throttled: 3,
    failed: 0,
    readUnits: 4_000,
    writeUnits: 9_000,
    conflicts: 40,
    latencyP50Ms: 100,
    latencyP99Ms: 900,
  };

  it('charges every WRU spent, conflicts and 429s included, to the successful commits', () => {
    expect(hotTopicRates(level)).toEqual({ commitsPerSec: 25, wruPerCommit: 36, rruPerCommit: 16 });
  });

  it('has no per-commit figure when nothing committed', () => {
    const rates = hotTopicRates({ ...level, commits: 0 });
    expect(rates.commitsPerSec).toBe(0);
    expect(rates.wruPerCommit).toBeNaN();
  });
});

describe("the agent's monthly cost", () => {
  const run: AgentRun = {
    lingerMs: 20,
    wallMs: 10_000,
    requests: 640,
    records: 10_240,
    failed: 0,
    puts: 100,
    gets: 0,
    readUnits: 1_600,
    writeUnits: 3_200,
  };

  it('scales DynamoDB units and S3 requests from the run to a 30-day month at list prices', () => {
    const m = agentMonthlyCost(run);
    expect(m.flushesPerSec).toBe(10);
    expect(m.dynamodbUsd).toBeCloseTo(51.84 + 518.4, 6);
    expect(m.s3RequestsUsd).toBeCloseTo(129.6, 6);
    expect(m.totalUsd).toBeCloseTo(699.84, 6);
  });

  it("puts 50 flushes/s of 32 WRU at about $2,600 a month of DynamoDB writes (issue 14's estimate)", () => {
    const m = agentMonthlyCost({ ...run, puts: 500, writeUnits: 500 * 32, readUnits: 0 });
    expect(m.dynamodbUsd).toBeCloseTo(2592, 6);
  });
});

describe('randomKey', () => {
  it('is a hexadecimal string of the length asked for', () => {
    for (const bytes of [1, 8, 16, 33]) expect(randomKey(bytes)).toMatch(new RegExp(`^[0-9a-f]{${bytes}}$`));
  });
});
