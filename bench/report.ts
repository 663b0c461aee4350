import { build } from 'hdr-histogram-js';
import type { MaintenanceReport } from '../lib/maintenance/report.js';
import type { ReplayResult } from './ceiling.js';
import type { OperationCounts, S3Counts } from './counting.js';
import { totals } from './counting.js';
import { type CpuReport, formatCpu, otherCores } from './cpu.js';
import { type DeployedMeasurement, deployedTotal, deployedUnits, formatDeployed } from './deployed.js';
import {
  type AgentRun,
  agentMonthlyCost,
  formatAgent,
  formatHotTopic,
  type HotTopicLevel,
  hotTopicRates,
} from './keyed.js';
import type { GroupResult } from './protocol.js';

export const MiB = 1024 * 1024;

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

/** HDR histogram (3 significant digits) over values in microseconds. */
export function summarizeUs(valuesUs: ArrayLike<number>): LatencySummary {
  const histogram = build({ numberOfSignificantValueDigits: 3 });
  for (let i = 0; i < valuesUs.length; i++)
    histogram.recordValue(Math.max(0, Math.round(valuesUs[i] as number)));
  const out = {
    count: histogram.totalCount,
    p50Ms: histogram.getValueAtPercentile(50) / 1000,
    p99Ms: histogram.getValueAtPercentile(99) / 1000,
    maxMs: histogram.maxValue / 1000,
    meanMs: histogram.mean / 1000,
  };
  histogram.destroy();
  return out;
}

export function summarizeMs(valuesMs: readonly number[]): LatencySummary {
  return summarizeUs(valuesMs.map((v) => v * 1000));
}

export interface BenchResult {
  machine: {
    cpuModel: string;
    cores: number;
    memoryGiB: number;
    node: string;
    platform: string;
    loadAverage: number[];
  };
  date: string;
  command: string;
  config: {
    partitions: number;
    producers: number;
    producerThreads: number;
    recordsPerRequest: number;
    keyBytes: number;
    valueBytes: number;
    targetMiB: number;
    maxSeconds: number;
    lingerMs: number;
    maxFlushBytes: number;
    maxFlushInFlight: number;
    e2ePartitions: number[];
    consumeMaxRecords: number;
    consumeMaxBytes: number;
  };
  produce: {
    records: number;
    bytes: number;
    requests: number;
    failures: number;
    firstFailure: string | undefined;
    wallMs: number;
    latency: LatencySummary;
  };
  e2e: { records: number; polls: number; failures: number; latency: LatencySummary };
  produceBackend: {
    s3: S3Counts;
    ddb: Map<string, OperationCounts>;
    putLatency: LatencySummary;
    commitLatency: LatencySummary;
  };
  consume: {
    records: number;
    bytes: number;
    requests: number;
    failures: number;
    firstFailure: string | undefined;
    wallMs: number;
    s3: S3Counts;
    ddb: Map<string, OperationCounts>;
    getLatency: LatencySummary;
  };
  ceiling: ReplayResult & { unmatchedWrites: number };
  cpu: { produce: CpuReport; consume: CpuReport; replay: CpuReport };
  /** The consumer-group phase; absent with `--group-members 0`. */
  groups?: GroupPhaseResult;
  /** The compaction phase; absent with `--compaction-records 0`. */
  compaction?: CompactionPhaseResult;
  /** The README's deployed workload; absent with `--deployed-seconds 0`. */
  deployed?: DeployedMeasurement;
  /** The same workload with keyed records; absent with `--deployed-keyed false`. */
  deployedKeyed?: DeployedMeasurement;
  /** The hot-topic phase, one level per number of writers; absent with `--hot-seconds 0`. */
  hotTopic?: HotTopicLevel[];
  /** The agent at each linger, keyed records; absent with `--agent-seconds 0`. */
  agent?: AgentRun[];
  /** `--agent-requests-per-second`. */
  agentRequestsPerSecond?: number;
  serverErrors: number;
}

export interface GroupPhaseResult {
  members: number;
  partitions: number;
  maxRecords: number;
  maxBytes: number;
  waitMs: number;
  sessionTimeoutMs: number;
  /** Records pre-produced into the group's topic (= Σ high watermarks), and how long that took. */
  produced: number;
  producedBytes: number;
  preProduceWallMs: number;
  /** S3 objects (flushes) the pre-produced records are in: each holds batches of every partition. */
  preProduceObjects: number;
  /** What the members did (HTTP calls, records delivered). */
  run: Omit<GroupResult, 'type' | 'delivered' | 'elu'>;
  /** Distinct (partition, offset) pairs delivered. */
  distinct: number;
  /** From the first join to the commit that made every committed offset reach its high watermark. */
  wallMs: number;
  s3: S3Counts;
  getLatency: LatencySummary;
  ddb: Map<string, OperationCounts>;
  /** The same requests by purpose (bench/purposes.ts). */
  ddbPurposes: Map<string, OperationCounts>;
  /** GET /v1/groups/{group} after the run: generation and whether every partition had lag 0. */
  describedGeneration: number;
  lagZero: boolean;
  cpu: CpuReport;
}

/** One partition of `GET /v1/topics/{t}/partitions`. */
export interface PartitionListing {
  partition: number;
  highWatermark: number;
  /** Distinct S3 objects behind the partition's live range. */
  segments: number;
  sizeBytes: number;
}

/** A cold full read of a topic (every partition from 0 to its high watermark) through a fresh instance. */
export interface ColdRead {
  records: number;
  /** Key + value bytes of the records read. */
  bytes: number;
  /** Fetch requests. */
  requests: number;
  wallMs: number;
  s3: S3Counts;
  getLatency: LatencySummary;
  ddb: Map<string, OperationCounts>;
  ddbPurposes: Map<string, OperationCounts>;
  cpu: CpuReport;
}

export interface CompactionPhaseResult {
  partitions: number;
  producers: number;
  recordsPerRequest: number;
  produced: number;
  producedBytes: number;
  produceRequests: number;
  produceWallMs: number;
  produceLatency: LatencySummary;
  /** The writer instance's requests while the topic was written. */
  produceS3: S3Counts;
  produceDdb: Map<string, OperationCounts>;
  before: { listing: PartitionListing[]; read: ColdRead };
  /** The admin endpoint's report of each pass, in order (the last says complete). */
  passes: MaintenanceReport[];
  /** From the first pass's request to the last pass's answer. */
  compactWallMs: number;
  /** The compactor instance's requests during the passes (counted by the middleware). */
  compactS3: S3Counts;
  compactDdb: Map<string, OperationCounts>;
  compactPurposes: Map<string, OperationCounts>;
  compactCpu: CpuReport;
  /** One more pass right after the complete one, with nothing left to compact (same instance). */
  repeat: { report: MaintenanceReport; wallMs: number; s3: S3Counts; ddb: Map<string, OperationCounts> };
  after: { listing: PartitionListing[]; read: ColdRead };
  /** Both reads returned the same records (per partition SHA-256 of offset, timestamp, key, value, headers). */
  identical: boolean;
}

