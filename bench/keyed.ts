import { PRICES } from './report.js';

/**
 * The figures of issue 14's measurements that are pure arithmetic over counts: the hot-topic phase (many
 * Lambda-shaped writers on one topic) and the agent at a given linger, both with keyed records. The bench
 * (bench/run.ts) counts; these functions turn counts into rates and a monthly bill at AWS's list prices.
 */

const SECONDS_PER_MONTH = 30 * 24 * 3600;

/** The keyed workload: the deployed one's records (1 KiB values, random keys, murmur2 over 16 partitions). */
export const KEYED_WORKLOAD = {
  partitions: 16,
  recordsPerRequest: 256,
  keyBytes: 16,
  valueBytes: 1024,
};

/** What one level of the hot-topic phase counted: `writers` writers for `wallMs`. */
export interface HotTopicLevel {
  writers: number;
  wallMs: number;
  /** Produce requests answered 200: each is one successful commit (a Lambda-shaped writer flushes alone). */
  commits: number;
  /** Produce requests answered 429 THROTTLED (too much contention to commit within the retry bound). */
  throttled: number;
  /** Any other failure (status or network); the first one is kept in `firstFailure`. */
  failed: number;
  firstFailure?: string | undefined;
  /** DynamoDB units of all writers in the window: failed conditional writes are billed and counted. */
  readUnits: number;
  writeUnits: number;
  /** Conditional writes that failed (ConditionalCheckFailed or a cancelled transaction), all writers. */
  conflicts: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
}

export interface HotTopicRates {
  commitsPerSec: number;
  /** Every WRU the writers spent (conflicts and throttled requests included) per successful commit. */
  wruPerCommit: number;
  rruPerCommit: number;
}

export function hotTopicRates(level: HotTopicLevel): HotTopicRates {
  const seconds = level.wallMs / 1000;
  return {
    commitsPerSec: seconds > 0 ? level.commits / seconds : 0,
    wruPerCommit: level.commits > 0 ? level.writeUnits / level.commits : Number.NaN,
    rruPerCommit: level.commits > 0 ? level.readUnits / level.commits : Number.NaN,
  };
}

/** What the agent (one Log, its batcher) spent on the keyed workload at one linger, for `wallMs`. */
export interface AgentRun {
  lingerMs: number;
  wallMs: number;
  requests: number;
  records: number;
  failed: number;
  firstFailure?: string | undefined;
  /** S3 PUTs: one per flush. */
  puts: number;
  gets: number;
  readUnits: number;
  writeUnits: number;
}

export interface AgentMonthly {
  flushesPerSec: number;
  dynamodbUsd: number;
  s3RequestsUsd: number;
  /** DynamoDB + S3 requests; storage (the same at every linger) is not included. */
  totalUsd: number;
}

/** The run's counts scaled from its wall time to a 30-day month at list prices. */
export function agentMonthlyCost(run: AgentRun): AgentMonthly {
  const perMonth = run.wallMs > 0 ? SECONDS_PER_MONTH / (run.wallMs / 1000) : 0;
  const dynamodbUsd =
    (run.readUnits * perMonth * PRICES.ddbPerMillionRru) / 1e6 +
    (run.writeUnits * perMonth * PRICES.ddbPerMillionWru) / 1e6;
  const s3RequestsUsd =
    (run.puts * perMonth * PRICES.s3PutPer1k) / 1000 + (run.gets * perMonth * PRICES.s3GetPer1k) / 1000;
  return {
    flushesPerSec: run.wallMs > 0 ? run.puts / (run.wallMs / 1000) : 0,
    dynamodbUsd,
    s3RequestsUsd,
    totalUsd: dynamodbUsd + s3RequestsUsd,
  };
}

/** A random key of `bytes` hexadecimal characters (murmur2 then spreads the records over the partitions). */
export function randomKey(bytes: number, random: () => number = Math.random): string {
  let key = '';
  while (key.length < bytes)
    key += Math.floor(random() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  return key.slice(0, bytes);
}

export function formatHotTopic(levels: readonly HotTopicLevel[]): string[] {
  const lines = [
    `  one topic of ${KEYED_WORKLOAD.partitions} partitions; each writer its own Log (createLog, linger 0, no tail cache) ` +
      `and its own DynamoDB and S3 clients behind its own HTTP app, sending produce requests of ` +
      `${KEYED_WORKLOAD.recordsPerRequest} keyed records of ${KEYED_WORKLOAD.valueBytes} B back to back`,
    `    ${'writers'.padStart(7)} ${'seconds'.padStart(7)} ${'commits'.padStart(8)} ${'commits/s'.padStart(9)} ` +
      `${'WRU/commit'.padStart(10)} ${'RRU/commit'.padStart(10)} ${'conflicts'.padStart(9)} ${'429s'.padStart(6)} ` +
      `${'failed'.padStart(6)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)}`,
  ];
  for (const level of levels) {
    const rates = hotTopicRates(level);
    lines.push(
      `    ${String(level.writers).padStart(7)} ${(level.wallMs / 1000).toFixed(1).padStart(7)} ` +
        `${String(level.commits).padStart(8)} ${rates.commitsPerSec.toFixed(1).padStart(9)} ` +
        `${fixed(rates.wruPerCommit, 2).padStart(10)} ${fixed(rates.rruPerCommit, 2).padStart(10)} ` +
        `${String(level.conflicts).padStart(9)} ${String(level.throttled).padStart(6)} ${String(level.failed).padStart(6)} ` +
        `${level.latencyP50Ms.toFixed(0).padStart(7)} ${level.latencyP99Ms.toFixed(0).padStart(7)}`,
    );
    if (level.firstFailure) lines.push(`      first failure: ${level.firstFailure}`);
  }
  return lines;
}

export function formatAgent(runs: readonly AgentRun[], requestsPerSecond: number): string[] {
  const recordsPerRequest =
    runs[0] && runs[0].requests > 0 ? Math.round(runs[0].records / runs[0].requests) : 0;
  const lines = [
    `  one agent-mode Log (createLog, its batcher) behind one HTTP app; ${requestsPerSecond} produce requests/s of ` +
      `${recordsPerRequest} keyed records of ${KEYED_WORKLOAD.valueBytes} B sent at their time (not back to back), ` +
      `over ${KEYED_WORKLOAD.partitions} partitions; DynamoDB and S3 requests per month (storage not included)`,
  ];
  for (const run of runs) {
    const m = agentMonthlyCost(run);
    lines.push(
      `    linger ${String(run.lingerMs).padStart(4)} ms: ${m.flushesPerSec.toFixed(1).padStart(5)} flushes/s, ` +
        `${fixed(run.writeUnits / Math.max(1, run.puts), 2)} WRU + ${fixed(run.readUnits / Math.max(1, run.puts), 2)} RRU per flush; ` +
        `DynamoDB ${usd(m.dynamodbUsd)}, S3 requests ${usd(m.s3RequestsUsd)}, total ${usd(m.totalUsd)} per month` +
        (run.failed > 0 ? `; ${run.failed} failed (${run.firstFailure ?? ''})` : ''),
    );
  }
  return lines;
}

function fixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

function usd(n: number): string {
  return `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}
