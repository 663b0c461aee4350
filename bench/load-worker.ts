/**
 * Worker thread: a load generator (producers, the end-to-end latency consumer, or the catch-up consumer),
 * talking HTTP to the Sluice server like any client. Runs off the server's event loop.
 *
 * Protocol: posts `{ type: 'ready' }`, waits for `{ type: 'go' }`, runs, posts its result. The e2e consumer
 * runs until it gets `{ type: 'stop' }`.
 */
import { Agent, request } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import {
  type BenchValue,
  type ConsumeJob,
  type ConsumeResult,
  type E2eJob,
  type E2eResult,
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
  records: Array<{ partition: number; offset: number; key: string | null; value: BenchValue }>;
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
  await Promise.all(
    job.partitions.map(async (partition) => {
      const base = `/v1/topics/${encodeURIComponent(job.topic)}/partitions/${partition}/records`;
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
          records++;
          // Exact stored size of this shape of value (ASCII, 13-digit timestamp), without re-serialising it.
          bytes += (record.key?.length ?? 0) + VALUE_OVERHEAD_BYTES + record.value.pad.length;
        }
        offset = result.nextOffset;
        if (result.nextOffset >= result.highWatermark || result.records.length === 0) break;
      }
      reached[partition] = offset;
    }),
  );
  return {
    type: 'consume-result',
    records,
    bytes,
    requests,
    reached,
    failures,
    firstFailure,
    startedAt,
    endedAt: Date.now(),
    elu: 0,
  };
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
