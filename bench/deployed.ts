import { PRICES } from './report.js';

/**
 * The README's "what it costs per month" for the deployed stack, from counts this bench measures: a
 * Lambda-shaped run of the README's workload (every request flushed alone, served round-robin by a few warm
 * instances), then one pass of each maintenance job over what it wrote. Counts are per simulated second of
 * the workload, then scaled to a 30-day month and multiplied by AWS's list prices. What the bench cannot
 * measure here (Lambda's duration in AWS) is an assumption, printed as one.
 */

/** The workload of README "Deploy to AWS". */
export const DEPLOYED_WORKLOAD = {
  partitions: 16,
  produceRequestsPerSecond: 4,
  recordsPerRequest: 256,
  /** Bytes of each record's value (a JSON string of this length, 1 KiB records). */
  valueBytes: 1024,
  groups: 2,
  membersPerGroup: 4,
  retentionDays: 7,
  /** Warm Lambda instances serving the calls (about what 20-40 requests/s of ~100 ms keep warm). */
  instances: 3,
};

/** Prices beyond COST.md's table: AWS's published us-east-1 list prices (CloudWatch, Lambda). */
export const MORE_PRICES = {
  lambdaPerMillionRequests: 0.2,
  lambdaArmPerGbSecond: 0.0000133334,
  logsIngestedPerGb: 0.5,
  customMetricPerMonth: 0.3,
};

/** Assumed, not measured: how long an API call runs in Lambda and with how much memory. */
export const LAMBDA_ASSUMPTION = { apiCallMs: 100, memoryGb: 1 };

const SECONDS_PER_MONTH = 30 * 24 * 3600;
const MINUTES_PER_MONTH = SECONDS_PER_MONTH / 60;

/** One maintenance pass as measured: its DynamoDB units, S3 requests and wall time. */
export interface PassCost {
  readUnits: number;
  /** The part of readUnits spent scanning the index (GC's mark phase); it grows with the index. */
  scanReadUnits: number;
  writeUnits: number;
  gets: number;
  puts: number;
  lists: number;
  wallMs: number;
}

export interface DeployedMeasurement {
  /**
   * The records: each produce request to one partition (false, README's workload), or keyed (true: random
   * keys, placed by the producer's murmur2 partitioner over all partitions, as Kafka users produce).
   */
  keyed: boolean;
  simulatedSeconds: number;
  /** How often each member fetched and committed, in simulated seconds. */
  fetchEverySeconds: number;
  /**
   * Requests made: `commit` counts separate commit calls (none: members commit on fetch, `commit=true`),
   * `commitsCarried` the fetches that carried the commit of the records the previous fetch handed out.
   */
  requests: { produce: number; fetch: number; commit: number; commitsCarried: number };
  recordsProduced: number;
  bytesProduced: number;
  recordsFetched: number;
  /** Produce side: the S3 PUTs and DynamoDB units of the produce requests. */
  produce: { puts: number; readUnits: number; writeUnits: number };
  /** Consumer side: everything the fetch requests (and the commits they carried) did. */
  consume: { gets: number; readUnits: number; writeUnits: number };
  /**
   * After the counted run: rounds in which a produce request is followed by every member fetching without
   * `commit=true` and then committing what it got with a separate commit call, so that a fetch's reads and a
   * commit's writes are counted apart. `partitions`: partitions in the commits (4 per member when keyed).
   */
  probe: {
    fetches: number;
    fetchReadUnits: number;
    fetchWriteUnits: number;
    commits: number;
    commitPartitions: number;
    commitReadUnits: number;
    commitWriteUnits: number;
  };
  metrics: { lines: number; bytes: number; distinctMetrics: number };
  /**
   * Index entries the run wrote: the sum of the partitions' `segments` before compaction (today: one per
   * produce request and partition it touched).
   */
  batches: number;
  /**
   * The commit chain (ARCHITECTURE §4): commit records the run wrote (one per flush, each deleted once after
   * it is indexed) and the indexed entries its compaction pass wrote (one per partition per indexing pass).
   */
  chain: { records: number; entriesIndexed: number };
  /** A compaction pass over the run's batches (minimum age 0), a retention pass, a GC pass, a lag pass. */
  compaction: PassCost & { batchesMoved: number };
  retention: PassCost;
  /** The GC pass scanned the run's `batches` index entries. */
  gc: PassCost;
  lag: PassCost;
}