function deriveRead(r: ColdRead) {
  const t = totals(r.ddb);
  const mib = r.bytes / MiB;
  return {
    totals: t,
    mib,
    mibPerSec: mib / (r.wallMs / 1000),
    recordsPerSec: r.records / (r.wallMs / 1000),
    getsPerMiB: r.s3.gets / mib,
    getBytesPerMiB: r.s3.getBytes / MiB / mib,
    readUnitsPerMiB: t.readUnits / mib,
    ddbRequestsPerMiB: t.requests / mib,
    costUsd: (r.s3.gets * PRICES.s3GetPer1k) / 1000 + (t.readUnits * PRICES.ddbPerMillionRru) / 1e6,
  };
}

function segmentStats(listing: PartitionListing[]) {
  const segments = listing.map((p) => p.segments);
  const total = segments.reduce((n, x) => n + x, 0);
  return {
    total,
    mean: total / Math.max(1, segments.length),
    min: Math.min(...segments),
    max: Math.max(...segments),
    sizeBytes: listing.reduce((n, p) => n + p.sizeBytes, 0),
  };
}

/** Sums of the passes' own reports. */
function sumPasses(passes: MaintenanceReport[]) {
  const sum = {
    partitions: 0,
    durationMs: 0,
    batches: { read: 0, written: 0, deleted: 0 },
    objects: { read: 0, written: 0, deleted: 0 },
    bytes: { read: 0, written: 0, deleted: 0 },
    dynamodb: { readUnits: 0, writeUnits: 0 },
    details: {} as Record<string, number>,
  };
  for (const p of passes) {
    sum.partitions += p.partitions;
    sum.durationMs += p.durationMs;
    for (const k of ['read', 'written', 'deleted'] as const) {
      sum.batches[k] += p.batches[k];
      sum.objects[k] += p.objects[k];
      sum.bytes[k] += p.bytes[k];
    }
    sum.dynamodb.readUnits += p.dynamodb.readUnits;
    sum.dynamodb.writeUnits += p.dynamodb.writeUnits;
    for (const [k, v] of Object.entries(p.details)) sum.details[k] = (sum.details[k] ?? 0) + v;
  }
  return sum;
}

export function deriveCompaction(c: CompactionPhaseResult) {
  const before = deriveRead(c.before.read);
  const after = deriveRead(c.after.read);
  const compact = totals(c.compactDdb);
  const produce = totals(c.produceDdb);
  const producedMiB = c.producedBytes / MiB;
  // What compaction itself cost, at COST.md's prices (the requests counted by the middleware).
  const cost = {
    s3Put: (c.compactS3.puts * PRICES.s3PutPer1k) / 1000,
    s3Get: (c.compactS3.gets * PRICES.s3GetPer1k) / 1000,
    ddbWrite: (compact.writeUnits * PRICES.ddbPerMillionWru) / 1e6,
    ddbRead: (compact.readUnits * PRICES.ddbPerMillionRru) / 1e6,
  };
  const costUsd = cost.s3Put + cost.s3Get + cost.ddbWrite + cost.ddbRead;
  const savedPerReadUsd = before.costUsd - after.costUsd;
  const segmentsBefore = segmentStats(c.before.listing);
  const segmentsAfter = segmentStats(c.after.listing);
  return {
    before,
    after,
    producedMiB,
    produce: {
      totals: produce,
      objects: c.produceS3.puts,
      /** Index items the produce commits wrote: one per partition-batch. */
      indexEntries: [...c.produceDdb.values()].reduce((n, x) => n + x.itemsWritten, 0),
      avgObjectBytes: c.produceS3.putBytes / Math.max(1, c.produceS3.puts),
      recordsPerRequest: c.recordsPerRequest,
      putsPerMiB: c.produceS3.puts / producedMiB,
      writeUnitsPerMiB: produce.writeUnits / producedMiB,
      recordsPerSec: c.produced / (c.produceWallMs / 1000),
    },
    segmentsBefore,
    segmentsAfter,
    passes: sumPasses(c.passes),
    compact,
    cost,
    costUsd,
    savedPerReadUsd,
    /** Full cold reads of the topic after which compaction has paid for itself (undefined: never). */
    paybackReads: savedPerReadUsd > 0 ? costUsd / savedPerReadUsd : undefined,
    /**
     * GETs a cold full read would make if every partition were read by a separate instance (each instance
     * GETs each object its partition has batches in once): Σ segments over the partitions.
     */
    perPartitionReaderGets: { before: segmentsBefore.total, after: segmentsAfter.total },
    /** The same payback for such readers (their index reads taken as measured). */
    paybackReadsPerPartitionReaders: (() => {
      const saved =
        ((segmentsBefore.total - segmentsAfter.total) * PRICES.s3GetPer1k) / 1000 +
        ((before.totals.readUnits - after.totals.readUnits) * PRICES.ddbPerMillionRru) / 1e6;
      return saved > 0 ? costUsd / saved : undefined;
    })(),
  };
}

export function deriveGroup(g: GroupPhaseResult) {
  const t = totals(g.ddb);
  const per1k = (n: number) => (n * 1000) / g.run.records;
  return {
    totals: t,
    recordsPerSec: g.run.records / (g.wallMs / 1000),
    mibPerSec: g.run.bytes / MiB / (g.wallMs / 1000),
    redelivered: g.run.records - g.distinct,
    readUnitsPer1k: per1k(t.readUnits),
    writeUnitsPer1k: per1k(t.writeUnits),
    s3GetsPer1k: per1k(g.s3.gets),
    ddbRequestsPer1k: per1k(t.requests),
    reportedUnitsPer1k: per1k(t.reportedReadUnits + t.reportedWriteUnits),
    estimatedWrites: [...g.ddb.values()].reduce((n, s) => n + s.estimatedWrites, 0),
    recordsPerFetch: g.run.records / Math.max(1, g.run.fetches - g.run.emptyFetches - g.run.rebalances),
  };
}

/** AWS list prices from docs/../shared COST.md (us-east-1). */
export const PRICES = {
  s3PutPer1k: 0.005,
  s3GetPer1k: 0.0004,
  ddbPerMillionWru: 0.625,
  ddbPerMillionRru: 0.125,
  s3StoragePerGbMonth: 0.023,
};

/** The reference workload: 1 MiB/s produced, 16 partitions, two consumer groups reading everything. */
const SECONDS_PER_MONTH = 30 * 24 * 3600;
const RW_MIB_PER_MONTH = 1 * SECONDS_PER_MONTH;
const RW_GROUPS = 2;

