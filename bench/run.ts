/**
 * `npm run bench [-- --json] [-- --help]`: Sluice's throughput, latency and request-cost benchmark.
 *
 * Starts DynamoDB Local and the S3 emulator (in a worker thread), serves the Sluice HTTP app on the main
 * thread, drives it from worker threads, counts every S3 and DynamoDB request the server makes, and replays
 * the produce phase's backend requests directly with the SDK for a ceiling. Then N members of one consumer
 * group read a pre-produced topic over HTTP. Last, a topic written in small batches is read cold before and
 * after compaction (run through the admin endpoint). See docs/BENCHMARKS.md.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { Worker } from 'node:worker_threads';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { serve } from '@hono/node-server';
import {
  createAwsClients,
  createGroupStore,
  createKeyStore,
  createLog,
  createWebhookStore,
  LAMBDA_LOG_OPTIONS,
} from '../functions/deps.js';
import { createApp } from '../functions/http/app.js';
import {
  type DynamoDbLocal,
  type DynamoDbLocalCredentials,
  startDynamoDbLocal,
} from '../functions/local/dynamodb-local.js';
import { measureConsumerLag, publishConsumerLag } from '../lib/groups/lag.js';
import { DEFAULT_LIMITS } from '../lib/limits.js';
import { DEFAULT_LOG_OPTIONS, type Log, type LogOptions } from '../lib/log/log.js';
import type { MaintenanceReport } from '../lib/maintenance/report.js';
import { ensureTables } from '../lib/metadata/dynamodb-schema.js';
import { EmfMetrics, EmfWriter, type LogMetrics } from '../lib/metrics/metrics.js';
import { S3SegmentStore } from '../lib/storage/s3-segment-store.js';
import { groupFlushes, replayFlushes } from './ceiling.js';
import {
  countDynamoDb,
  countS3,
  DynamoDbCounter,
  difference,
  S3Counter,
  type S3Counts,
  totals,
} from './counting.js';
import { startCpuProbe } from './cpu.js';
import { DEPLOYED_WORKLOAD, type DeployedMeasurement, type PassCost } from './deployed.js';
import {
  type AgentRun,
  agentMonthlyCost,
  type HotTopicLevel,
  hotTopicRates,
  KEYED_WORKLOAD,
  randomKey,
} from './keyed.js';
import type {
  ConsumeJob,
  ConsumeResult,
  E2eJob,
  E2eResult,
  GroupJob,
  GroupResult,
  LoadJob,
  LoadResult,
  ProduceJob,
  ProduceResult,
} from './protocol.js';
import { VALUE_OVERHEAD_BYTES } from './protocol.js';
import {
  type BenchResult,
  type ColdRead,
  type CompactionPhaseResult,
  formatReport,
  type GroupPhaseResult,
  MiB,
  type PartitionListing,
  summarizeMs,
  summarizeUs,
  summaryJson,
} from './report.js';
import { isObjectWith, nextMessage, startTsWorker } from './threads.js';

const HELP = `Usage: npm run bench -- [options]

  --json                    also print one JSON object with the figures as the last line
  --mib N                   produce this many MiB of key+value bytes (default 320)
  --seconds N               stop producing after N seconds even if --mib is not reached (default 40)
  --partitions N            partitions of the topic (default 16)
  --producers N             concurrent producers (default 32)
  --producer-threads N      worker threads the producers are spread over (default 2)
  --records-per-request N   keyed records per produce request (default 64)
  --record-bytes N          bytes of each record's JSON value (default 1024)
  --key-bytes N             bytes of each record's key (default 16)
  --linger N                the server's lingerMs (default ${DEFAULT_LOG_OPTIONS.lingerMs})
  --e2e-partitions LIST     partitions the end-to-end consumer follows (default 0,1)
  --group-members N         members of the consumer group in the last phase (default 4; 0 skips the phase)
  --group-records N         records pre-produced for the consumer group (default 200000, rounded up to
                            whole requests of all producers)
  --group-max-records N     maxRecords of each member fetch (default 2000)
  --group-wait-ms N         waitMs of each member fetch (default 0)
  --compaction-records N    records written in small batches for the compaction phase, read cold before and
                            after compaction (default 20000, rounded up to whole requests; 0 skips the phase)
  --compaction-records-per-request N
                            keyed records per produce request in the compaction phase (default 2)
  --compaction-producers N  concurrent producers in the compaction phase (default 32)
  --deployed-seconds N      simulated seconds of the README's deployed workload, whose counts give the
                            monthly cost of the AWS stack (default 60; 0 skips the phase)
  --deployed-fetch-every N  in that phase, members fetch and commit every N simulated seconds (default 1)
  --deployed-keyed BOOL     also run that workload with keyed records (random keys, murmur2 over the
                            partitions): true or false (default true)
  --deployed-probe-rounds N after each deployed run, rounds of a produce then member fetches without
                            commit=true and separate commits, counted apart (default 3)
  --hot-seconds N           hot-topic phase: seconds of back-to-back keyed produce requests at each number
                            of writers (default 10; 0 skips the phase)
  --hot-writers LIST        hot-topic phase: numbers of concurrent Lambda-shaped writers (default 1,4,16,32)
  --agent-seconds N         agent phase: seconds of the keyed workload at each linger (default 10; 0 skips)
  --agent-lingers LIST      agent phase: the agent's lingerMs values (default 20,250)
  --agent-requests-per-second N
                            agent phase: produce requests a second, sent at their time; each carries
                            1024 / N keyed records, the deployed workload's records a second (default 64)
  --help                    this text
`;

const REGION = 'us-east-1';

function say(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
      mib: { type: 'string', default: '320' },
      seconds: { type: 'string', default: '40' },
      partitions: { type: 'string', default: '16' },
      producers: { type: 'string', default: '32' },
      'producer-threads': { type: 'string', default: '2' },
      'records-per-request': { type: 'string', default: '64' },
      'record-bytes': { type: 'string', default: '1024' },
      'key-bytes': { type: 'string', default: '16' },
      linger: { type: 'string', default: String(DEFAULT_LOG_OPTIONS.lingerMs) },
      'e2e-partitions': { type: 'string', default: '0,1' },
      'group-members': { type: 'string', default: '4' },
      'group-records': { type: 'string', default: '200000' },
      'group-max-records': { type: 'string', default: '2000' },
      'group-wait-ms': { type: 'string', default: '0' },
      'compaction-records': { type: 'string', default: '20000' },
      'compaction-records-per-request': { type: 'string', default: '2' },
      'compaction-producers': { type: 'string', default: '32' },
      'deployed-seconds': { type: 'string', default: '60' },
      'deployed-fetch-every': { type: 'string', default: '1' },
      'deployed-keyed': { type: 'string', default: 'true' },
      'deployed-probe-rounds': { type: 'string', default: '3' },
      'hot-seconds': { type: 'string', default: '10' },
      'hot-writers': { type: 'string', default: '1,4,16,32' },
      'agent-seconds': { type: 'string', default: '10' },
      'agent-lingers': { type: 'string', default: '20,250' },
      'agent-requests-per-second': { type: 'string', default: '64' },
    },
    strict: true,
    allowPositionals: false,
  });
  const int = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${name} must be an integer ≥ ${min}, got '${text}'`);
    return n;
  };
  const bool = (name: string, text: string): boolean => {
    if (text !== 'true' && text !== 'false')
      throw new Error(`--${name} must be true or false, got '${text}'`);
    return text === 'true';
  };
  const list = (name: string, text: string, min: number): number[] =>
    text
      .split(',')
      .filter((s) => s.trim() !== '')
      .map((s) => int(name, s.trim(), min));
  const partitions = int('partitions', values.partitions, 1);
  const e2ePartitions = values['e2e-partitions']
    .split(',')
    .filter((s) => s.trim() !== '')
    .map((s) => int('e2e-partitions', s.trim(), 0))
    .filter((p) => p < partitions);
  return {
    json: values.json,
    help: values.help,
    mib: Number(values.mib) > 0 ? Number(values.mib) : 320,
    seconds: int('seconds', values.seconds, 1),
    partitions,
    producers: int('producers', values.producers, 1),
    producerThreads: int('producer-threads', values['producer-threads'], 1),
    recordsPerRequest: int('records-per-request', values['records-per-request'], 1),
    valueBytes: int('record-bytes', values['record-bytes'], VALUE_OVERHEAD_BYTES),
    keyBytes: int('key-bytes', values['key-bytes'], 2),
    lingerMs: int('linger', values.linger, 0),
    e2ePartitions,
    groupMembers: int('group-members', values['group-members'], 0),
    groupRecords: int('group-records', values['group-records'], 1),
    groupMaxRecords: int('group-max-records', values['group-max-records'], 1),
    groupWaitMs: int('group-wait-ms', values['group-wait-ms'], 0),
    compactionRecords: int('compaction-records', values['compaction-records'], 0),
    compactionRecordsPerRequest: int(
      'compaction-records-per-request',
      values['compaction-records-per-request'],
      1,
    ),
    compactionProducers: int('compaction-producers', values['compaction-producers'], 1),
    deployedSeconds: int('deployed-seconds', values['deployed-seconds'], 0),
    deployedFetchEvery: int('deployed-fetch-every', values['deployed-fetch-every'], 1),
    deployedKeyed: bool('deployed-keyed', values['deployed-keyed']),
    deployedProbeRounds: int('deployed-probe-rounds', values['deployed-probe-rounds'], 0),
    hotSeconds: int('hot-seconds', values['hot-seconds'], 0),
    hotWriters: list('hot-writers', values['hot-writers'], 1),
    agentSeconds: int('agent-seconds', values['agent-seconds'], 0),
    agentLingers: list('agent-lingers', values['agent-lingers'], 0),
    agentRequestsPerSecond: int('agent-requests-per-second', values['agent-requests-per-second'], 1),
  };
}

type Options = ReturnType<typeof parseOptions>;

// ---- resources -------------------------------------------------------------------------------------------------

/** Things to stop, last started first. */
class Resources {
  private readonly stops: Array<{ name: string; stop: () => Promise<void> }> = [];
  add(name: string, stop: () => Promise<void>): void {
    this.stops.push({ name, stop });
  }
  async closeAll(): Promise<void> {
    while (this.stops.length > 0) {
      const item = this.stops.pop();
      if (!item) break;
      try {
        await withTimeout(item.stop(), 15_000, `stopping ${item.name}`);
      } catch (error) {
        say(`could not stop ${item.name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function stopWorker(worker: Worker): Promise<void> {
  await worker.terminate();
}

async function stopS3Worker(worker: Worker): Promise<void> {
  const stopped = nextMessage(
    worker,
    (m): m is { type: 's3-stopped' } => isObjectWith(m, 'type', 's3-stopped'),
    5_000,
  );
  worker.postMessage({ type: 'stop' });
  await stopped.catch(() => undefined);
  await worker.terminate();
}

// ---- Sluice instances ---------------------------------------------------------------------------------------------

interface Instance {
  url: string;
  log: Log;
  s3: S3Client;
  dynamodb: DynamoDBClient;
  s3Counter: S3Counter;
  ddbCounter: DynamoDbCounter;
  close(): Promise<void>;
}

/** DynamoDB Local shows its tables only to the access key id it was started with. */
interface BenchEndpoints {
  dynamodb: string;
  dynamodbCredentials: DynamoDbLocalCredentials;
  s3: string;
}

/** Clients exactly as the server builds them in production (functions/deps.ts), for Sluice and the replay. */
function newClients(endpoints: BenchEndpoints) {
  const { s3 } = createAwsClients({
    region: REGION,
    endpoint: endpoints.s3,
    forcePathStyle: true,
    placeholderCredentials: true,
  });
  const { dynamodb } = createAwsClients({
    region: REGION,
    endpoint: endpoints.dynamodb,
    credentials: endpoints.dynamodbCredentials,
  });
  return { s3, dynamodb };
}

let serverErrors = 0;

/** createApp over createLog with an S3SegmentStore, on fresh SDK clients with counting middleware. */
async function startInstance(options: {
  name: string;
  endpoints: BenchEndpoints;
  tablePrefix: string;
  bucket: string;
  token: string;
  log: LogOptions;
  /** What the Log counts and writes as EMF lines; none by default. */
  metrics?: LogMetrics;
}): Promise<Instance> {
  const { s3, dynamodb } = newClients(options.endpoints);
  const s3Counter = new S3Counter();
  const ddbCounter = new DynamoDbCounter();
  countS3(s3, s3Counter);
  countDynamoDb(dynamodb, ddbCounter);
  const log = createLog({
    dynamodb,
    store: new S3SegmentStore(s3, options.bucket),
    tablePrefix: options.tablePrefix,
    log: options.log,
    limits: DEFAULT_LIMITS,
    // A pass's report is the admin endpoint's answer, which the compaction phase prints; keep stdout clean.
    maintenanceHooks: { onReport: () => undefined },
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
  const app = createApp({
    log,
    adminToken: options.token,
    keys: createKeyStore({ dynamodb, tablePrefix: options.tablePrefix }),
    groups: createGroupStore({ dynamodb, tablePrefix: options.tablePrefix }),
    webhooks: createWebhookStore({ dynamodb, tablePrefix: options.tablePrefix }),
    limits: DEFAULT_LIMITS,
    logError: (error, ctx) => {
      serverErrors++;
      if (serverErrors <= 5) {
        say(
          `${options.name}: ${ctx.method} ${ctx.path} failed: ${error instanceof Error ? error.stack : String(error)}`,
        );
      }
    },
  });
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  say(`${options.name} listening on ${url}`);
  return {
    url,
    log,
    s3,
    dynamodb,
    s3Counter,
    ddbCounter,
    close: async () => {
      await log.flush();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeAllConnections' in server) server.closeAllConnections();
      });
      s3.destroy();
      dynamodb.destroy();
    },
  };
}

// ---- load workers ---------------------------------------------------------------------------------------------------

const LOAD_WORKER = new URL('./load-worker.ts', import.meta.url);

async function startLoadWorkers(jobs: LoadJob[], resources: Resources, name: string): Promise<Worker[]> {
  const workers = jobs.map((job, i) => {
    const worker = startTsWorker(LOAD_WORKER, job, `${name}-${i}`);
    resources.add(`${name} worker ${i}`, () => stopWorker(worker));
    return worker;
  });
  await Promise.all(
    workers.map((w) =>
      nextMessage(w, (m): m is { type: 'ready' } => isObjectWith(m, 'type', 'ready'), 60_000),
    ),
  );
  return workers;
}

function resultOf<T extends LoadResult>(worker: Worker, type: T['type']): Promise<T> {
  return nextMessage(
    worker,
    (m): m is T | { type: 'failed'; error: string } =>
      isObjectWith(m, 'type', type) || isObjectWith(m, 'type', 'failed'),
  ).then((m) => {
    if (m.type === 'failed') throw new Error(`load worker failed: ${(m as { error: string }).error}`);
    return m as T;
  });
}

async function api(instance: { url: string }, token: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${instance.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`);
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

function concatFloat64(arrays: Float64Array[]): Float64Array {
  const out = new Float64Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

function split<T>(items: readonly T[], parts: number): T[][] {
  const out: T[][] = Array.from({ length: parts }, () => []);
  items.forEach((item, i) => {
    out[i % parts]?.push(item);
  });
  return out.filter((p) => p.length > 0);
}

// ---- the run ---------------------------------------------------------------------------------------------------------

async function run(options: Options, resources: Resources): Promise<BenchResult> {
  const started = Date.now();
  const loadAtStart = os.loadavg();
  say('starting DynamoDB Local (in memory)…');
  const dynamo: DynamoDbLocal = await startDynamoDbLocal({ log: say });
  resources.add('DynamoDB Local', () => dynamo.stop());

  say('starting the S3 emulator (fauxqs) in a worker thread…');
  const s3Worker = startTsWorker(new URL('./s3-worker.ts', import.meta.url), {}, 's3-emulator');
  resources.add('S3 emulator worker', () => stopS3Worker(s3Worker));
  const { endpoint: s3Endpoint } = await nextMessage(
    s3Worker,
    (m): m is { type: 's3-ready'; endpoint: string } => isObjectWith(m, 'type', 's3-ready'),
    60_000,
  );
  say(`S3 emulator on ${s3Endpoint}`);
  const endpoints = { dynamodb: dynamo.endpoint, dynamodbCredentials: dynamo.credentials, s3: s3Endpoint };

  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const tablePrefix = `bench_${runId}_`;
  const bucket = `sluice-bench-${runId}`;
  const admin = newClients(endpoints);
  resources.add('admin clients', async () => {
    admin.s3.destroy();
    admin.dynamodb.destroy();
  });
  await ensureTables(admin.dynamodb, tablePrefix);
  await admin.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  say(`tables ${tablePrefix}*, bucket ${bucket}`);

  const token = `bench-${randomBytes(16).toString('hex')}`;
  const logOptions: LogOptions = { ...DEFAULT_LOG_OPTIONS, lingerMs: options.lingerMs };
  const server = await startInstance({
    name: 'server',
    endpoints,
    tablePrefix,
    bucket,
    token,
    log: logOptions,
  });
  resources.add('server', () => server.close());

  const topic = `bench.${runId}`;
  await api(server, token, 'POST', '/v1/topics', { name: topic, partitions: options.partitions });

  // ---- phase 1 + 2: produce, with the end-to-end consumer following the tail -------------------------------
  const recordBytes = options.keyBytes + options.valueBytes;
  const targetRecords = Math.ceil((options.mib * MiB) / recordBytes);
  const requestsPerProducer = Math.max(
    1,
    Math.ceil(targetRecords / (options.producers * options.recordsPerRequest)),
  );
  const produceJobs = splitProducers({
    url: server.url,
    token,
    topic,
    producerCount: options.producers,
    threads: options.producerThreads,
    recordsPerRequest: options.recordsPerRequest,
    valueBytes: options.valueBytes,
    keyBytes: options.keyBytes,
    requestsPerProducer,
    maxMs: options.seconds * 1000,
  });
  const e2eJob: E2eJob = {
    role: 'e2e',
    url: server.url,
    token,
    topic,
    partitions: options.e2ePartitions,
    waitMs: 1000,
  };
  const [e2eWorker] =
    options.e2ePartitions.length > 0 ? await startLoadWorkers([e2eJob], resources, 'e2e') : [];
  const producerWorkers = await startLoadWorkers(produceJobs, resources, 'producer');

  const e2eDone = e2eWorker ? resultOf<E2eResult>(e2eWorker, 'e2e-result') : undefined;
  e2eDone?.catch(() => undefined); // awaited after the produce phase; do not let an early failure go unhandled
  e2eWorker?.postMessage({ type: 'go' });
  await new Promise((r) => setTimeout(r, 500)); // let the tail consumer's first long polls reach the server

  say(
    `produce: ${options.producers} producers × ${requestsPerProducer} requests × ${options.recordsPerRequest} records of ${recordBytes} B ` +
      `(${options.mib} MiB, at most ${options.seconds} s)…`,
  );
  const s3Before = server.s3Counter.snapshot();
  const ddbBefore = server.ddbCounter.snapshot();
  const putLatencyStart = server.s3Counter.putLatenciesMs.length;
  const writeLatencyStart = server.ddbCounter.writeLatenciesMs.length;
  server.s3Counter.resetMaxInFlight();
  server.s3Counter.recording = true;
  server.ddbCounter.recording = true;
  const produceDone = producerWorkers.map((w) => resultOf<ProduceResult>(w, 'produce-result'));
  const progress = setInterval(() => {
    const s = server.s3Counter.counts;
    say(
      `  … ${s.puts - s3Before.puts} flushes, ${((s.putBytes - s3Before.putBytes) / MiB).toFixed(0)} MiB written to S3`,
    );
  }, 5_000);
  const produceCpu = startCpuProbe({ 'server (main)': 'main', 's3-emulator': s3Worker }, dynamo.process.pid);
  const windowFrom = process.hrtime.bigint() / 1000n;
  for (const w of producerWorkers) w.postMessage({ type: 'go' });
  let produceResults: ProduceResult[];
  try {
    produceResults = await Promise.all(produceDone);
  } finally {
    clearInterval(progress);
  }
  await server.log.flush();
  const produceCpuReport = produceCpu();
  if (process.execArgv.some((a) => a.startsWith('--cpu-prof'))) {
    // For bench/profile-summary.ts: the produce phase on the monotonic clock V8's profiles use.
    say(`produce window for profile-summary: --from ${windowFrom} --to ${process.hrtime.bigint() / 1000n}`);
  }
  server.s3Counter.recording = false;
  server.ddbCounter.recording = false;
  const s3After = server.s3Counter.snapshot();
  const ddbProduce = difference(server.ddbCounter.snapshot(), ddbBefore);

  e2eWorker?.postMessage({ type: 'stop' });
  const e2eResult = e2eDone
    ? await e2eDone
    : {
        type: 'e2e-result' as const,
        latenciesUs: new Float64Array(0),
        records: 0,
        polls: 0,
        failures: 0,
        firstFailure: undefined,
        elu: 0,
      };
  produceResults.forEach((r, i) => {
    produceCpuReport.elu[`producers-${i}`] = r.elu;
  });
  if (e2eWorker) produceCpuReport.elu['e2e-consumer'] = e2eResult.elu;

  const produceWallMs =
    Math.max(...produceResults.map((r) => r.endedAt)) - Math.min(...produceResults.map((r) => r.startedAt));
  const produce: BenchResult['produce'] = {
    records: produceResults.reduce((n, r) => n + r.records, 0),
    bytes: produceResults.reduce((n, r) => n + r.bytes, 0),
    requests: produceResults.reduce((n, r) => n + r.requests, 0),
    failures: produceResults.reduce((n, r) => n + r.failures, 0),
    firstFailure: produceResults.find((r) => r.firstFailure)?.firstFailure,
    wallMs: produceWallMs,
    latency: summarizeUs(concatFloat64(produceResults.map((r) => r.latenciesUs))),
  };
  say(
    `produce: ${(produce.bytes / MiB).toFixed(1)} MiB in ${(produceWallMs / 1000).toFixed(1)} s = ` +
      `${(produce.bytes / MiB / (produceWallMs / 1000)).toFixed(2)} MiB/s, ${produce.failures} failures`,
  );
  if (produce.records === 0)
    throw new Error(`nothing was produced: ${produce.firstFailure ?? 'no requests'}`);
  const produceS3 = {
    puts: s3After.puts - s3Before.puts,
    putBytes: s3After.putBytes - s3Before.putBytes,
    gets: s3After.gets - s3Before.gets,
    getBytes: s3After.getBytes - s3Before.getBytes,
    other: s3After.other - s3Before.other,
    errors: s3After.errors - s3Before.errors,
    maxPutsInFlight: s3After.maxPutsInFlight,
  };

  // ---- phase 3: consume everything through a second, cold instance -----------------------------------------------
  const reader = await startInstance({
    name: 'reader',
    endpoints,
    tablePrefix,
    bucket,
    token,
    log: logOptions,
  });
  resources.add('reader', () => reader.close());
  const partitions = Array.from({ length: options.partitions }, (_, p) => p);
  const consumeJobs: ConsumeJob[] = split(partitions, 2).map((ps) => ({
    role: 'consume',
    url: reader.url,
    token,
    topic,
    partitions: ps,
    maxRecords: 10_000,
    maxBytes: 8 * MiB,
  }));
  const consumers = await startLoadWorkers(consumeJobs, resources, 'consumer');
  say(`consume: ${options.partitions} partitions at once from offset 0 through a cold second instance…`);
  const readerS3Before = reader.s3Counter.snapshot();
  const readerDdbBefore = reader.ddbCounter.snapshot();
  const consumeDone = consumers.map((w) => resultOf<ConsumeResult>(w, 'consume-result'));
  const consumeCpu = startCpuProbe({ 'servers (main)': 'main', 's3-emulator': s3Worker }, dynamo.process.pid);
  for (const w of consumers) w.postMessage({ type: 'go' });
  const consumeResults = await Promise.all(consumeDone);
  const consumeCpuReport = consumeCpu();
  consumeResults.forEach((r, i) => {
    consumeCpuReport.elu[`consumers-${i}`] = r.elu;
  });
  const readerS3After = reader.s3Counter.snapshot();
  const consumeWallMs =
    Math.max(...consumeResults.map((r) => r.endedAt)) - Math.min(...consumeResults.map((r) => r.startedAt));
  const consume: BenchResult['consume'] = {
    records: consumeResults.reduce((n, r) => n + r.records, 0),
    bytes: consumeResults.reduce((n, r) => n + r.bytes, 0),
    requests: consumeResults.reduce((n, r) => n + r.requests, 0),
    failures: consumeResults.reduce((n, r) => n + r.failures, 0),
    firstFailure: consumeResults.find((r) => r.firstFailure)?.firstFailure,
    wallMs: consumeWallMs,
    s3: {
      puts: readerS3After.puts - readerS3Before.puts,
      putBytes: readerS3After.putBytes - readerS3Before.putBytes,
      gets: readerS3After.gets - readerS3Before.gets,
      getBytes: readerS3After.getBytes - readerS3Before.getBytes,
      other: readerS3After.other - readerS3Before.other,
      errors: readerS3After.errors - readerS3Before.errors,
      maxPutsInFlight: 0,
    },
    ddb: difference(reader.ddbCounter.snapshot(), readerDdbBefore),
    getLatency: summarizeMs(reader.s3Counter.getLatenciesMs),
  };
  say(
    `consume: ${(consume.bytes / MiB).toFixed(1)} MiB in ${(consumeWallMs / 1000).toFixed(1)} s = ` +
      `${(consume.bytes / MiB / (consumeWallMs / 1000)).toFixed(2)} MiB/s`,
  );

  // ---- phase 4: the raw backend ceiling ------------------------------------------------------------------------------
  const { flushes, unmatchedWrites } = groupFlushes(
    server.s3Counter.recordedPuts,
    server.ddbCounter.recordedWrites,
  );
  const replayClients = newClients(endpoints);
  resources.add('replay clients', async () => {
    replayClients.s3.destroy();
    replayClients.dynamodb.destroy();
  });
  say(`ceiling: replaying ${flushes.length} flushes with ${produceS3.maxPutsInFlight} in flight…`);
  const replayCpu = startCpuProbe({ 'replay (main)': 'main', 's3-emulator': s3Worker }, dynamo.process.pid);
  const replay = await replayFlushes({
    s3: replayClients.s3,
    dynamodb: replayClients.dynamodb,
    bucket,
    flushes,
    concurrency: produceS3.maxPutsInFlight,
  });
  const replayCpuReport = replayCpu();
  say(
    `ceiling: ${(produce.bytes / MiB / (replay.wallMs / 1000)).toFixed(2)} MiB/s (${(replay.wallMs / 1000).toFixed(1)} s)`,
  );
  say(`total run time so far ${((Date.now() - started) / 1000).toFixed(0)} s`);

  // ---- phase 5: a consumer group reads a pre-produced topic --------------------------------------------------------
  const groups =
    options.groupMembers > 0
      ? await consumerGroupPhase(options, {
          resources,
          server,
          endpoints,
          tablePrefix,
          bucket,
          token,
          logOptions,
          topic: `${topic}.groups`,
          group: `bench-${runId}`,
          s3Worker,
          javaPid: dynamo.process.pid,
        })
      : undefined;
  if (groups) say(`total run time so far ${((Date.now() - started) / 1000).toFixed(0)} s`);

  // ---- phase 6: a topic written in small batches, read cold before and after compaction ------------------------
  const compaction =
    options.compactionRecords > 0
      ? await compactionPhase(options, {
          resources,
          admin: admin.dynamodb,
          endpoints,
          // Its own tables: a compaction pass visits every topic of the deployment, and must see only this one.
          tablePrefix: `bench_${runId}c_`,
          bucket,
          token,
          logOptions,
          topic: `${topic}.compaction`,
          s3Worker,
          javaPid: dynamo.process.pid,
        })
      : undefined;
  if (compaction) say(`total run time so far ${((Date.now() - started) / 1000).toFixed(0)} s`);

  /** What a phase with tables and a bucket of its own gets: `tag` names its tables, `name` its bucket. */
  const isolated = (tag: string, name: string) => ({
    resources,
    admin,
    endpoints,
    tablePrefix: `bench_${runId}${tag}_`,
    bucket: `${bucket}-${name}`,
    token,
  });

  // ---- phase 7: the README's deployed workload, counted for the monthly cost of the AWS stack -----------
  const deployed =
    options.deployedSeconds > 0 ? await deployedPhase(options, false, isolated('d', 'deployed')) : undefined;
  if (deployed) say(`total run time so far ${((Date.now() - started) / 1000).toFixed(0)} s`);
  // The same requests with keyed records (issue 14), in tables and a bucket of their own.
  const deployedKeyed =
    options.deployedSeconds > 0 && options.deployedKeyed
      ? await deployedPhase(options, true, isolated('k', 'keyed'))
      : undefined;
  if (deployedKeyed) say(`total run time so far ${((Date.now() - started) / 1000).toFixed(0)} s`);

  // ---- phase 8: a hot topic, many Lambda-shaped writers at once ---------------------------------------------------
  const hotTopic =
    options.hotSeconds > 0 && options.hotWriters.length > 0
      ? await hotTopicPhase(options, isolated('h', 'hot'))
      : undefined;
  if (hotTopic) say(`total run time so far ${((Date.now() - started) / 1000).toFixed(0)} s`);

  // ---- phase 9: the agent's batcher at a few lingers, keyed records ---------------------------------------------
  const agent =
    options.agentSeconds > 0 && options.agentLingers.length > 0
      ? await agentPhase(options, isolated('a', 'agent'))
      : undefined;
  if (agent) say(`total run time so far ${((Date.now() - started) / 1000).toFixed(0)} s`);

  return {
    machine: {
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      memoryGiB: os.totalmem() / 1024 ** 3,
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      loadAverage: loadAtStart,
    },
    date: new Date(started).toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    config: {
      partitions: options.partitions,
      producers: options.producers,
      producerThreads: produceJobs.length,
      recordsPerRequest: options.recordsPerRequest,
      keyBytes: options.keyBytes,
      valueBytes: options.valueBytes,
      targetMiB: options.mib,
      maxSeconds: options.seconds,
      lingerMs: logOptions.lingerMs,
      maxFlushBytes: logOptions.maxFlushBytes,
      maxFlushInFlight: logOptions.maxFlushInFlight,
      e2ePartitions: options.e2ePartitions,
      consumeMaxRecords: 10_000,
      consumeMaxBytes: 8 * MiB,
    },
    produce,
    e2e: {
      records: e2eResult.records,
      polls: e2eResult.polls,
      failures: e2eResult.failures,
      latency: summarizeUs(e2eResult.latenciesUs),
    },
    produceBackend: {
      s3: produceS3,
      ddb: ddbProduce,
      putLatency: summarizeMs(server.s3Counter.putLatenciesMs.slice(putLatencyStart)),
      commitLatency: summarizeMs(server.ddbCounter.writeLatenciesMs.slice(writeLatencyStart)),
    },
    consume,
    ceiling: { ...replay, unmatchedWrites },
    cpu: { produce: produceCpuReport, consume: consumeCpuReport, replay: replayCpuReport },
    ...(groups ? { groups } : {}),
    ...(compaction ? { compaction } : {}),
    ...(deployed ? { deployed } : {}),
    ...(deployedKeyed ? { deployedKeyed } : {}),
    ...(hotTopic ? { hotTopic } : {}),
    ...(agent ? { agent, agentRequestsPerSecond: options.agentRequestsPerSecond } : {}),
    serverErrors,
  };
}

const GROUP_MAX_BYTES = 8 * MiB;
const GROUP_SESSION_TIMEOUT_MS = 30_000;
/** The members give up after this long (the phase takes seconds). */
const GROUP_MAX_MS = 180_000;

/**
 * Pre-produces `--group-records` records into a new topic (through the first server; not counted), then
 * runs `--group-members` members of one group against a third, cold instance until the group has committed
 * every partition's high watermark, and counts that instance's S3 and DynamoDB requests. Fails when a
 * produced record was not delivered, when more were, or when the group still shows lag.
 */
async function consumerGroupPhase(
  options: Options,
  ctx: {
    resources: Resources;
    server: Instance;
    endpoints: BenchEndpoints;
    tablePrefix: string;
    bucket: string;
    token: string;
    logOptions: LogOptions;
    topic: string;
    group: string;
    s3Worker: Worker;
    javaPid: number | undefined;
  },
): Promise<GroupPhaseResult> {
  const { server, token, topic, group } = ctx;
  await api(server, token, 'POST', '/v1/topics', { name: topic, partitions: options.partitions });

  const perRound = options.producers * options.recordsPerRequest;
  const requestsPerProducer = Math.max(1, Math.ceil(options.groupRecords / perRound));
  const jobs = splitProducers({
    url: server.url,
    token,
    topic,
    producerCount: options.producers,
    threads: options.producerThreads,
    recordsPerRequest: options.recordsPerRequest,
    valueBytes: options.valueBytes,
    keyBytes: options.keyBytes,
    requestsPerProducer,
    maxMs: GROUP_MAX_MS,
  });
  say(
    `group: pre-producing ${(requestsPerProducer * perRound).toLocaleString('en-US')} records into ${topic} (not counted)…`,
  );
  const producers = await startLoadWorkers(jobs, ctx.resources, 'group-producer');
  const putsBefore = server.s3Counter.counts.puts;
  const produced = producers.map((w) => resultOf<ProduceResult>(w, 'produce-result'));
  for (const w of producers) w.postMessage({ type: 'go' });
  const produceResults = await Promise.all(produced);
  await server.log.flush();
  const preProduceObjects = server.s3Counter.counts.puts - putsBefore;
  const failures = produceResults.reduce((n, r) => n + r.failures, 0);
  if (failures > 0) {
    throw new Error(
      `group: ${failures} pre-produce requests failed: ${produceResults.find((r) => r.firstFailure)?.firstFailure}`,
    );
  }
  const preProduceWallMs =
    Math.max(...produceResults.map((r) => r.endedAt)) - Math.min(...produceResults.map((r) => r.startedAt));
  const producedRecords = produceResults.reduce((n, r) => n + r.records, 0);
  const producedBytes = produceResults.reduce((n, r) => n + r.bytes, 0);
  const { partitions } = (await api(
    server,
    token,
    'GET',
    `/v1/topics/${encodeURIComponent(topic)}/partitions`,
  )) as { partitions: Array<{ partition: number; highWatermark: number }> };
  const highWatermarks = Array.from(
    { length: options.partitions },
    (_, p) => partitions.find((x) => x.partition === p)?.highWatermark ?? 0,
  );
  const sum = highWatermarks.reduce((n, h) => n + h, 0);
  if (sum !== producedRecords) {
    throw new Error(
      `group: ${producedRecords} records acknowledged but the high watermarks add up to ${sum}`,
    );
  }
  say(
    `group: ${producedRecords.toLocaleString('en-US')} records in ${(preProduceWallMs / 1000).toFixed(1)} s; ` +
      `starting a third, cold instance for ${options.groupMembers} members…`,
  );

  const instance = await startInstance({
    name: 'groups',
    endpoints: ctx.endpoints,
    tablePrefix: ctx.tablePrefix,
    bucket: ctx.bucket,
    token,
    log: ctx.logOptions,
  });
  ctx.resources.add('groups', () => instance.close());
  const job: GroupJob = {
    role: 'group',
    url: instance.url,
    token,
    topic,
    group,
    members: options.groupMembers,
    maxRecords: options.groupMaxRecords,
    maxBytes: GROUP_MAX_BYTES,
    waitMs: options.groupWaitMs,
    sessionTimeoutMs: GROUP_SESSION_TIMEOUT_MS,
    highWatermarks,
    maxMs: GROUP_MAX_MS,
  };
  const [worker] = await startLoadWorkers([job], ctx.resources, 'group-members');
  if (!worker) throw new Error('group: no worker');
  const s3Before = instance.s3Counter.snapshot();
  const ddbBefore = instance.ddbCounter.snapshot();
  const purposesBefore = instance.ddbCounter.purposeSnapshot();
  const getLatencyStart = instance.s3Counter.getLatenciesMs.length;
  const done = resultOf<GroupResult>(worker, 'group-result');
  const cpu = startCpuProbe({ 'groups (main)': 'main', 's3-emulator': ctx.s3Worker }, ctx.javaPid);
  say(`group: ${options.groupMembers} members of '${group}' read ${topic} from the start…`);
  worker.postMessage({ type: 'go' });
  const result = await done;
  const cpuReport = cpu();
  cpuReport.elu['group-members'] = result.elu;
  const s3After = instance.s3Counter.snapshot();
  const ddb = difference(instance.ddbCounter.snapshot(), ddbBefore);
  const ddbPurposes = difference(instance.ddbCounter.purposeSnapshot(), purposesBefore);
  const getLatency = summarizeMs(instance.s3Counter.getLatenciesMs.slice(getLatencyStart));

  // Checks, after the counters are read: every record exactly covered, and the group's own view says lag 0.
  if (result.failures > 0) throw new Error(`group: a member failed: ${result.firstFailure}`);
  let distinct = 0;
  const holes: string[] = [];
  highWatermarks.forEach((hwm, p) => {
    const ranges = result.delivered[p] ?? [];
    for (const [from, to] of ranges) distinct += to - from;
    const whole =
      hwm === 0 ? ranges.length === 0 : ranges.length === 1 && ranges[0]?.[0] === 0 && ranges[0][1] === hwm;
    if (!whole)
      holes.push(`partition ${p}: delivered ${JSON.stringify(ranges.slice(0, 4))}, high watermark ${hwm}`);
  });
  if (holes.length > 0 || distinct !== producedRecords) {
    throw new Error(
      `group: ${distinct} distinct records delivered, ${producedRecords} produced; ${holes.slice(0, 4).join('; ')}`,
    );
  }
  const described = (await api(instance, token, 'GET', `/v1/groups/${encodeURIComponent(group)}`)) as {
    generation: number;
    offsets: Array<{
      partition: number;
      committedOffset: number | null;
      highWatermark: number;
      lag: number | null;
    }>;
  };
  const lagging = described.offsets.filter(
    (o) =>
      o.lag !== 0 || o.committedOffset !== o.highWatermark || o.highWatermark !== highWatermarks[o.partition],
  );
  if (lagging.length > 0 || described.offsets.length !== options.partitions) {
    throw new Error(`group: GET /v1/groups/${group} still shows lag: ${JSON.stringify(lagging.slice(0, 4))}`);
  }
  const wallMs = result.endedAt - result.startedAt;
  say(
    `group: ${result.records.toLocaleString('en-US')} records (${distinct.toLocaleString('en-US')} distinct) in ${(wallMs / 1000).toFixed(1)} s = ` +
      `${Math.round(result.records / (wallMs / 1000)).toLocaleString('en-US')} records/s`,
  );
  const { type: _type, delivered: _delivered, elu: _elu, ...run } = result;
  return {
    members: options.groupMembers,
    partitions: options.partitions,
    maxRecords: options.groupMaxRecords,
    maxBytes: GROUP_MAX_BYTES,
    waitMs: options.groupWaitMs,
    sessionTimeoutMs: GROUP_SESSION_TIMEOUT_MS,
    produced: producedRecords,
    producedBytes,
    preProduceWallMs,
    preProduceObjects,
    run,
    distinct,
    wallMs,
    s3: {
      puts: s3After.puts - s3Before.puts,
      putBytes: s3After.putBytes - s3Before.putBytes,
      gets: s3After.gets - s3Before.gets,
      getBytes: s3After.getBytes - s3Before.getBytes,
      other: s3After.other - s3Before.other,
      errors: s3After.errors - s3Before.errors,
      maxPutsInFlight: 0,
    },
    getLatency,
    ddb,
    ddbPurposes,
    describedGeneration: described.generation,
    lagZero: true,
    cpu: cpuReport,
  };
}

/** The compaction phase's producers give up after this long (the phase takes seconds). */
const COMPACTION_MAX_MS = 180_000;
/** Compaction passes through the admin endpoint before the phase gives up (each stops within 20 s). */
const COMPACTION_MAX_PASSES = 30;
const COLD_READ_MAX_RECORDS = 10_000;
const COLD_READ_MAX_BYTES = 8 * MiB;

async function listPartitions(instance: Instance, token: string, topic: string): Promise<PartitionListing[]> {
  const { partitions } = (await api(
    instance,
    token,
    'GET',
    `/v1/topics/${encodeURIComponent(topic)}/partitions`,
  )) as { partitions: PartitionListing[] };
  return [...partitions]
    .map(({ partition, highWatermark, segments, sizeBytes }) => ({
      partition,
      highWatermark,
      segments,
      sizeBytes,
    }))
    .sort((a, b) => a.partition - b.partition);
}

/**
 * Reads every partition of `topic` from offset 0 to its high watermark through a new Sluice instance (cold
 * caches, fresh counters), 16 partitions at once from two worker threads as in the consume phase, hashing
 * every record; counts that instance's requests.
 */
async function coldRead(
  name: string,
  ctx: {
    resources: Resources;
    endpoints: BenchEndpoints;
    tablePrefix: string;
    bucket: string;
    token: string;
    logOptions: LogOptions;
    topic: string;
    partitions: number;
    s3Worker: Worker;
    javaPid: number | undefined;
  },
): Promise<{ read: ColdRead; digests: Record<number, string>; reached: Record<number, number> }> {
  const instance = await startInstance({
    name,
    endpoints: ctx.endpoints,
    tablePrefix: ctx.tablePrefix,
    bucket: ctx.bucket,
    token: ctx.token,
    log: ctx.logOptions,
  });
  ctx.resources.add(name, () => instance.close());
  const partitions = Array.from({ length: ctx.partitions }, (_, p) => p);
  const jobs: ConsumeJob[] = split(partitions, 2).map((ps) => ({
    role: 'consume',
    url: instance.url,
    token: ctx.token,
    topic: ctx.topic,
    partitions: ps,
    maxRecords: COLD_READ_MAX_RECORDS,
    maxBytes: COLD_READ_MAX_BYTES,
    digest: true,
  }));
  const workers = await startLoadWorkers(jobs, ctx.resources, `${name}-consumer`);
  const s3Before = instance.s3Counter.snapshot();
  const ddbBefore = instance.ddbCounter.snapshot();
  const purposesBefore = instance.ddbCounter.purposeSnapshot();
  const getLatencyStart = instance.s3Counter.getLatenciesMs.length;
  const done = workers.map((w) => resultOf<ConsumeResult>(w, 'consume-result'));
  const cpu = startCpuProbe({ [`${name} (main)`]: 'main', 's3-emulator': ctx.s3Worker }, ctx.javaPid);
  for (const w of workers) w.postMessage({ type: 'go' });
  const results = await Promise.all(done);
  const cpuReport = cpu();
  results.forEach((r, i) => {
    cpuReport.elu[`consumers-${i}`] = r.elu;
  });
  const s3After = instance.s3Counter.snapshot();
  const failures = results.reduce((n, r) => n + r.failures, 0);
  if (failures > 0) {
    throw new Error(
      `compaction: the ${name} read failed ${failures} times: ${results.find((r) => r.firstFailure)?.firstFailure}`,
    );
  }
  const read: ColdRead = {
    records: results.reduce((n, r) => n + r.records, 0),
    bytes: results.reduce((n, r) => n + r.bytes, 0),
    requests: results.reduce((n, r) => n + r.requests, 0),
    wallMs: Math.max(...results.map((r) => r.endedAt)) - Math.min(...results.map((r) => r.startedAt)),
    s3: s3Difference(s3After, s3Before),
    getLatency: summarizeMs(instance.s3Counter.getLatenciesMs.slice(getLatencyStart)),
    ddb: difference(instance.ddbCounter.snapshot(), ddbBefore),
    ddbPurposes: difference(instance.ddbCounter.purposeSnapshot(), purposesBefore),
    cpu: cpuReport,
  };
  const digests: Record<number, string> = {};
  const reached: Record<number, number> = {};
  for (const r of results) {
    Object.assign(digests, r.digests ?? {});
    Object.assign(reached, r.reached);
  }
  say(
    `compaction: ${name}: ${read.records.toLocaleString('en-US')} records, ${read.s3.gets} GETs, ` +
      `${(read.bytes / MiB / (read.wallMs / 1000)).toFixed(2)} MiB/s`,
  );
  return { read, digests, reached };
}

function s3Difference(after: S3Counts, before: S3Counts): S3Counts {
  return {
    puts: after.puts - before.puts,
    putBytes: after.putBytes - before.putBytes,
    gets: after.gets - before.gets,
    getBytes: after.getBytes - before.getBytes,
    other: after.other - before.other,
    errors: after.errors - before.errors,
    maxPutsInFlight: after.maxPutsInFlight,
  };
}

/**
 * Writes `--compaction-records` records in small produce requests into a new topic (in tables of its own),
 * reads it cold, compacts it through `POST /v1/admin/maintenance/compact` (`minAgeMs: 0`, repeated until a
 * pass answers `complete: true`) on an instance of its own whose requests are counted, and reads it cold
 * again. Fails unless both reads return exactly the produced records, with identical offsets, timestamps,
 * keys, values and headers.
 */
async function compactionPhase(
  options: Options,
  ctx: {
    resources: Resources;
    admin: DynamoDBClient;
    endpoints: BenchEndpoints;
    tablePrefix: string;
    bucket: string;
    token: string;
    logOptions: LogOptions;
    topic: string;
    s3Worker: Worker;
    javaPid: number | undefined;
  },
): Promise<CompactionPhaseResult> {
  const { token, topic } = ctx;
  await ensureTables(ctx.admin, ctx.tablePrefix);
  const writer = await startInstance({
    name: 'compaction-writer',
    endpoints: ctx.endpoints,
    tablePrefix: ctx.tablePrefix,
    bucket: ctx.bucket,
    token,
    log: ctx.logOptions,
  });
  ctx.resources.add('compaction-writer', () => writer.close());
  await api(writer, token, 'POST', '/v1/topics', { name: topic, partitions: options.partitions });

  // ---- write in small batches -------------------------------------------------------------------------------
  const producerCount = options.compactionProducers;
  const perRound = producerCount * options.compactionRecordsPerRequest;
  const requestsPerProducer = Math.max(1, Math.ceil(options.compactionRecords / perRound));
  const jobs = splitProducers({
    url: writer.url,
    token,
    topic,
    producerCount,
    threads: options.producerThreads,
    recordsPerRequest: options.compactionRecordsPerRequest,
    valueBytes: options.valueBytes,
    keyBytes: options.keyBytes,
    requestsPerProducer,
    maxMs: COMPACTION_MAX_MS,
  });
  say(
    `compaction: writing ${(requestsPerProducer * perRound).toLocaleString('en-US')} records into ${topic}, ` +
      `${producerCount} producers × ${requestsPerProducer} requests of ${options.compactionRecordsPerRequest} records…`,
  );
  const producerWorkers = await startLoadWorkers(jobs, ctx.resources, 'compaction-producer');
  const writerS3Before = writer.s3Counter.snapshot();
  const writerDdbBefore = writer.ddbCounter.snapshot();
  writer.s3Counter.resetMaxInFlight();
  const produced = producerWorkers.map((w) => resultOf<ProduceResult>(w, 'produce-result'));
  for (const w of producerWorkers) w.postMessage({ type: 'go' });
  const produceResults = await Promise.all(produced);
  await writer.log.flush();
  const produceS3 = s3Difference(writer.s3Counter.snapshot(), writerS3Before);
  const produceDdb = difference(writer.ddbCounter.snapshot(), writerDdbBefore);
  const produceFailures = produceResults.reduce((n, r) => n + r.failures, 0);
  if (produceFailures > 0) {
    throw new Error(
      `compaction: ${produceFailures} produce requests failed: ${produceResults.find((r) => r.firstFailure)?.firstFailure}`,
    );
  }
  const producedRecords = produceResults.reduce((n, r) => n + r.records, 0);
  const produceWallMs =
    Math.max(...produceResults.map((r) => r.endedAt)) - Math.min(...produceResults.map((r) => r.startedAt));
  const produceLatency = summarizeUs(concatFloat64(produceResults.map((r) => r.latenciesUs)));
  const listingBefore = await listPartitions(writer, token, topic);
  const sum = listingBefore.reduce((n, p) => n + p.highWatermark, 0);
  if (sum !== producedRecords) {
    throw new Error(
      `compaction: ${producedRecords} records acknowledged but the high watermarks add up to ${sum}`,
    );
  }
  say(
    `compaction: ${producedRecords.toLocaleString('en-US')} records in ${(produceWallMs / 1000).toFixed(1)} s, ` +
      `${produceS3.puts} objects; segments per partition: ${listingBefore.map((p) => p.segments).join(' ')}`,
  );

  const readCtx = { ...ctx, partitions: options.partitions };
  const checkRead = (label: string, r: { read: ColdRead; reached: Record<number, number> }) => {
    const short = listingBefore.filter((p) => r.reached[p.partition] !== p.highWatermark);
    if (r.read.records !== producedRecords || short.length > 0) {
      throw new Error(
        `compaction: the ${label} read returned ${r.read.records} records of ${producedRecords}; ` +
          short
            .slice(0, 4)
            .map((p) => `partition ${p.partition} reached ${r.reached[p.partition]} of ${p.highWatermark}`)
            .join('; '),
      );
    }
  };

  // ---- cold read before ----------------------------------------------------------------------------------------
  say('compaction: cold read before compaction…');
  const before = await coldRead('read-before', readCtx);
  checkRead('before', before);

  // ---- compaction through the admin endpoint, on an instance of its own ------------------------------------
  const compactor = await startInstance({
    name: 'compactor',
    endpoints: ctx.endpoints,
    tablePrefix: ctx.tablePrefix,
    bucket: ctx.bucket,
    token,
    log: ctx.logOptions,
  });
  ctx.resources.add('compactor', () => compactor.close());
  const s3Before = compactor.s3Counter.snapshot();
  const ddbBefore = compactor.ddbCounter.snapshot();
  const purposesBefore = compactor.ddbCounter.purposeSnapshot();
  compactor.s3Counter.resetMaxInFlight();
  const passes: MaintenanceReport[] = [];
  say('compaction: POST /v1/admin/maintenance/compact {"minAgeMs":0} until complete…');
  const cpu = startCpuProbe({ 'compactor (main)': 'main', 's3-emulator': ctx.s3Worker }, ctx.javaPid);
  const compactStarted = Date.now();
  for (;;) {
    const report = (await api(compactor, token, 'POST', '/v1/admin/maintenance/compact', {
      minAgeMs: 0,
    })) as MaintenanceReport;
    passes.push(report);
    say(
      `compaction: pass ${passes.length}: ${report.partitions} partitions, ${report.objects.read} objects read, ` +
        `${report.objects.written} written, complete ${report.complete} (${(report.durationMs / 1000).toFixed(1)} s)`,
    );
    if (report.complete) break;
    if (passes.length >= COMPACTION_MAX_PASSES) {
      throw new Error(`compaction: still not complete after ${passes.length} passes`);
    }
  }
  const compactWallMs = Date.now() - compactStarted;
  const compactCpu = cpu();
  const compactS3 = s3Difference(compactor.s3Counter.snapshot(), s3Before);
  const compactDdb = difference(compactor.ddbCounter.snapshot(), ddbBefore);
  const compactPurposes = difference(compactor.ddbCounter.purposeSnapshot(), purposesBefore);

  // One more pass with nothing left to compact: what a scheduled pass costs on an already compacted topic.
  const repeatS3Before = compactor.s3Counter.snapshot();
  const repeatDdbBefore = compactor.ddbCounter.snapshot();
  const repeatStarted = Date.now();
  const repeatReport = (await api(compactor, token, 'POST', '/v1/admin/maintenance/compact', {
    minAgeMs: 0,
  })) as MaintenanceReport;
  const repeat = {
    report: repeatReport,
    wallMs: Date.now() - repeatStarted,
    s3: s3Difference(compactor.s3Counter.snapshot(), repeatS3Before),
    ddb: difference(compactor.ddbCounter.snapshot(), repeatDdbBefore),
  };
  say(
    `compaction: a further pass: ${repeat.s3.gets} GETs, ${repeat.s3.puts} PUTs, ` +
      `${repeatReport.objects.written} objects written, complete ${repeatReport.complete}`,
  );
  const listingAfter = await listPartitions(writer, token, topic);
  const moved = listingAfter.filter((p, i) => p.highWatermark !== listingBefore[i]?.highWatermark);
  if (moved.length > 0) {
    throw new Error(`compaction: high watermarks changed: ${JSON.stringify(moved.slice(0, 4))}`);
  }
  say(`compaction: segments per partition after: ${listingAfter.map((p) => p.segments).join(' ')}`);

  // ---- cold read after, and the comparison ---------------------------------------------------------------
  say('compaction: cold read after compaction…');
  const after = await coldRead('read-after', readCtx);
  checkRead('after', after);
  const differing = listingBefore
    .map((p) => p.partition)
    .filter((p) => before.digests[p] === undefined || before.digests[p] !== after.digests[p]);
  if (differing.length > 0) {
    throw new Error(
      `compaction: the records read after compaction differ from those read before in partitions ${differing.join(', ')} ` +
        `(SHA-256 of offset, timestamp, key, value, headers per record)`,
    );
  }
  say(
    `compaction: GETs per MiB ${(before.read.s3.gets / (before.read.bytes / MiB)).toFixed(2)} → ` +
      `${(after.read.s3.gets / (after.read.bytes / MiB)).toFixed(2)}; records identical`,
  );

  return {
    partitions: options.partitions,
    producers: producerCount,
    recordsPerRequest: options.compactionRecordsPerRequest,
    produced: producedRecords,
    producedBytes: produceResults.reduce((n, r) => n + r.bytes, 0),
    produceRequests: produceResults.reduce((n, r) => n + r.requests, 0),
    produceWallMs,
    produceLatency,
    produceS3,
    produceDdb,
    before: { listing: listingBefore, read: before.read },
    passes,
    compactWallMs,
    compactS3,
    compactDdb,
    compactPurposes,
    compactCpu,
    repeat,
    after: { listing: listingAfter, read: after.read },
    identical: true,
  };
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${HELP}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const resources = new Resources();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    say(`${signal}: stopping everything`);
    void resources.closeAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = await run(options, resources);
    process.stdout.write(`${formatReport(result)}\n`);
    if (options.json) process.stdout.write(`${JSON.stringify(summaryJson(result))}\n`);
    return 0;
  } catch (error) {
    say(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return 1;
  } finally {
    say('stopping servers, workers, DynamoDB Local and the S3 emulator…');
    await resources.closeAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const code = await main();
process.exitCode = code;
// Everything started has been stopped; if a stray handle still held the event loop, do not hang.
setTimeout(() => {
  say('a handle was still open after cleanup; exiting');
  process.exit(code);
}, 5_000).unref();

/** Spreads `producerCount` producers over at most `threads` worker threads, as produce jobs. */
function splitProducers(
  spec: Omit<ProduceJob, 'role' | 'producers' | 'firstProducer'> & { producerCount: number; threads: number },
): ProduceJob[] {
  const { producerCount, threads: maxThreads, ...common } = spec;
  const threads = Math.min(maxThreads, producerCount);
  const jobs: ProduceJob[] = [];
  let firstProducer = 0;
  for (let t = 0; t < threads; t++) {
    const producers = Math.floor(producerCount / threads) + (t < producerCount % threads ? 1 : 0);
    jobs.push({ role: 'produce', ...common, producers, firstProducer });
    firstProducer += producers;
  }
  return jobs;
}

// ---- phase 7: the README's deployed workload, for the monthly cost of the AWS stack ----------------------------

/** The S3 and DynamoDB counts of some instances, to subtract: what they did between two snapshots. */
function snapshotAll(instances: readonly Instance[]) {
  return instances.map((i) => ({ s3: { ...i.s3Counter.counts }, ddb: i.ddbCounter.snapshot() }));
}

function spentSince(instances: readonly Instance[], before: ReturnType<typeof snapshotAll>) {
  let readUnits = 0;
  let scanReadUnits = 0;
  let writeUnits = 0;
  let gets = 0;
  let puts = 0;
  let lists = 0;
  instances.forEach((instance, i) => {
    const was = before[i];
    if (!was) return;
    const ops = difference(instance.ddbCounter.snapshot(), was.ddb);
    const t = totals(ops);
    readUnits += t.readUnits;
    scanReadUnits += ops.get('Scan')?.readUnits ?? 0;
    writeUnits += t.writeUnits;
    const s3 = s3Difference(instance.s3Counter.counts, was.s3);
    gets += s3.gets;
    puts += s3.puts;
    lists += s3.other;
  });
  return { readUnits, scanReadUnits, writeUnits, gets, puts, lists };
}

/**
 * The workload of README "Deploy to AWS", second by simulated second, through Lambda-shaped instances
 * (LAMBDA_LOG_OPTIONS: each produce request is its own flush) that take the calls at random, as a few warm Lambda
 * instances would: 4 produce requests of 256 records, each to one partition, then every member of 2 groups
 * of 4 fetches what is new and commits it. The calls run back to back (the simulation does not wait out the
 * second). Then one pass of each maintenance job and the lag job over what the run wrote. Its own tables
 * and bucket, so that the passes see only this run.
 */
async function deployedPhase(
  options: Options,
  keyed: boolean,
  ctx: {
    resources: Resources;
    admin: { dynamodb: DynamoDBClient; s3: S3Client };
    endpoints: BenchEndpoints;
    tablePrefix: string;
    bucket: string;
    token: string;
  },
): Promise<DeployedMeasurement> {
  const w = DEPLOYED_WORKLOAD;
  const { token } = ctx;
  await ensureTables(ctx.admin.dynamodb, ctx.tablePrefix);
  await ctx.admin.s3.send(new CreateBucketCommand({ Bucket: ctx.bucket }));
  const emf = { lines: 0, bytes: 0, metrics: new Set<string>() };
  const countLine = (line: string) => {
    emf.lines++;
    emf.bytes += Buffer.byteLength(line) + 1;
    const doc = JSON.parse(line) as {
      _aws: {
        CloudWatchMetrics: Array<{
          Namespace: string;
          Dimensions: string[][];
          Metrics: Array<{ Name: string }>;
        }>;
      };
    } & Record<string, unknown>;
    for (const directive of doc._aws.CloudWatchMetrics) {
      for (const dimensions of directive.Dimensions) {
        for (const metric of directive.Metrics) {
          const values = dimensions.map((d) => `${d}=${String(doc[d])}`).join(',');
          emf.metrics.add(`${directive.Namespace}/${metric.Name}{${values}}`);
        }
      }
    }
  };
  const emfOptions = { namespace: 'Sluice', service: 'bench', write: countLine };
  const instances: Instance[] = [];
  for (let i = 0; i < w.instances; i++) {
    const instance = await startInstance({
      name: `lambda-${i}`,
      endpoints: ctx.endpoints,
      tablePrefix: ctx.tablePrefix,
      bucket: ctx.bucket,
      token,
      log: { ...DEFAULT_LOG_OPTIONS, ...LAMBDA_LOG_OPTIONS },
      metrics: new EmfMetrics(emfOptions),
    });
    ctx.resources.add(`lambda-${i}`, () => instance.close());
    instances.push(instance);
  }
  // Lambda sends each request to whichever warm instance is free: a seeded random choice here (a fixed
  // rotation would pin each partition's produce requests to one instance, which Lambda does not do).
  let seed = 0x5eed;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const any = () => instances[Math.floor(random() * instances.length)] as Instance;
  const topic = `deployed${keyed ? '.keyed' : ''}.${Date.now().toString(36)}`;
  await api(any(), token, 'POST', '/v1/topics', { name: topic, partitions: w.partitions });

  // Members join and claim their partitions before anything is counted.
  interface Member {
    group: string;
    id: string;
    generation: number;
    cursor: string | undefined;
  }
  const members: Member[] = [];
  for (let g = 0; g < w.groups; g++) {
    for (let m = 0; m < w.membersPerGroup; m++) {
      const group = `deployed-g${g}`;
      const joined = (await api(any(), token, 'POST', `/v1/groups/${group}/members`, {
        topics: [topic],
        sessionTimeoutMs: 300_000,
        autoOffsetReset: 'earliest',
      })) as { memberId: string; generation: number };
      members.push({ group, id: joined.memberId, generation: joined.generation, cursor: undefined });
    }
  }
  const value = 'v'.repeat(w.valueBytes - 2); // a JSON string of valueBytes bytes, quotes included
  const requests = { produce: 0, fetch: 0, commit: 0, commitsCarried: 0 };
  const probe = {
    fetches: 0,
    fetchReadUnits: 0,
    fetchWriteUnits: 0,
    commits: 0,
    commitPartitions: 0,
    commitReadUnits: 0,
    commitWriteUnits: 0,
  };
  /** Whether the member's cursor carries records handed out and not yet committed. */
  const uncommitted = new Set<Member>();
  const produce = { puts: 0, readUnits: 0, writeUnits: 0 };
  const consume = { gets: 0, readUnits: 0, writeUnits: 0 };
  let recordsProduced = 0;
  let bytesProduced = 0;
  let recordsFetched = 0;
  let partition = 0;
  interface FetchAnswer {
    generation: number;
    cursor: string;
    records: Array<{ topic: string; partition: number; offset: number }>;
  }
  const fetchAsMember = async (member: Member, commit: boolean): Promise<FetchAnswer> => {
    const cursor = member.cursor ? `&cursor=${member.cursor}` : '';
    const query = `maxRecords=10000&maxBytes=${8 * MiB}&waitMs=0${cursor}${commit && member.cursor ? '&commit=true' : ''}`;
    const answer = (await api(
      any(),
      token,
      'GET',
      `/v1/groups/${member.group}/members/${member.id}/records?${query}`,
    )) as FetchAnswer;
    member.cursor = answer.cursor;
    member.generation = answer.generation;
    return answer;
  };
  /**
   * Every member fetches what is new with `commit=true`: the fetch commits what its cursor carries (the
   * records the previous fetch handed out), then fetches; counted unless `warmUp`.
   */
  const consumeRound = async (warmUp: boolean) => {
    for (const member of members) {
      const before = snapshotAll(instances);
      const carried = member.cursor !== undefined && uncommitted.has(member);
      let answer: FetchAnswer;
      try {
        answer = await fetchAsMember(member, true);
      } catch (error) {
        // A rebalance while the members were joining: start again from the committed offsets.
        if (!warmUp) throw error;
        member.cursor = undefined;
        uncommitted.delete(member);
        continue;
      }
      if (answer.records.length > 0) uncommitted.add(member);
      else if (carried) uncommitted.delete(member);
      if (warmUp) continue;
      requests.fetch++;
      if (carried) requests.commitsCarried++;
      recordsFetched += answer.records.length;
      const spent = spentSince(instances, before);
      consume.gets += spent.gets;
      consume.readUnits += spent.readUnits;
      consume.writeUnits += spent.writeUnits;
    }
  };
  // A new group hands out records only after its forming window (the default
  // SLUICE_GROUP_INITIAL_REBALANCE_DELAY_MS, 3 s): wait it out, so that every counted fetch can get records.
  await new Promise((r) => setTimeout(r, 3_500));
  await consumeRound(true);
  await consumeRound(true);
  emf.lines = 0;
  emf.bytes = 0;
  say(`deployed: ${options.deployedSeconds} simulated seconds of the README workload…`);
  for (let second = 0; second < options.deployedSeconds; second++) {
    const before = snapshotAll(instances);
    for (let r = 0; r < w.produceRequestsPerSecond; r++) {
      const records = keyed
        ? Array.from({ length: w.recordsPerRequest }, () => ({
            key: randomKey(KEYED_WORKLOAD.keyBytes),
            value,
          }))
        : Array.from({ length: w.recordsPerRequest }, () => ({ partition, value }));
      partition = (partition + 1) % w.partitions;
      await api(any(), token, 'POST', `/v1/topics/${topic}/records`, { records });
      requests.produce++;
      recordsProduced += records.length;
      bytesProduced += records.length * w.valueBytes;
    }
    const spent = spentSince(instances, before);
    produce.puts += spent.puts;
    produce.readUnits += spent.readUnits;
    produce.writeUnits += spent.writeUnits;
    if ((second + 1) % options.deployedFetchEvery === 0) await consumeRound(false);
  }
  // What a last, partial interval left, so that every record is fetched once per group.
  if (options.deployedSeconds % options.deployedFetchEvery !== 0) await consumeRound(false);
  if (recordsFetched !== recordsProduced * w.groups) {
    throw new Error(`deployed: ${recordsFetched} records fetched, expected ${recordsProduced * w.groups}`);
  }

  const apiEmf = { lines: emf.lines, bytes: emf.bytes };

  const indexEntries = (await listPartitions(any(), token, topic)).reduce((n, p) => n + p.segments, 0);

  // Apart from the counted run: a fetch's reads without a commit, and a separate commit call's writes.
  say(
    `deployed${keyed ? ' (keyed)' : ''}: ${options.deployedProbeRounds} rounds of fetches and separate commits…`,
  );
  for (let round = 0; round < options.deployedProbeRounds; round++) {
    const records = keyed
      ? Array.from({ length: w.recordsPerRequest }, () => ({
          key: randomKey(KEYED_WORKLOAD.keyBytes),
          value,
        }))
      : Array.from({ length: w.partitions }, (_, p) => ({ partition: p, value }));
    await api(any(), token, 'POST', `/v1/topics/${topic}/records`, { records });
    for (const member of members) {
      // What the cursor still carries is committed first (not counted), so the fetch below carries nothing.
      if (uncommitted.has(member)) {
        await fetchAsMember(member, true);
        uncommitted.delete(member);
      }
      const beforeFetch = snapshotAll(instances);
      const answer = await fetchAsMember(member, false);
      const fetched = spentSince(instances, beforeFetch);
      probe.fetches++;
      probe.fetchReadUnits += fetched.readUnits;
      probe.fetchWriteUnits += fetched.writeUnits;
      const nextOffsets = new Map<number, number>();
      for (const r of answer.records)
        nextOffsets.set(r.partition, Math.max(nextOffsets.get(r.partition) ?? 0, r.offset + 1));
      if (nextOffsets.size === 0) continue;
      const beforeCommit = snapshotAll(instances);
      await api(any(), token, 'POST', `/v1/groups/${member.group}/commits`, {
        memberId: member.id,
        generation: member.generation,
        offsets: [...nextOffsets].map(([p, offset]) => ({ topic, partition: p, offset })),
      });
      const committed = spentSince(instances, beforeCommit);
      probe.commits++;
      probe.commitPartitions += nextOffsets.size;
      probe.commitReadUnits += committed.readUnits;
      probe.commitWriteUnits += committed.writeUnits;
    }
  }

  // One pass of each job, on one instance, as the job's own function would run it.
  const worker = instances[0] as Instance;
  const pass = async (run: () => Promise<unknown>): Promise<PassCost> => {
    const before = snapshotAll([worker]);
    const started = Date.now();
    await run();
    return { ...spentSince([worker], before), wallMs: Date.now() - started };
  };
  let batchesMoved = 0;
  let entriesIndexed = 0;
  const compaction = await pass(async () => {
    for (;;) {
      const report = await worker.log.maintenance.run('compact', { minAgeMs: 0 });
      batchesMoved += report.batches.written;
      entriesIndexed += report.details.batchesIndexed ?? 0;
      if (report.complete) return;
    }
  });
  const retention = await pass(() => worker.log.maintenance.run('retention'));
  const gc = await pass(() => worker.log.maintenance.run('gc'));
  const groups = createGroupStore({ dynamodb: worker.dynamodb, tablePrefix: ctx.tablePrefix });
  const lagWriter = new EmfWriter(emfOptions);
  const lag = await pass(async () => {
    publishConsumerLag(lagWriter, await measureConsumerLag(groups, worker.log), Date.now());
  });
  return {
    keyed,
    simulatedSeconds: options.deployedSeconds,
    fetchEverySeconds: options.deployedFetchEvery,
    requests,
    recordsProduced,
    bytesProduced,
    recordsFetched,
    produce,
    consume,
    probe,
    metrics: { ...apiEmf, distinctMetrics: emf.metrics.size },
    batches: indexEntries,
    // Each produce request was one flush: one commit record.
    chain: { records: requests.produce, entriesIndexed },
    compaction: { ...compaction, batchesMoved },
    retention,
    gc,
    lag,
  };
}

// ---- phase 8: a hot topic ------------------------------------------------------------------------------------------

interface PhaseContext {
  resources: Resources;
  admin: { dynamodb: DynamoDBClient; s3: S3Client };
  endpoints: BenchEndpoints;
  tablePrefix: string;
  bucket: string;
  token: string;
}

/** Conditional writes that failed (and were billed), in a difference of counts. */
function conflictsIn(ops: Map<string, { errors: Record<string, number> }>): number {
  let n = 0;
  for (const s of ops.values())
    n += (s.errors.ConditionalCheckFailedException ?? 0) + (s.errors.TransactionCanceledException ?? 0);
  return n;
}

/** One produce request; its status (0: no answer) and the body of a failure. */
async function produceOnce(
  instance: { url: string },
  token: string,
  topic: string,
  records: unknown[],
): Promise<{ status: number; text: string }> {
  try {
    const response = await fetch(`${instance.url}/v1/topics/${topic}/records`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ records }),
    });
    const text = await response.text();
    return { status: response.status, text: response.ok ? '' : text };
  } catch (error) {
    return { status: 0, text: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * For each number of writers N in `--hot-writers`: a new 16-partition topic, N Lambda-shaped instances
 * (each its own Log by createLog with LAMBDA_LOG_OPTIONS, its own DynamoDB and S3 clients, its own HTTP app:
 * no process state shared), each sending keyed produce requests of 256 records back to back for
 * `--hot-seconds`. Counts commits (200s), 429s, and every DynamoDB unit the writers spent.
 */
async function hotTopicPhase(options: Options, ctx: PhaseContext): Promise<HotTopicLevel[]> {
  const w = KEYED_WORKLOAD;
  await ensureTables(ctx.admin.dynamodb, ctx.tablePrefix);
  await ctx.admin.s3.send(new CreateBucketCommand({ Bucket: ctx.bucket }));
  const value = 'v'.repeat(w.valueBytes - 2);
  const batch = () =>
    Array.from({ length: w.recordsPerRequest }, () => ({ key: randomKey(w.keyBytes), value }));
  const levels: HotTopicLevel[] = [];
  for (const n of options.hotWriters) {
    const writers: Instance[] = [];
    for (let i = 0; i < n; i++) {
      writers.push(
        await startInstance({
          name: `hot-${n}-${i}`,
          endpoints: ctx.endpoints,
          tablePrefix: ctx.tablePrefix,
          bucket: ctx.bucket,
          token: ctx.token,
          log: { ...DEFAULT_LOG_OPTIONS, ...LAMBDA_LOG_OPTIONS },
        }),
      );
    }
    const topic = `hot.${n}.${Date.now().toString(36)}`;
    await api(writers[0] as Instance, ctx.token, 'POST', '/v1/topics', {
      name: topic,
      partitions: w.partitions,
    });
    // Warm instances: each has seen the topic once (one record, not counted).
    await Promise.all(
      writers.map((writer) => produceOnce(writer, ctx.token, topic, [{ key: 'warm', value: 1 }])),
    );
    say(`hot topic: ${n} writers, ${options.hotSeconds} s of keyed produce requests…`);
    const before = snapshotAll(writers);
    const beforeOps = writers.map((writer) => writer.ddbCounter.snapshot());
    const level: HotTopicLevel = {
      writers: n,
      wallMs: 0,
      commits: 0,
      throttled: 0,
      failed: 0,
      readUnits: 0,
      writeUnits: 0,
      conflicts: 0,
      latencyP50Ms: 0,
      latencyP99Ms: 0,
    };
    const latencies: number[] = [];
    const started = Date.now();
    const until = started + options.hotSeconds * 1000;
    await Promise.all(
      writers.map(async (writer) => {
        while (Date.now() < until) {
          const sent = performance.now();
          const { status, text } = await produceOnce(writer, ctx.token, topic, batch());
          latencies.push(performance.now() - sent);
          if (status === 200) level.commits++;
          else if (status === 429) level.throttled++;
          else {
            level.failed++;
            level.firstFailure ??= `HTTP ${status} ${text.slice(0, 200)}`;
          }
        }
      }),
    );
    level.wallMs = Date.now() - started;
    const spent = spentSince(writers, before);
    level.readUnits = spent.readUnits;
    level.writeUnits = spent.writeUnits;
    level.conflicts = writers.reduce(
      (sum, writer, i) =>
        sum + conflictsIn(difference(writer.ddbCounter.snapshot(), beforeOps[i] ?? new Map())),
      0,
    );
    const latency = summarizeMs(latencies);
    level.latencyP50Ms = latency.p50Ms;
    level.latencyP99Ms = latency.p99Ms;
    const rates = hotTopicRates(level);
    say(
      `hot topic: ${n} writers: ${level.commits} commits (${rates.commitsPerSec.toFixed(1)}/s), ` +
        `${Number.isFinite(rates.wruPerCommit) ? rates.wruPerCommit.toFixed(2) : 'n/a'} WRU per commit, ` +
        `${level.conflicts} conflicts, ${level.throttled} 429s, ${level.failed} failed`,
    );
    levels.push(level);
    for (const writer of writers) await writer.close();
  }
  return levels;
}

// ---- phase 9: the agent -----------------------------------------------------------------------------------------

/**
 * For each linger in `--agent-lingers`: one agent-mode instance (createLog with the defaults and that
 * lingerMs, its batcher coalescing concurrent requests), and the keyed workload's records a second
 * (4 × 256 = 1024 records of 1 KiB) arriving as `--agent-requests-per-second` requests sent at their time
 * for `--agent-seconds`. Counts its S3 and DynamoDB requests (flushes included, to the last).
 */
async function agentPhase(options: Options, ctx: PhaseContext): Promise<AgentRun[]> {
  const w = KEYED_WORKLOAD;
  await ensureTables(ctx.admin.dynamodb, ctx.tablePrefix);
  await ctx.admin.s3.send(new CreateBucketCommand({ Bucket: ctx.bucket }));
  const value = 'v'.repeat(w.valueBytes - 2);
  const recordsPerSecond = DEPLOYED_WORKLOAD.produceRequestsPerSecond * DEPLOYED_WORKLOAD.recordsPerRequest;
  const rate = options.agentRequestsPerSecond;
  const recordsPerRequest = Math.max(1, Math.round(recordsPerSecond / rate));
  const runs: AgentRun[] = [];
  for (const lingerMs of options.agentLingers) {
    const agent = await startInstance({
      name: `agent-linger-${lingerMs}`,
      endpoints: ctx.endpoints,
      tablePrefix: ctx.tablePrefix,
      bucket: ctx.bucket,
      token: ctx.token,
      log: { ...DEFAULT_LOG_OPTIONS, lingerMs },
    });
    const topic = `agent.${lingerMs}.${Date.now().toString(36)}`;
    await api(agent, ctx.token, 'POST', '/v1/topics', { name: topic, partitions: w.partitions });
    await produceOnce(agent, ctx.token, topic, [{ key: 'warm', value: 1 }]);
    await agent.log.flush();
    say(
      `agent: linger ${lingerMs} ms, ${rate} requests/s of ${recordsPerRequest} keyed records for ${options.agentSeconds} s…`,
    );
    const before = snapshotAll([agent]);
    const run: AgentRun = {
      lingerMs,
      wallMs: 0,
      requests: 0,
      records: 0,
      failed: 0,
      puts: 0,
      gets: 0,
      readUnits: 0,
      writeUnits: 0,
    };
    const total = rate * options.agentSeconds;
    const started = performance.now();
    const inFlight: Array<Promise<void>> = [];
    for (let i = 0; i < total; i++) {
      const at = started + (i * 1000) / rate;
      const wait = at - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const records = Array.from({ length: recordsPerRequest }, () => ({
        key: randomKey(w.keyBytes),
        value,
      }));
      inFlight.push(
        produceOnce(agent, ctx.token, topic, records).then(({ status, text }) => {
          run.requests++;
          run.records += records.length;
          if (status !== 200) {
            run.failed++;
            run.firstFailure ??= `HTTP ${status} ${text.slice(0, 200)}`;
          }
        }),
      );
    }
    await Promise.all(inFlight);
    await agent.log.flush();
    // The month is scaled from the time the requests were spread over, not from how long the last one took.
    run.wallMs = options.agentSeconds * 1000;
    const spent = spentSince([agent], before);
    run.puts = spent.puts;
    run.gets = spent.gets;
    run.readUnits = spent.readUnits;
    run.writeUnits = spent.writeUnits;
    const monthly = agentMonthlyCost(run);
    say(
      `agent: linger ${lingerMs} ms: ${run.puts} flushes, ${run.writeUnits} WRU, ${run.readUnits} RRU: ` +
        `$${monthly.totalUsd.toFixed(2)}/month`,
    );
    runs.push(run);
    await agent.close();
  }
  return runs;
}