export interface CostRow {
  part: string;
  counted: string;
  usd: number;
}

/** The monthly bill, row by row, for the measured run scaled to a month; rates from infra/context.ts. */
export function deployedMonthlyCost(
  m: DeployedMeasurement,
  schedules = { compactPerHour: 6, retentionPerHour: 4, gcPerHour: 1, lagPerMinute: 1 },
): CostRow[] {
  const perMonth = SECONDS_PER_MONTH / m.simulatedSeconds;
  const lambdaCall = (calls: number, ms: number) =>
    calls * (MORE_PRICES.lambdaPerMillionRequests / 1e6) +
    calls * (ms / 1000) * LAMBDA_ASSUMPTION.memoryGb * MORE_PRICES.lambdaArmPerGbSecond;
  const units = (read: number, write: number) =>
    read * (PRICES.ddbPerMillionRru / 1e6) + write * (PRICES.ddbPerMillionWru / 1e6);
  const s3 = (gets: number, puts: number, lists = 0) =>
    gets * (PRICES.s3GetPer1k / 1000) + (puts + lists) * (PRICES.s3PutPer1k / 1000);

  const produceCalls = m.requests.produce * perMonth;
  const consumeCalls = (m.requests.fetch + m.requests.commit) * perMonth;
  const bytesPerSecond = m.bytesProduced / m.simulatedSeconds;
  const storedGb = (bytesPerSecond * DEPLOYED_WORKLOAD.retentionDays * 86_400) / 1e9;
  const compactPassesPerMonth = schedules.compactPerHour * 720;
  // The compaction pass of the run indexed (and compacted) all of its data: its requests scale with the
  // data, so by simulated seconds. Each commit record is deleted once, an hour after it is indexed
  // (BatchWriteItem, 1 WRU). A real pass (every 10 min) writes one indexed entry per partition touched,
  // as the run's pass did; retention removes each once (1 WRU).
  const recordsPerMonth = m.chain.records * perMonth;
  const entriesPerMonth = m.chain.entriesIndexed * compactPassesPerMonth;
  // Items alive in the index table (what GC scans): commit records for about an hour and a pass, and the
  // indexed entries of the retention period.
  const passSeconds = 3600 / schedules.compactPerHour;
  const liveItems =
    (m.chain.records / m.simulatedSeconds) * (3600 + 2 * passSeconds) +
    m.chain.entriesIndexed * schedules.compactPerHour * 24 * DEPLOYED_WORKLOAD.retentionDays;
  const scannedInRun = m.chain.records + m.chain.entriesIndexed;
  const gcScale = scannedInRun > 0 ? liveItems / scannedInRun : 1;

  const rows: CostRow[] = [
    {
      part: 'produce: S3',
      counted: `${f(m.produce.puts / m.requests.produce, 2)} PUT per request: ${millions(m.produce.puts * perMonth)} PUTs`,
      usd: s3(0, m.produce.puts * perMonth),
    },
    {
      part: 'produce: DynamoDB',
      counted: `${f(m.produce.writeUnits / m.requests.produce, 2)} WRU + ${f(m.produce.readUnits / m.requests.produce, 2)} RRU per request`,
      usd: units(m.produce.readUnits * perMonth, m.produce.writeUnits * perMonth),
    },
    {
      part: 'produce: Lambda',
      counted: `${millions(produceCalls)} requests, ${LAMBDA_ASSUMPTION.apiCallMs} ms at ${LAMBDA_ASSUMPTION.memoryGb} GB each (assumed)`,
      usd: lambdaCall(produceCalls, LAMBDA_ASSUMPTION.apiCallMs),
    },
    {
      part: 'storage',
      counted: `${f(storedGb, 0)} GB of segments (${DEPLOYED_WORKLOAD.retentionDays} days)`,
      usd: storedGb * PRICES.s3StoragePerGbMonth,
    },
    {
      part: `${DEPLOYED_WORKLOAD.groups} consumer groups`,
      counted:
        `per member fetch (carrying the commit of the previous fetch's records: ${f((100 * m.requests.commitsCarried) / m.requests.fetch, 0)}%` +
        `${m.requests.commit > 0 ? `; and ${m.requests.commit} separate commits` : ''}): ` +
        `${f(m.consume.readUnits / m.requests.fetch, 2)} RRU, ${f(m.consume.writeUnits / m.requests.fetch, 2)} WRU, ` +
        `${f(m.consume.gets / m.requests.fetch, 2)} GET; ${millions(consumeCalls)} Lambda requests of ${LAMBDA_ASSUMPTION.apiCallMs} ms`,
      usd:
        units(m.consume.readUnits * perMonth, m.consume.writeUnits * perMonth) +
        s3(m.consume.gets * perMonth, 0) +
        lambdaCall(consumeCalls, LAMBDA_ASSUMPTION.apiCallMs),
    },
    {
      part: 'indexing + compaction',
      counted:
        `${f((m.compaction.writeUnits * perMonth) / 1e6, 2)} M WRU, ${f((m.compaction.readUnits * perMonth) / 1e6, 2)} M RRU, ` +
        `${millions(m.compaction.gets * perMonth)} GETs, ${millions(m.compaction.puts * perMonth)} PUTs a month (scaled from the run's pass); ` +
        `${millions(recordsPerMonth)} commit records removed (1 WRU each); ${schedules.compactPerHour} passes/h`,
      usd:
        units(m.compaction.readUnits * perMonth, m.compaction.writeUnits * perMonth + recordsPerMonth) +
        s3(m.compaction.gets * perMonth, m.compaction.puts * perMonth) +
        lambdaCall(compactPassesPerMonth, (m.compaction.wallMs * perMonth) / compactPassesPerMonth),
    },
    {
      part: 'retention',
      counted: `${schedules.retentionPerHour} passes/h of ${f(m.retention.readUnits, 1)} RRU, and 1 WRU to remove each indexed entry once (${millions(entriesPerMonth)} a month)`,
      usd:
        units(
          m.retention.readUnits * schedules.retentionPerHour * 720,
          m.retention.writeUnits * schedules.retentionPerHour * 720 + entriesPerMonth,
        ) + lambdaCall(schedules.retentionPerHour * 720, m.retention.wallMs),
    },
    {
      part: 'garbage collection',
      counted:
        `${schedules.gcPerHour} pass/h scanning ~${millions(liveItems)} index items (${f(m.gc.scanReadUnits * gcScale, 0)} RRU a pass), ` +
        `1 LIST per 1,000 objects`,
      usd:
        units(
          (m.gc.readUnits - m.gc.scanReadUnits + m.gc.scanReadUnits * gcScale) * schedules.gcPerHour * 720,
          m.gc.writeUnits * schedules.gcPerHour * 720,
        ) +
        s3(0, 0, m.gc.lists * schedules.gcPerHour * 720) +
        // The scan's duration, assumed: 1 MB pages of ~4,000 entries, 4 segments in parallel, 100 ms a page.
        lambdaCall(schedules.gcPerHour * 720, m.gc.wallMs + (liveItems / 4000 / 4) * 100),
    },
    {
      part: 'metrics',
      counted:
        `${f((m.metrics.bytes * perMonth) / 1e9, 1)} GB of EMF lines (${f(m.metrics.bytes / Math.max(1, m.metrics.lines), 0)} B each), ` +
        `${m.metrics.distinctMetrics} custom metrics, the lag job ${schedules.lagPerMinute}/min (${f(m.lag.readUnits, 1)} RRU a pass)`,
      usd:
        ((m.metrics.bytes * perMonth) / 1e9) * MORE_PRICES.logsIngestedPerGb +
        m.metrics.distinctMetrics * MORE_PRICES.customMetricPerMonth +
        units(m.lag.readUnits * schedules.lagPerMinute * MINUTES_PER_MONTH, 0) +
        lambdaCall(schedules.lagPerMinute * MINUTES_PER_MONTH, m.lag.wallMs),
    },
  ];
  return rows;
}