export function derive(r: BenchResult) {
  const producedMiB = r.produce.bytes / MiB;
  const consumedMiB = r.consume.bytes / MiB;
  const produceMBps = producedMiB / (r.produce.wallMs / 1000);
  const consumeMBps = consumedMiB / (r.consume.wallMs / 1000);
  const ceilingMBps = producedMiB / (r.ceiling.wallMs / 1000);
  const produceTotals = totals(r.produceBackend.ddb);
  const consumeTotals = totals(r.consume.ddb);
  const flushes = r.produceBackend.s3.puts;
  const perMiB = {
    s3PutsPerMiB: r.produceBackend.s3.puts / producedMiB,
    s3GetsPerMiB: r.consume.s3.gets / consumedMiB,
    ddbWriteUnitsPerMiB: produceTotals.writeUnits / producedMiB,
    ddbReadUnitsPerMiB: consumeTotals.readUnits / consumedMiB,
  };
  const perMonth = {
    s3Put: perMiB.s3PutsPerMiB * RW_MIB_PER_MONTH * (PRICES.s3PutPer1k / 1000),
    s3Get: perMiB.s3GetsPerMiB * RW_MIB_PER_MONTH * RW_GROUPS * (PRICES.s3GetPer1k / 1000),
    ddbWrite: perMiB.ddbWriteUnitsPerMiB * RW_MIB_PER_MONTH * (PRICES.ddbPerMillionWru / 1e6),
    ddbRead: perMiB.ddbReadUnitsPerMiB * RW_MIB_PER_MONTH * RW_GROUPS * (PRICES.ddbPerMillionRru / 1e6),
    // 7 days of 1 MiB/s kept in S3 Standard (GB taken as GiB).
    s3Storage: ((7 * 24 * 3600) / 1024) * PRICES.s3StoragePerGbMonth,
  };
  const requestTotal = perMonth.s3Put + perMonth.s3Get + perMonth.ddbWrite + perMonth.ddbRead;
  const perFlush = {
    ddbWriteRequests: produceTotals.writeRequests / flushes,
    ddbWriteUnits: produceTotals.writeUnits / flushes,
    itemsWritten: [...r.produceBackend.ddb.values()].reduce((n, s) => n + s.itemsWritten, 0) / flushes,
    avgObjectBytes: r.produceBackend.s3.putBytes / flushes,
  };
  return {
    producedMiB,
    consumedMiB,
    produceMBps,
    produceRecordsPerSec: r.produce.records / (r.produce.wallMs / 1000),
    consumeMBps,
    consumeRecordsPerSec: r.consume.records / (r.consume.wallMs / 1000),
    ceilingMBps,
    ratio: produceMBps / ceilingMBps,
    produceTotals,
    consumeTotals,
    flushes,
    perMiB,
    perMonth,
    requestTotal,
    perFlush,
  };
}

/** Monthly write-side cost of RW if each flush costs what the bench measured per flush, at a given flush rate. */
export function flushRateModel(perFlush: { ddbWriteUnits: number }, flushIntervalMs: number) {
  const flushesPerMonth = (SECONDS_PER_MONTH * 1000) / flushIntervalMs;
  return {
    s3Put: flushesPerMonth * (PRICES.s3PutPer1k / 1000),
    ddbWrite: flushesPerMonth * perFlush.ddbWriteUnits * (PRICES.ddbPerMillionWru / 1e6),
  };
}

const f = (n: number, digits = 1) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : 'n/a';
const usd = (n: number) => `$${f(n, 2)}`;
const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);

function operationTable(ops: Map<string, OperationCounts>): string[] {
  const lines = [
    `    ${pad('operation', 20)}${lpad('requests', 10)}${lpad('items', 8)}${lpad('WRU', 10)}${lpad('RRU', 10)}${lpad('DDB-Local', 11)}  errors`,
  ];
  for (const [op, s] of [...ops].sort((a, b) => b[1].requests - a[1].requests)) {
    const errors = Object.entries(s.errors)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ');
    lines.push(
      `    ${pad(op, 20)}${lpad(String(s.requests), 10)}${lpad(s.itemsWritten ? String(s.itemsWritten) : '', 8)}${lpad(
        s.writeUnits ? f(s.writeUnits, 0) : '',
        10,
      )}${lpad(s.readUnits ? f(s.readUnits, 1) : '', 10)}${lpad(f(s.reportedUnits, 1), 11)}  ${errors || '-'}`,
    );
  }
  return lines;
}

/** Requests and units by purpose, with each per 1,000 records delivered. */
function purposeTable(purposes: Map<string, OperationCounts>, records: number): string[] {
  const per1k = (n: number) => (n * 1000) / records;
  const lines = [
    `    ${pad('request: purpose', 44)}${lpad('requests', 9)}${lpad('WRU', 8)}${lpad('RRU', 9)}${lpad('per 1k rec:', 13)}${lpad('req', 7)}${lpad('WRU', 7)}${lpad('RRU', 7)}  errors`,
  ];
  const rows = [...purposes].sort(
    (a, b) =>
      b[1].writeUnits + b[1].readUnits - (a[1].writeUnits + a[1].readUnits) || b[1].requests - a[1].requests,
  );
  for (const [label, s] of rows) {
    const errors = Object.entries(s.errors)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ');
    lines.push(
      `    ${pad(label, 44)}${lpad(String(s.requests), 9)}${lpad(s.writeUnits ? f(s.writeUnits, 0) : '', 8)}${lpad(
        s.readUnits ? f(s.readUnits, 1) : '',
        9,
      )}${lpad('', 13)}${lpad(f(per1k(s.requests), 2), 7)}${lpad(s.writeUnits ? f(per1k(s.writeUnits), 2) : '', 7)}${lpad(
        s.readUnits ? f(per1k(s.readUnits), 2) : '',
        7,
      )}  ${errors || '-'}`,
    );
  }
  return lines;
}

