/**
 * Worker thread: a load generator (producers, the end-to-end latency consumer, the catch-up consumer, or the
 * members of a consumer group), talking HTTP to the Sluice server like any client. Runs off the server's
 * event loop.
 *
 * Protocol: posts `{ type: 'ready' }`, waits for `{ type: 'go' }`, runs, posts its result. The e2e consumer
 * runs until it gets `{ type: 'stop' }`.
 */
import { createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import {
  type BenchValue,
  type ConsumeJob,
  type ConsumeResult,
  type E2eJob,
  type E2eResult,
  type GroupJob,
  type GroupMemberStats,
  type GroupResult,
  type LoadJob,
  type ProduceJob,
  type ProduceResult,
  VALUE_OVERHEAD_BYTES,
} from './protocol.js';

const port = parentPort;
if (!port) throw new Error('load-worker must run in a worker thread');
const job = workerData as LoadJob;

interface HttpAnswer {
  status: number;
  body: string;
  /** Date.now() when the last byte of the response arrived. */
  receivedAt: number;
}

interface FetchBody {
  records: Array<{
    partition: number;
    offset: number;
    timestamp?: number;
    key: string | null;
    value: BenchValue;
    headers?: Record<string, string>;
  }>;
  nextOffset: number;
  highWatermark: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function call(url: URL, method: 'GET' | 'POST', token: string, body?: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${token}` };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const req = request(url, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          receivedAt: Date.now(),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

function describe(answer: HttpAnswer): string {
  return `HTTP ${answer.status}: ${answer.body.slice(0, 300)}`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---- produce ------------------------------------------------------------------------------------------------

async function produce(job: ProduceJob, startedAt: number): Promise<ProduceResult> {
  const url = new URL(`/v1/topics/${encodeURIComponent(job.topic)}/records`, job.url);
  const pad = 'x'.repeat(Math.max(0, job.valueBytes - VALUE_OVERHEAD_BYTES));
  const keySpace = 10 ** Math.min(12, job.keyBytes - 1);
  const recordBytes = job.keyBytes + VALUE_OVERHEAD_BYTES + pad.length;
  const deadline = startedAt + job.maxMs;
  const latencies: number[] = [];
  let requests = 0;
  let records = 0;
  let failures = 0;
  let firstFailure: string | undefined;

  const body = (producer: number, seq: number): string => {
    // The send time goes into every value; Date.now() has 13 digits, so every value has the same length.
    const value = `{"t":${Date.now()},"pad":"${pad}"}`;
    const parts: string[] = [];
    for (let j = 0; j < job.recordsPerRequest; j++) {
      const n = (producer * 1_000_003 + seq * job.recordsPerRequest + j) % keySpace;
      parts.push(`{"key":"k${String(n).padStart(job.keyBytes - 1, '0')}","value":${value}}`);
    }
    return `{"records":[${parts.join(',')}]}`;
  };

  await Promise.all(
    Array.from({ length: job.producers }, async (_, i) => {
      const producer = job.firstProducer + i;
      for (let seq = 0; seq < job.requestsPerProducer && Date.now() < deadline; seq++) {
        const text = body(producer, seq);
        const t0 = performance.now();
        try {
          const answer = await call(url, 'POST', job.token, text);
          const elapsed = performance.now() - t0;
          requests++;
          if (answer.status === 200) {
            latencies.push(elapsed * 1000);
            records += job.recordsPerRequest;
          } else {
            failures++;
            firstFailure ??= describe(answer);
          }
        } catch (error) {
          failures++;
          firstFailure ??= errorText(error);
        }
      }
    }),
  );
  return {
    type: 'produce-result',
    latenciesUs: Float64Array.from(latencies),
    requests,
    records,
    bytes: records * recordBytes,
    failures,
    firstFailure,
    startedAt,
    endedAt: Date.now(),
    elu: 0,
  };
}

// ---- end-to-end latency consumer ---------------------------------------------------------------------------

let stopRequested = false;

async function followTail(job: E2eJob): Promise<E2eResult> {
  const latencies: number[] = [];
  let records = 0;
  let polls = 0;
  let failures = 0;
  let firstFailure: string | undefined;
  await Promise.all(
    job.partitions.map(async (partition) => {
      const base = `/v1/topics/${encodeURIComponent(job.topic)}/partitions/${partition}/records`;
      let offset = 'latest';
      while (!stopRequested) {
        const url = new URL(
          `${base}?offset=${offset}&waitMs=${job.waitMs}&maxRecords=10000&maxBytes=8388608`,
          job.url,
        );
        try {
          const answer = await call(url, 'GET', job.token);
          polls++;
          if (answer.status !== 200) {
            failures++;
            firstFailure ??= describe(answer);
            await new Promise((r) => setTimeout(r, 100));
            continue;
          }
          const result = JSON.parse(answer.body) as FetchBody;
          for (const record of result.records) {
            latencies.push((answer.receivedAt - record.value.t) * 1000);
            records++;
          }
          offset = String(result.nextOffset);
        } catch (error) {
          failures++;
          firstFailure ??= errorText(error);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }),
  );
  return {
    type: 'e2e-result',
    latenciesUs: Float64Array.from(latencies),
    records,
    polls,
    failures,
    firstFailure,
    elu: 0,
  };
}

// ---- catch-up consumer ----------------------------------------------------------------------------------------

async function consume(job: ConsumeJob, startedAt: number): Promise<ConsumeResult> {
  let records = 0;
  let bytes = 0;
  let requests = 0;
  let failures = 0;
  let firstFailure: string | undefined;
  const reached: Record<number, number> = {};
  const digests: Record<number, string> = {};
  await Promise.all(
    job.partitions.map(async (partition) => {
      const base = `/v1/topics/${encodeURIComponent(job.topic)}/partitions/${partition}/records`;
      const hash = job.digest ? createHash('sha256') : undefined;
      let expected = 0;
      let offset = 0;
      for (let attempt = 0; attempt < 100_000; attempt++) {
        const url = new URL(
          `${base}?offset=${offset}&maxRecords=${job.maxRecords}&maxBytes=${job.maxBytes}`,
          job.url,
        );
        let result: FetchBody;
        try {
          const answer = await call(url, 'GET', job.token);
          requests++;
          if (answer.status !== 200) {
            failures++;
            firstFailure ??= describe(answer);
            break;
          }
          result = JSON.parse(answer.body) as FetchBody;
        } catch (error) {
          failures++;
          firstFailure ??= errorText(error);
          break;
        }
        for (const record of result.records) {
          if (hash) {
            // Offsets must be dense: the topic is not key-compacted, so a gap is a lost record.
            if (record.offset !== expected) {
              failures++;
              firstFailure ??= `partition ${partition}: offset ${record.offset} where ${expected} was expected`;
            }
            expected = record.offset + 1;
            hash.update(
              `${record.offset}\t${record.timestamp}\t${record.key}\t${JSON.stringify(record.value)}\t${JSON.stringify(record.headers ?? {})}\n`,
            );
          }
          records++;
          // Exact stored size of this shape of value (ASCII, 13-digit timestamp), without re-serialising it.
          bytes += (record.key?.length ?? 0) + VALUE_OVERHEAD_BYTES + record.value.pad.length;
        }
        offset = result.nextOffset;
        if (result.nextOffset >= result.highWatermark || result.records.length === 0) break;
      }
      reached[partition] = offset;
      if (hash) digests[partition] = hash.digest('hex');
    }),
  );
  return {
    type: 'consume-result',
    records,
    bytes,
    requests,
    reached,
    ...(job.digest ? { digests } : {}),
    failures,
    firstFailure,
    startedAt,
    endedAt: Date.now(),
    elu: 0,
  };
}

// ---- consumer group -----------------------------------------------------------------------------------------------

interface MemberFetchBody {
  generation: number;
  records: Array<{ topic: string; partition: number; offset: number; key: string | null; value: BenchValue }>;
  cursor: string;
}

/** How long a member whose fetch came back empty waits before fetching again (the server's pollIntervalMs). */
const IDLE_BACKOFF_MS = 250;
const THROTTLE_BACKOFF_MS = 20;

/** Sorted, merged half-open ranges. */
function mergeRanges(ranges: Array<[number, number]>): Array<[number, number]> {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const [from, to] of sorted) {
    const last = out[out.length - 1];
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else out.push([from, to]);
  }
  return out;
}

/**
 * N members of one group, as a client library would drive them: join; fetch with the cursor; commit each
 * partition's last offset + 1 with the fetch's generation; on 409 (REBALANCE_IN_PROGRESS on a fetch,
 * FENCED on a commit) heartbeat to learn the new assignment and fetch without a cursor (from the committed
 * offsets); on 404 UNKNOWN_MEMBER join again. Runs until every partition's committed offset (as answered
 * 204) reaches its high watermark.
 */
async function runGroup(job: GroupJob, startedAt: number): Promise<GroupResult> {
  const groupPath = `/v1/groups/${encodeURIComponent(job.group)}`;
  const committed = job.highWatermarks.map(() => 0);
  const ranges: Array<Array<[number, number]>> = job.highWatermarks.map(() => []);
  const result: GroupResult = {
    type: 'group-result',
    records: 0,
    bytes: 0,
    delivered: {},
    joins: 0,
    rejoins: 0,
    heartbeats: 0,
    fetches: 0,
    emptyFetches: 0,
    rebalances: 0,
    commits: 0,
    fencedCommits: 0,
    throttled: 0,
    finalGeneration: 0,
    members: [],
    failures: 0,
    firstFailure: undefined,
    startedAt,
    endedAt: startedAt,
    elu: 0,
  };
  const deadline = startedAt + job.maxMs;
  let stop = false;
  let wake: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    wake = resolve;
  });
  const finish = () => {
    if (stop) return;
    stop = true;
    result.endedAt = Date.now();
    wake();
  };
  const pause = (ms: number) =>
    Promise.race([new Promise<void>((resolve) => setTimeout(resolve, ms)), stopped]);
  const allCommitted = () => committed.every((c, p) => c >= (job.highWatermarks[p] ?? 0));
  if (allCommitted()) finish();

  const member = async (stats: GroupMemberStats): Promise<void> => {
    let generation = 0;
    let cursor: string | undefined;
    const post = (path: string, body?: unknown) =>
      call(
        new URL(`${groupPath}${path}`, job.url),
        'POST',
        job.token,
        body === undefined ? undefined : JSON.stringify(body),
      );
    const join = async (again: boolean): Promise<void> => {
      for (;;) {
        const answer = await post('/members', {
          topics: [job.topic],
          sessionTimeoutMs: job.sessionTimeoutMs,
          autoOffsetReset: 'earliest',
        });
        result.joins++;
        if (answer.status === 200) {
          const body = JSON.parse(answer.body) as { memberId: string; generation: number };
          stats.memberId = body.memberId;
          generation = body.generation;
          cursor = undefined;
          if (again) result.rejoins++;
          return;
        }
        if (answer.status !== 429) throw new Error(`join: ${describe(answer)}`);
        result.throttled++;
        await pause(THROTTLE_BACKOFF_MS);
        if (stop) return;
      }
    };
    /** Learns the current generation and assignment; the next fetch starts from the committed offsets. */
    const heartbeat = async (): Promise<void> => {
      for (;;) {
        const answer = await post(`/members/${encodeURIComponent(stats.memberId)}/heartbeat`);
        result.heartbeats++;
        cursor = undefined;
        if (answer.status === 200) {
          generation = (JSON.parse(answer.body) as { generation: number }).generation;
          return;
        }
        if (answer.status === 404) return join(true);
        if (answer.status !== 429) throw new Error(`heartbeat: ${describe(answer)}`);
        result.throttled++;
        await pause(THROTTLE_BACKOFF_MS);
        if (stop) return;
      }
    };

    await join(false);
    const query = `maxRecords=${job.maxRecords}&maxBytes=${job.maxBytes}&waitMs=${job.waitMs}`;
    while (!stop) {
      if (Date.now() > deadline) {
        throw new Error(`the group had not committed everything after ${job.maxMs} ms`);
      }
      const url = new URL(
        `${groupPath}/members/${encodeURIComponent(stats.memberId)}/records?${query}` +
          (cursor !== undefined ? `&cursor=${encodeURIComponent(cursor)}` : ''),
        job.url,
      );
      const answer = await call(url, 'GET', job.token);
      result.fetches++;
      stats.fetches++;
      if (answer.status === 409) {
        result.rebalances++;
        await heartbeat();
        continue;
      }
      if (answer.status === 404) {
        await join(true);
        continue;
      }
      if (answer.status === 429) {
        result.throttled++;
        await pause(THROTTLE_BACKOFF_MS);
        continue;
      }
      if (answer.status !== 200) throw new Error(`fetch: ${describe(answer)}`);
      const body = JSON.parse(answer.body) as MemberFetchBody;
      generation = body.generation;
      cursor = body.cursor;
      if (body.records.length === 0) {
        result.emptyFetches++;
        await pause(IDLE_BACKOFF_MS);
        continue;
      }
      const next = new Map<number, number>();
      let run: [number, number] | undefined;
      let runPartition = -1;
      for (const record of body.records) {
        if (record.topic !== job.topic) throw new Error(`fetch: a record of topic '${record.topic}'`);
        const p = record.partition;
        if (run && runPartition === p && run[1] === record.offset) run[1]++;
        else {
          run = [record.offset, record.offset + 1];
          runPartition = p;
          const list = ranges[p];
          if (!list) throw new Error(`fetch: partition ${p} is not one of the topic's`);
          list.push(run);
        }
        next.set(p, Math.max(next.get(p) ?? 0, record.offset + 1));
        result.bytes += (record.key?.length ?? 0) + VALUE_OVERHEAD_BYTES + record.value.pad.length;
      }
      result.records += body.records.length;
      stats.records += body.records.length;
      const offsets = [...next].map(([partition, offset]) => ({ topic: job.topic, partition, offset }));
      const commit = await post('/commits', { memberId: stats.memberId, generation, offsets });
      result.commits++;
      stats.commits++;
      if (commit.status === 204) {
        for (const { partition, offset } of offsets) {
          committed[partition] = Math.max(committed[partition] ?? 0, offset);
        }
        if (allCommitted()) finish();
        continue;
      }
      // Not committed: whoever owns these partitions now reads them again from the committed offsets.
      if (commit.status === 409) {
        result.fencedCommits++;
        await heartbeat();
      } else if (commit.status === 404) await join(true);
      else if (commit.status === 429) {
        result.throttled++;
        cursor = undefined;
      } else throw new Error(`commit: ${describe(commit)}`);
    }
    result.finalGeneration = Math.max(result.finalGeneration, generation);
  };

  result.members = Array.from({ length: job.members }, () => ({
    memberId: '',
    records: 0,
    fetches: 0,
    commits: 0,
  }));
  await Promise.all(
    result.members.map((stats) =>
      member(stats).catch((error: unknown) => {
        result.failures++;
        result.firstFailure ??= errorText(error);
        finish();
      }),
    ),
  );
  ranges.forEach((list, p) => {
    result.delivered[p] = mergeRanges(list);
  });
  return result;
}

// ---- main -------------------------------------------------------------------------------------------------------

function isType(message: unknown, type: string): boolean {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;
}

port.on('message', (message: unknown) => {
  if (isType(message, 'stop')) stopRequested = true;
  if (!isType(message, 'go')) return;
  const startedAt = Date.now();
  const elu = performance.eventLoopUtilization();
  const run =
    job.role === 'produce'
      ? produce(job, startedAt)
      : job.role === 'e2e'
        ? followTail(job)
        : job.role === 'group'
          ? runGroup(job, startedAt)
          : consume(job, startedAt);
  run
    .then((result) => {
      result.elu = performance.eventLoopUtilization(elu).utilization;
      const transfer = 'latenciesUs' in result ? [result.latenciesUs.buffer as ArrayBuffer] : [];
      port.postMessage(result, transfer);
    })
    .catch((error: unknown) => port.postMessage({ type: 'failed', error: errorText(error) }))
    .finally(() => {
      agent.destroy();
      port.close();
    });
});
port.postMessage({ type: 'ready' });