export function formatDeployed(m: DeployedMeasurement): string[] {
  const rows = deployedMonthlyCost(m);
  const total = rows.reduce((sum, r) => sum + r.usd, 0);
  const w = DEPLOYED_WORKLOAD;
  const lines = [
    `  workload: ${w.produceRequestsPerSecond} produce requests/s of ${w.recordsPerRequest} records of ${w.valueBytes} B, ` +
      `${m.keyed ? 'keyed (random keys, murmur2 over all partitions)' : 'each to one partition'}, ` +
      `${w.partitions} partitions; ${w.groups} groups of ${w.membersPerGroup} members, each fetching (commit=true: the fetch carries the commit) ` +
      `${m.fetchEverySeconds === 1 ? 'once a second' : `every ${m.fetchEverySeconds} s`}; ` +
      `${w.retentionDays} days of retention`,
    `  measured: ${m.simulatedSeconds} simulated seconds through ${w.instances} Lambda-shaped instances (linger 0, no tail cache): ` +
      `${m.requests.produce} produce, ${m.requests.fetch} fetch and ${m.requests.commit} separate commit requests, ` +
      `${m.recordsProduced.toLocaleString('en-US')} records produced, ${m.recordsFetched.toLocaleString('en-US')} fetched; ` +
      `then one pass of each job`,
    '  prices: COST.md, and CloudWatch Logs $0.50/GB, custom metrics $0.30 each, Lambda arm64 $0.0000133334/GB-s + $0.20/M',
  ];
  for (const row of rows)
    lines.push(`    ${row.part.padEnd(20)} ${usd(row.usd).padStart(10)}   ${row.counted}`);
  lines.push(`    ${'total'.padEnd(20)} ${usd(total).padStart(10)}`);
  if (m.probe.fetches > 0) {
    const u = deployedUnits(m);
    lines.push(
      `  apart (${m.probe.fetches} fetches without commit=true, each followed by a separate commit call): a member fetch ` +
        `${f(u.memberFetchRru, 2)} RRU + ${f(m.probe.fetchWriteUnits / m.probe.fetches, 2)} WRU; a commit of ` +
        `${f(u.memberCommitPartitions, 2)} partitions ${f(u.memberCommitWru, 2)} WRU + ${f(m.probe.commitReadUnits / Math.max(1, m.probe.commits), 2)} RRU`,
    );
  }
  return lines;
}

export function deployedTotal(m: DeployedMeasurement): number {
  return deployedMonthlyCost(m).reduce((sum, r) => sum + r.usd, 0);
}

/** The per-request figures issue 14 asks for, from a (keyed) deployed run. */
export function deployedUnits(m: DeployedMeasurement) {
  const per = (n: number, d: number) => (d > 0 ? n / d : Number.NaN);
  return {
    produceWruPerRequest: per(m.produce.writeUnits, m.requests.produce),
    produceRruPerRequest: per(m.produce.readUnits, m.requests.produce),
    /** A member fetch without a commit (probe rounds). */
    memberFetchRru: per(m.probe.fetchReadUnits, m.probe.fetches),
    /** A separate commit call of the member's partitions (probe rounds). */
    memberCommitWru: per(m.probe.commitWriteUnits, m.probe.commits),
    memberCommitPartitions: per(m.probe.commitPartitions, m.probe.commits),
  };
}

function f(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

function millions(n: number): string {
  return n >= 1e6 ? `${f(n / 1e6, 1)} M` : Math.round(n).toLocaleString('en-US');
}

function usd(n: number): string {
  return `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}