function formatGroups(g: GroupPhaseResult): string[] {
  const d = deriveGroup(g);
  const r = g.run;
  const n = (x: number) => x.toLocaleString('en-US');
  const lines: string[] = [];
  lines.push(
    `  setup:             ${n(g.produced)} records (${f(g.producedBytes / MiB, 1)} MiB) pre-produced into a new ${g.partitions}-partition topic ` +
      `(${g.preProduceObjects} S3 objects) in ${(g.preProduceWallMs / 1000).toFixed(1)} s, not counted; read through a third, cold server instance`,
  );
  lines.push(
    `  members:           ${g.members}, one group, each looping fetch (maxRecords ${g.maxRecords}, maxBytes ${f(g.maxBytes / MiB, 0)} MiB, waitMs ${g.waitMs}, cursor) → commit (last offset + 1 per partition)`,
  );
  lines.push(
    `  records:           ${n(r.records)} delivered, ${n(g.distinct)} distinct` +
      `${g.distinct === g.produced ? ' = every produced record' : ` — MISMATCH: produced ${n(g.produced)}`}` +
      `, ${n(d.redelivered)} redelivered; ${f(r.bytes / MiB, 1)} MiB`,
  );
  lines.push(
    `  throughput:        ${f(d.recordsPerSec, 0)} records/s (${f(d.mibPerSec, 2)} MiB/s) over ${(g.wallMs / 1000).toFixed(1)} s, from the first join to the commit that reached every high watermark`,
  );
  lines.push(
    `  calls:             ${r.joins} joins (${r.rejoins} after UNKNOWN_MEMBER), ${r.fetches} fetches (${r.emptyFetches} empty, ${r.rebalances} REBALANCE_IN_PROGRESS; ` +
      `${f(d.recordsPerFetch, 0)} records per fetch with records), ${r.commits} commits (${r.fencedCommits} fenced), ${r.heartbeats} heartbeats, ${r.throttled} throttled`,
  );
  lines.push(
    `  end state:         generation ${g.describedGeneration}; GET /v1/groups/{group}: ${g.lagZero ? 'committed offset = high watermark (lag 0) on every partition' : 'LAG LEFT'}` +
      `${r.failures ? `; ${r.failures} member(s) failed: ${r.firstFailure}` : ''}`,
  );
  lines.push(
    `  per member:        ${r.members.map((m) => `${n(m.records)} records / ${m.fetches} fetches / ${m.commits} commits`).join('; ')}`,
  );
  lines.push(
    `  per 1,000 records: ${f(d.readUnitsPer1k, 2)} RRU + ${f(d.writeUnitsPer1k, 2)} WRU (DynamoDB, ${f(d.ddbRequestsPer1k, 1)} requests), ${f(d.s3GetsPer1k, 3)} S3 GETs`,
  );
  lines.push(
    `  S3:                ${g.s3.gets} GET (${f(g.s3.getBytes / MiB, 1)} MiB, p50 ${f(g.getLatency.p50Ms)} ms) for ${g.preProduceObjects} objects, ${g.s3.puts} PUT, ${g.s3.other} other, ${g.s3.errors} errors`,
  );
  lines.push(
    `  DynamoDB:          ${f(d.totals.readUnits, 1)} read units, ${f(d.totals.writeUnits, 0)} write units in ${n(d.totals.requests)} requests` +
      ` (DynamoDB Local reported ${f(d.totals.reportedReadUnits, 1)} + ${f(d.totals.reportedWriteUnits, 1)})` +
      `${d.estimatedWrites ? `; ${d.estimatedWrites} writes to items never seen, sized as ≤ 1 KB` : ''}`,
  );
  lines.push(...purposeTable(g.ddbPurposes, r.records));
  lines.push(...operationTable(g.ddb));
  lines.push(`  CPU: ${formatCpu(g.cpu)}`);
  return lines;
}

function formatCompaction(c: CompactionPhaseResult): string[] {
  const d = deriveCompaction(c);
  const n = (x: number) => x.toLocaleString('en-US');
  const mib = (bytes: number) => f(bytes / MiB, 1);
  const lines: string[] = [];
  lines.push(
    `  setup:             ${n(c.produced)} records (${f(d.producedMiB, 1)} MiB) written by ${c.producers} producers in ${n(c.produceRequests)} requests of ` +
      `${c.recordsPerRequest} records, in ${(c.produceWallMs / 1000).toFixed(1)} s (${f(d.produce.recordsPerSec, 0)} records/s, produce p50 ${f(c.produceLatency.p50Ms)} ms), ` +
      `into a new ${c.partitions}-partition topic in tables of its own`,
  );
  lines.push(
    `  objects:           ${n(d.produce.objects)} S3 objects (flushes) of ${f(d.produce.avgObjectBytes / 1024, 1)} KiB on average; writing cost ` +
      `${f(d.produce.putsPerMiB, 2)} PUTs and ${f(d.produce.writeUnitsPerMiB, 1)} WRU per MiB`,
  );
  const segLine = (label: string, s: ReturnType<typeof segmentStats>, listing: PartitionListing[]) =>
    `  ${label}mean ${f(s.mean, 1)} (min ${s.min}, max ${s.max}), Σ ${n(s.total)}; by partition: ${listing.map((p) => p.segments).join(' ')}`;
  lines.push(segLine('segments before:   ', d.segmentsBefore, c.before.listing));
  lines.push(
    `  batches:           ${n(d.produce.indexEntries)} index entries (one per partition per flush): ${f(c.produced / Math.max(1, d.produce.indexEntries), 1)} records and ` +
      `${f(d.segmentsBefore.sizeBytes / Math.max(1, d.produce.indexEntries) / 1024, 1)} KiB per batch on average`,
  );
  lines.push(
    `  cold full read (every partition from 0 to its high watermark, a fresh instance each time, all ${c.partitions} at once):`,
  );
  lines.push(`    ${pad('', 30)}${lpad('before', 14)}${lpad('after', 14)}`);
  const row = (label: string, a: string, b: string) =>
    lines.push(`    ${pad(label, 30)}${lpad(a, 14)}${lpad(b, 14)}`);
  const b = d.before;
  const a = d.after;
  const rb = c.before.read;
  const ra = c.after.read;
  row('records', n(rb.records), n(ra.records));
  row('MiB read (key + value)', f(b.mib, 1), f(a.mib, 1));
  row('wall time, s', f(rb.wallMs / 1000, 2), f(ra.wallMs / 1000, 2));
  row('MiB/s', f(b.mibPerSec, 2), f(a.mibPerSec, 2));
  row('fetches', n(rb.requests), n(ra.requests));
  row('S3 GETs', n(rb.s3.gets), n(ra.s3.gets));
  row('S3 GET MiB', mib(rb.s3.getBytes), mib(ra.s3.getBytes));
  row('S3 GETs per MiB read', f(b.getsPerMiB, 2), f(a.getsPerMiB, 2));
  row('GET MiB per MiB read', f(b.getBytesPerMiB, 3), f(a.getBytesPerMiB, 3));
  row('S3 GET p50, ms', f(rb.getLatency.p50Ms), f(ra.getLatency.p50Ms));
  row('DynamoDB requests', n(b.totals.requests), n(a.totals.requests));
  row('DynamoDB RRU', f(b.totals.readUnits, 1), f(a.totals.readUnits, 1));
  row('DynamoDB RRU per MiB read', f(b.readUnitsPerMiB, 2), f(a.readUnitsPerMiB, 2));
  row('S3 errors / other requests', `${rb.s3.errors} / ${rb.s3.other}`, `${ra.s3.errors} / ${ra.s3.other}`);
  row('cost of the read (COST.md)', `$${f(b.costUsd * 1000, 4)}m`, `$${f(a.costUsd * 1000, 4)}m`);
  lines.push(
    '    ($…m = thousandths of a dollar: S3 GETs at $0.0004 per 1,000 plus RRU at $0.125 per million)',
  );
  lines.push('    DynamoDB by purpose, before:');
  lines.push(...purposeTable(rb.ddbPurposes, rb.records).map((l) => `  ${l}`));
  lines.push('    DynamoDB by purpose, after:');
  lines.push(...purposeTable(ra.ddbPurposes, ra.records).map((l) => `  ${l}`));
  lines.push(`    CPU before: ${formatCpu(rb.cpu)}`);
  lines.push(`    CPU after:  ${formatCpu(ra.cpu)}`);

  const p = d.passes;
  lines.push(
    `  compaction:        ${c.passes.length} pass${c.passes.length === 1 ? '' : 'es'} of POST /v1/admin/maintenance/compact {"minAgeMs":0} until complete, ` +
      `${(c.compactWallMs / 1000).toFixed(1)} s (durations ${c.passes.map((x) => (x.durationMs / 1000).toFixed(1)).join(' + ')} s), ${p.partitions} partitions visited`,
  );
  lines.push(
    `  its reports:       batches ${n(p.batches.read)} read, ${n(p.batches.written)} written, ${n(p.batches.deleted)} deleted; ` +
      `objects ${n(p.objects.read)} read, ${n(p.objects.written)} written; bytes ${mib(p.bytes.read)} MiB read, ${mib(p.bytes.written)} MiB written; ` +
      `DynamoDB ${f(p.dynamodb.readUnits, 1)} RRU, ${f(p.dynamodb.writeUnits, 0)} WRU (the passes' own estimate)` +
      `${
        Object.keys(p.details).length
          ? `; ${Object.entries(p.details)
              .map(([k, v]) => `${k} ${n(v)}`)
              .join(', ')}`
          : ''
      }`,
  );
  lines.push(
    `  counted requests:  S3 ${c.compactS3.puts} PUT (${mib(c.compactS3.putBytes)} MiB), ${c.compactS3.gets} GET (${mib(c.compactS3.getBytes)} MiB), ` +
      `${c.compactS3.other} other, ${c.compactS3.errors} errors; DynamoDB ${n(d.compact.requests)} requests, ` +
      `${f(d.compact.readUnits, 1)} RRU, ${f(d.compact.writeUnits, 0)} WRU (DynamoDB Local reported ${f(d.compact.reportedReadUnits, 1)} + ${f(d.compact.reportedWriteUnits, 1)})`,
  );
  lines.push(...purposeTable(c.compactPurposes, c.produced));
  lines.push(...operationTable(c.compactDdb));
  lines.push(`  CPU: ${formatCpu(c.compactCpu)}`);
  const rep = c.repeat;
  const repTotals = totals(rep.ddb);
  lines.push(
    `  a further pass:    right after, nothing left to compact: ${(rep.wallMs / 1000).toFixed(1)} s, complete ${rep.report.complete}; ` +
      `its report: batches ${n(rep.report.batches.read)} read, ${n(rep.report.batches.written)} written, objects ${n(rep.report.objects.read)} read, ` +
      `${n(rep.report.objects.written)} written, ${mib(rep.report.bytes.read)} MiB read; ` +
      `counted: S3 ${rep.s3.gets} GET (${mib(rep.s3.getBytes)} MiB), ${rep.s3.puts} PUT; DynamoDB ${n(repTotals.requests)} requests, ` +
      `${f(repTotals.readUnits, 1)} RRU, ${f(repTotals.writeUnits, 0)} WRU`,
  );
  lines.push(segLine('segments after:    ', d.segmentsAfter, c.after.listing));
  const moved = c.after.listing.some((x, i) => x.highWatermark !== c.before.listing[i]?.highWatermark);
  lines.push(
    `  verification:      ${c.identical ? 'the records read after compaction are identical to those read before' : 'RECORDS DIFFER'} ` +
      `(per partition SHA-256 of offset, timestamp, key, value, headers; offsets dense from 0; ${n(rb.records)} = ${n(ra.records)} = ${n(c.produced)} produced); ` +
      `high watermarks ${moved ? 'CHANGED' : 'unchanged'}`,
  );
  lines.push(
    `  cost (COST.md):    compaction $${f(d.costUsd * 1000, 4)}m = PUT $${f(d.cost.s3Put * 1000, 4)}m + GET $${f(d.cost.s3Get * 1000, 4)}m + ` +
      `WRU $${f(d.cost.ddbWrite * 1000, 4)}m + RRU $${f(d.cost.ddbRead * 1000, 4)}m; one cold full read saves $${f(d.savedPerReadUsd * 1000, 4)}m ` +
      `(${n(rb.s3.gets - ra.s3.gets)} GETs, ${f(b.totals.readUnits - a.totals.readUnits, 1)} RRU)`,
  );
  lines.push(
    `  pays for itself:   ${d.paybackReads === undefined ? 'never (a read after compaction costs no less)' : `after ${f(d.paybackReads, 1)} cold full reads of the topic by one instance`}; ` +
      `if each partition were read by its own instance, a full read would make ${n(d.perPartitionReaderGets.before)} GETs before and ` +
      `${n(d.perPartitionReaderGets.after)} after (Σ segments), and compaction would pay for itself after ` +
      `${d.paybackReadsPerPartitionReaders === undefined ? 'never' : f(d.paybackReadsPerPartitionReaders, 1)} such reads`,
  );
  return lines;
}

export const UNITS_METHOD =
  'computed per AWS billing rules from the wire requests/responses (DynamoDB Local returns ConsumedCapacity, ' +
  'but under-reports TransactWriteItems, so its figures are shown for comparison only)';

export function formatReport(r: BenchResult): string {
  const d = derive(r);
  const c = r.config;
  const recordBytes = c.keyBytes + c.valueBytes;
  const lines: string[] = [];
  const section = (title: string) => lines.push('', title, '-'.repeat(title.length));
  lines.push('Sluice benchmark');
  lines.push('================');
  lines.push(`date:     ${r.date}`);
  lines.push(`command:  ${r.command}`);
  lines.push(
    `machine:  ${r.machine.cpuModel}, ${r.machine.cores} cores, ${f(r.machine.memoryGiB, 1)} GiB, Node ${r.machine.node} (${r.machine.platform})`,
  );
  lines.push(
    `config:   ${c.partitions} partitions, ${c.producers} producers on ${c.producerThreads} threads, ${c.recordsPerRequest} keyed records/request, ` +
      `record ${recordBytes} B (key ${c.keyBytes} + JSON value ${c.valueBytes}), target ${c.targetMiB} MiB or ${c.maxSeconds} s`,
  );
  lines.push(
    `server:   agent mode, linger ${c.lingerMs} ms, flush ≤ ${f(c.maxFlushBytes / MiB, 0)} MiB, ≤ ${c.maxFlushInFlight} flushes in flight; ` +
      'S3 = fauxqs in a worker thread, DynamoDB = DynamoDB Local (in memory), load generators in worker threads',
  );
  lines.push(
    'units:    MB/s figures are MiB/s (2^20 bytes); bytes counted = key + value bytes of the records',
  );
  lines.push(
    `load:     1/5/15-minute load average at the start: ${r.machine.loadAverage.map((l) => l.toFixed(2)).join(' / ')}`,
  );
  const others = otherCores(r.cpu.produce);
  if (others !== undefined && others > 0.25) {
    lines.push(
      `WARNING:  other processes used ${others.toFixed(2)} of the ${r.machine.cores} cores during the produce phase: ` +
        'the machine was shared, so throughput figures are lower than on an idle machine',
    );
  }

  section('Produce');
  lines.push(
    `  ${d.producedMiB.toFixed(1)} MiB, ${r.produce.records.toLocaleString('en-US')} records in ${(r.produce.wallMs / 1000).toFixed(1)} s` +
      ` (${r.produce.requests} requests, ${r.produce.failures} failed${r.produce.firstFailure ? `: ${r.produce.firstFailure}` : ''})`,
  );
  lines.push(`  throughput:        ${f(d.produceMBps, 2)} MiB/s, ${f(d.produceRecordsPerSec, 0)} records/s`);
  lines.push(
    `  produce latency:   p50 ${f(r.produce.latency.p50Ms)} ms, p99 ${f(r.produce.latency.p99Ms)} ms, max ${f(r.produce.latency.maxMs)} ms (per request, HDR histogram)`,
  );
  lines.push(
    `  end-to-end:        p50 ${f(r.e2e.latency.p50Ms)} ms, p99 ${f(r.e2e.latency.p99Ms)} ms over ${r.e2e.records.toLocaleString('en-US')} records ` +
      `(long-poll waitMs=1000 on partitions ${c.e2ePartitions.join(',')}; ${r.e2e.polls} polls, ${r.e2e.failures} failed)`,
  );
  lines.push(
    `  flushes:           ${d.flushes} S3 PUTs, average object ${f(d.perFlush.avgObjectBytes / MiB, 2)} MiB, ` +
      `max ${r.produceBackend.s3.maxPutsInFlight} PUTs in flight`,
  );
  lines.push(
    `  per flush:         ${f(d.perFlush.ddbWriteRequests, 2)} DynamoDB write requests, ${f(d.perFlush.itemsWritten, 1)} index items, ${f(d.perFlush.ddbWriteUnits, 1)} write units`,
  );
  lines.push(
    `  backend latency:   S3 PUT p50 ${f(r.produceBackend.putLatency.p50Ms)} / p99 ${f(r.produceBackend.putLatency.p99Ms)} ms; ` +
      `DynamoDB write p50 ${f(r.produceBackend.commitLatency.p50Ms)} / p99 ${f(r.produceBackend.commitLatency.p99Ms)} ms`,
  );
  lines.push(
    `  S3:                ${r.produceBackend.s3.puts} PUT (${f(r.produceBackend.s3.putBytes / MiB, 1)} MiB), ${r.produceBackend.s3.gets} GET, ` +
      `${r.produceBackend.s3.other} other, ${r.produceBackend.s3.errors} errors → ${f(d.perMiB.s3PutsPerMiB, 3)} PUTs per MiB produced`,
  );
  lines.push(
    `  DynamoDB:          ${f(d.produceTotals.writeUnits, 0)} write units → ${f(d.perMiB.ddbWriteUnitsPerMiB, 2)} WRU per MiB produced; ` +
      `${f(d.produceTotals.readUnits, 1)} read units (tail look-ups and the e2e consumer's polls)`,
  );
  lines.push(...operationTable(r.produceBackend.ddb));
  lines.push(`  CPU: ${formatCpu(r.cpu.produce)}`);

  section('Consume (second server instance, cold cache, 16 partitions at once)');
  lines.push(
    `  ${d.consumedMiB.toFixed(1)} MiB, ${r.consume.records.toLocaleString('en-US')} records in ${(r.consume.wallMs / 1000).toFixed(1)} s` +
      ` (${r.consume.requests} fetches, ${r.consume.failures} failed${r.consume.firstFailure ? `: ${r.consume.firstFailure}` : ''})` +
      `${r.consume.records === r.produce.records ? ', every produced record read back' : `, MISMATCH: produced ${r.produce.records}`}`,
  );
  lines.push(`  throughput:        ${f(d.consumeMBps, 2)} MiB/s, ${f(d.consumeRecordsPerSec, 0)} records/s`);
  lines.push(
    `  S3:                ${r.consume.s3.gets} GET (${f(r.consume.s3.getBytes / MiB, 1)} MiB, p50 ${f(r.consume.getLatency.p50Ms)} ms) → ${f(d.perMiB.s3GetsPerMiB, 3)} GETs per MiB consumed`,
  );
  lines.push(
    `  DynamoDB:          ${f(d.consumeTotals.readUnits, 1)} read units → ${f(d.perMiB.ddbReadUnitsPerMiB, 3)} RRU per MiB consumed`,
  );
  lines.push(...operationTable(r.consume.ddb));
  lines.push(`  CPU: ${formatCpu(r.cpu.consume)}`);

  section('Raw backend ceiling (the produce phase’s S3/DynamoDB requests replayed with the SDK)');
  lines.push(
    `  ${r.ceiling.flushes} flushes (${r.ceiling.puts} PUTs, ${f(r.ceiling.putBytes / MiB, 1)} MiB; ${r.ceiling.writes} DynamoDB writes) ` +
      `with ${r.ceiling.concurrency} in flight in ${(r.ceiling.wallMs / 1000).toFixed(1)} s` +
      ` (${r.ceiling.failures} failed${r.ceiling.firstFailure ? `: ${r.ceiling.firstFailure}` : ''}` +
      `${r.ceiling.unmatchedWrites ? `; ${r.ceiling.unmatchedWrites} writes matched no PUT and were not replayed` : ''})`,
  );
  const putL = summarizeMs(r.ceiling.putLatenciesMs);
  const writeL = summarizeMs(r.ceiling.writeLatenciesMs);
  lines.push(
    `  backend latency:   S3 PUT p50 ${f(putL.p50Ms)} / p99 ${f(putL.p99Ms)} ms; DynamoDB write p50 ${f(writeL.p50Ms)} / p99 ${f(writeL.p99Ms)} ms`,
  );
  lines.push(`  CPU: ${formatCpu(r.cpu.replay)}`);
  lines.push(`  ceiling:           ${f(d.ceilingMBps, 2)} MiB/s of produced bytes`);
  lines.push(`  ratio:             ${f(d.ratio, 2)} (Sluice produce ÷ ceiling)`);

  section('DynamoDB units');
  lines.push(`  ${UNITS_METHOD}`);
  lines.push(
    `  produce: ${f(d.produceTotals.writeUnits, 0)} WRU computed vs ${f(d.produceTotals.reportedWriteUnits, 0)} reported by DynamoDB Local; ` +
      `consume: ${f(d.consumeTotals.readUnits, 1)} RRU computed vs ${f(d.consumeTotals.reportedReadUnits, 1)} reported`,
  );
  lines.push(
    '  updates and deletes are sized by the larger of the item before and after the write (from the last image of',
  );
  lines.push('  the item that the client read, wrote or got back: bench/units.ts, ItemImages)');

  if (r.groups) {
    section(`Consumer group (${r.groups.members} members over HTTP, third server instance, cold cache)`);
    lines.push(...formatGroups(r.groups));
  }

  if (r.compaction) {
    section('Compaction (a topic written in small batches, read cold before and after compaction)');
    lines.push(...formatCompaction(r.compaction));
  }

  section('Monthly cost for COST.md’s reference workload — EXTRAPOLATION, not a measurement');
  lines.push(
    '  RW = 1 MiB/s produced, 16 partitions, two consumer groups, 30-day month; request counts per MiB as measured above,',
  );
  lines.push(
    '  prices from COST.md. The bench ran at full speed, so its flushes were large; at 1 MiB/s flushes are much smaller',
  );
  lines.push(
    '  and more frequent, so the per-MiB write-side figures understate RW (see the flush-rate lines).',
  );
  lines.push(
    `    S3 PUT             ${lpad(usd(d.perMonth.s3Put), 12)}   (${f(d.perMiB.s3PutsPerMiB, 3)} per MiB)`,
  );
  lines.push(
    `    S3 GET  (2 groups) ${lpad(usd(d.perMonth.s3Get), 12)}   (${f(d.perMiB.s3GetsPerMiB, 3)} per MiB consumed)`,
  );
  lines.push(
    `    DynamoDB writes    ${lpad(usd(d.perMonth.ddbWrite), 12)}   (${f(d.perMiB.ddbWriteUnitsPerMiB, 2)} WRU per MiB)`,
  );
  lines.push(
    `    DynamoDB reads (2) ${lpad(usd(d.perMonth.ddbRead), 12)}   (${f(d.perMiB.ddbReadUnitsPerMiB, 3)} RRU per MiB consumed)`,
  );
  lines.push(`    requests total     ${lpad(usd(d.requestTotal), 12)}`);
  lines.push(
    `    + S3 storage, 7 days of 1 MiB/s: ${usd(d.perMonth.s3Storage)}; Lambda/API Gateway not included`,
  );
  lines.push(
    `  Flush-rate view (write side only): 1 PUT and ${f(d.perFlush.ddbWriteUnits, 1)} WRU per flush as measured (each flush touched ~all partitions):`,
  );
  for (const interval of [c.lingerMs, 250, 1000]) {
    const m = flushRateModel(d.perFlush, interval);
    lines.push(
      `    one flush every ${lpad(String(interval), 4)} ms: S3 PUT ${lpad(usd(m.s3Put), 10)}, DynamoDB writes ${lpad(usd(m.ddbWrite), 10)} per month`,
    );
  }
  if (r.serverErrors > 0)
    lines.push('', `WARNING: the servers logged ${r.serverErrors} unexpected errors (HTTP 500s)`);
  if (r.deployed) {
    section('Monthly cost of the deployed stack (README "Deploy to AWS") — computed from the counts below');
    lines.push(...formatDeployed(r.deployed));
  }
  if (r.deployedKeyed) {
    section(
      'Monthly cost of the deployed stack with keyed records (issue 14) — computed from the counts below',
    );
    lines.push(...formatDeployed(r.deployedKeyed));
  }
  if (r.hotTopic) {
    section('Hot topic: many Lambda-shaped writers on one topic, keyed records');
    lines.push(...formatHotTopic(r.hotTopic));
  }
  if (r.agent) {
    section('The agent (one Log, its batcher) at each linger, keyed records');
    lines.push(...formatAgent(r.agent, r.agentRequestsPerSecond ?? 0));
  }

  return lines.join('\n');
}

export function summaryJson(r: BenchResult): Record<string, unknown> {
  const d = derive(r);
  const round = (n: number, digits = 3) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : null);
  return {
    date: r.date,
    produceMBps: round(d.produceMBps),
    produceRecordsPerSec: round(d.produceRecordsPerSec, 0),
    ceilingMBps: round(d.ceilingMBps),
    ratio: round(d.ratio),
    produceP50Ms: round(r.produce.latency.p50Ms, 1),
    produceP99Ms: round(r.produce.latency.p99Ms, 1),
    e2eP50Ms: round(r.e2e.latency.p50Ms, 1),
    e2eP99Ms: round(r.e2e.latency.p99Ms, 1),
    s3PutsPerMiB: round(d.perMiB.s3PutsPerMiB, 4),
    s3GetsPerMiB: round(d.perMiB.s3GetsPerMiB, 4),
    ddbWriteUnitsPerMiB: round(d.perMiB.ddbWriteUnitsPerMiB, 3),
    ddbReadUnitsPerMiB: round(d.perMiB.ddbReadUnitsPerMiB, 4),
    consumeMBps: round(d.consumeMBps),
    consumeRecordsPerSec: round(d.consumeRecordsPerSec, 0),
    unitsMethod: 'computed (AWS billing rules, from wire requests/responses)',
    producedMiB: round(d.producedMiB, 1),
    records: r.produce.records,
    flushes: d.flushes,
    avgObjectBytes: round(d.perFlush.avgObjectBytes, 0),
    ddbWriteUnitsPerFlush: round(d.perFlush.ddbWriteUnits, 2),
    ddbWriteRequestsPerFlush: round(d.perFlush.ddbWriteRequests, 3),
    maxPutsInFlight: r.produceBackend.s3.maxPutsInFlight,
    reportedDdbWriteUnitsPerMiB: round(d.produceTotals.reportedWriteUnits / d.producedMiB, 3),
    reportedDdbReadUnitsPerMiB: round(d.consumeTotals.reportedReadUnits / d.consumedMiB, 4),
    rwMonthlyRequestCostUsd: round(d.requestTotal, 2),
    produceFailures: r.produce.failures,
    consumeMatches: r.consume.records === r.produce.records,
    produceServerElu: r.cpu.produce.elu['server (main)'] ?? null,
    otherProcessesCoresDuringProduce: otherCores(r.cpu.produce) ?? null,
    replayMainElu: r.cpu.replay.elu['replay (main)'] ?? null,
    ...(r.groups ? groupJson(r.groups) : {}),
    ...(r.compaction ? compactionJson(r.compaction) : {}),
    ...(r.deployed
      ? {
          deployedSimulatedSeconds: r.deployed.simulatedSeconds,
          deployedMonthlyUsd: round(deployedTotal(r.deployed), 2),
        }
      : {}),
    ...(r.deployedKeyed ? keyedJson(r.deployedKeyed) : {}),
    ...(r.hotTopic ? hotTopicJson(r.hotTopic) : {}),
    ...(r.agent ? agentJson(r.agent) : {}),
  };
}

const roundTo = (n: number, digits = 3) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : null);

function keyedJson(m: DeployedMeasurement): Record<string, unknown> {
  const u = deployedUnits(m);
  return {
    deployedKeyedMonthlyUsd: roundTo(deployedTotal(m), 2),
    keyedProduceWruPerRequest: roundTo(u.produceWruPerRequest, 2),
    keyedProduceRruPerRequest: roundTo(u.produceRruPerRequest, 2),
    memberFetchRru: roundTo(u.memberFetchRru, 2),
    memberCommitWru: roundTo(u.memberCommitWru, 2),
    memberCommitPartitions: roundTo(u.memberCommitPartitions, 2),
    memberCommitMeasuredAs: 'a separate commit call after a fetch without commit=true',
  };
}

function hotTopicJson(levels: readonly HotTopicLevel[]): Record<string, unknown> {
  const byWriters = levels.map((level) => {
    const rates = hotTopicRates(level);
    return {
      writers: level.writers,
      seconds: roundTo(level.wallMs / 1000, 1),
      commits: level.commits,
      commitsPerSec: roundTo(rates.commitsPerSec, 1),
      wruPerCommit: roundTo(rates.wruPerCommit, 2),
      rruPerCommit: roundTo(rates.rruPerCommit, 2),
      conflicts: level.conflicts,
      throttled: level.throttled,
      failed: level.failed,
      p50Ms: roundTo(level.latencyP50Ms, 0),
      p99Ms: roundTo(level.latencyP99Ms, 0),
    };
  });
  const at16 = byWriters.find((l) => l.writers === 16);
  return {
    ...(at16
      ? {
          hotTopicCommitsPerSec16: at16.commitsPerSec,
          hotTopicWruPerCommit16: at16.wruPerCommit,
          hotTopicThrottled16: at16.throttled,
        }
      : {}),
    hotTopic: byWriters,
  };
}

function agentJson(runs: readonly AgentRun[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const run of runs) {
    const m = agentMonthlyCost(run);
    out[`agentKeyedMonthlyUsdLinger${run.lingerMs}`] = roundTo(m.totalUsd, 2);
    out[`agentKeyedFlushesPerSecLinger${run.lingerMs}`] = roundTo(m.flushesPerSec, 1);
  }
  return out;
}

function compactionJson(c: CompactionPhaseResult): Record<string, unknown> {
  const d = deriveCompaction(c);
  const round = (n: number, digits = 3) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : null);
  return {
    compactionRecords: c.produced,
    compactionMiB: round(d.producedMiB, 2),
    compactionRecordsPerRequest: c.recordsPerRequest,
    compactionObjectsWritten: d.produce.objects,
    compactionAvgObjectBytes: round(d.produce.avgObjectBytes, 0),
    compactionSegmentsPerPartitionBefore: round(d.segmentsBefore.mean, 2),
    compactionSegmentsPerPartitionAfter: round(d.segmentsAfter.mean, 2),
    compactionSegmentsTotalBefore: d.segmentsBefore.total,
    compactionSegmentsTotalAfter: d.segmentsAfter.total,
    compactionGetsPerMiBBefore: round(d.before.getsPerMiB, 3),
    compactionGetsPerMiBAfter: round(d.after.getsPerMiB, 3),
    compactionGetsBefore: c.before.read.s3.gets,
    compactionGetsAfter: c.after.read.s3.gets,
    compactionGetBytesBefore: c.before.read.s3.getBytes,
    compactionGetBytesAfter: c.after.read.s3.getBytes,
    compactionRruPerMiBBefore: round(d.before.readUnitsPerMiB, 3),
    compactionRruPerMiBAfter: round(d.after.readUnitsPerMiB, 3),
    compactionReadMBpsBefore: round(d.before.mibPerSec),
    compactionReadMBpsAfter: round(d.after.mibPerSec),
    compactionPasses: c.passes.length,
    compactionWallMs: c.compactWallMs,
    compactionObjectsRead: d.passes.objects.read,
    compactionObjectsCompacted: d.passes.objects.written,
    compactionBytesRead: d.passes.bytes.read,
    compactionBytesWritten: d.passes.bytes.written,
    compactionBatchesRewritten: d.passes.batches.written,
    compactionReportedRru: round(d.passes.dynamodb.readUnits, 1),
    compactionReportedWru: round(d.passes.dynamodb.writeUnits, 1),
    compactionS3Puts: c.compactS3.puts,
    compactionS3Gets: c.compactS3.gets,
    compactionS3Other: c.compactS3.other,
    compactionDdbRequests: d.compact.requests,
    compactionDdbRru: round(d.compact.readUnits, 1),
    compactionDdbWru: round(d.compact.writeUnits, 1),
    compactionCostUsd: round(d.costUsd, 6),
    compactionSavedPerReadUsd: round(d.savedPerReadUsd, 7),
    compactionPaybackReads: d.paybackReads === undefined ? null : round(d.paybackReads, 1),
    compactionPaybackReadsPerPartitionReaders:
      d.paybackReadsPerPartitionReaders === undefined ? null : round(d.paybackReadsPerPartitionReaders, 1),
    compactionRecordsIdentical: c.identical,
    compactionRepeatPassS3Gets: c.repeat.s3.gets,
    compactionRepeatPassObjectsWritten: c.repeat.report.objects.written,
  };
}

function groupJson(g: GroupPhaseResult): Record<string, unknown> {
  const d = deriveGroup(g);
  const round = (n: number, digits = 3) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : null);
  return {
    groupMembers: g.members,
    groupRecordsProduced: g.produced,
    groupRecordsDelivered: g.run.records,
    groupDistinctRecords: g.distinct,
    groupRedelivered: d.redelivered,
    groupWallMs: g.wallMs,
    groupRecordsPerSec: round(d.recordsPerSec, 0),
    groupDdbReadUnitsPer1kRecords: round(d.readUnitsPer1k, 3),
    groupDdbWriteUnitsPer1kRecords: round(d.writeUnitsPer1k, 3),
    groupS3GetsPer1kRecords: round(d.s3GetsPer1k, 4),
    groupFetches: g.run.fetches,
    groupCommits: g.run.commits,
    groupRebalances: g.run.rebalances,
    groupFencedCommits: g.run.fencedCommits,
    groupGeneration: g.describedGeneration,
    groupLagZero: g.lagZero,
    groupServerElu: g.cpu.elu['groups (main)'] ?? null,
  };
}
