import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type FaultProfile, startTcpProxy } from './cluster/tcp-proxy.js';

/** A tiny deterministic PRNG for these tests (the suite passes its own seeded one). */
function mulberry32(seed: number): { next(): number } {
  let a = seed >>> 0;
  return {
    next() {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

interface Target {
  port: number;
  /** Every request the target saw, in order: method, path, body. */
  requests: { method: string; url: string; body: Buffer }[];
  connections: number;
  close(): Promise<void>;
}

/** A node:http server that records each request and answers with its body. */
async function startEchoTarget(): Promise<Target> {
  const requests: Target['requests'] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      requests.push({ method: req.method ?? '', url: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** POSTs `body` through `port`; resolves with the answer's status and body, rejects on any network error. */
function post(
  port: number,
  agent: http.Agent,
  path: string,
  body: Buffer,
  timeoutMs = 5_000,
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: 'POST', path, agent, headers: { 'content-length': body.length } },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (part: Buffer) => parts.push(part));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () =>
      req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Deterministic bytes of a given length. */
function bytes(length: number, seed: number): Buffer {
  const rng = mulberry32(seed);
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rng.next() * 256);
  return out;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(seed = 1, onFault?: (what: string) => void) {
  const target = await startEchoTarget();
  const proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: target.port },
    rng: mulberry32(seed),
    ...(onFault ? { onFault } : {}),
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  cleanups.push(
    () => target.close(),
    () => proxy.close(),
    () => agent.destroy(),
  );
  return { target, proxy, agent };
}

describe('tcp proxy', () => {
  it('passes many keep-alive requests through byte-exact, over one connection', async () => {
    const { target, proxy, agent } = await setup();
    for (let i = 0; i < 100; i++) {
      const body = bytes(i === 50 ? 2_000_000 : (i * 131) % 5_000, i);
      const answer = await post(proxy.port, agent, `/r/${i}`, body);
      expect(answer.status).toBe(200);
      expect(answer.body.equals(body)).toBe(true);
    }
    expect(target.requests.map((r) => r.url)).toEqual(Array.from({ length: 100 }, (_, i) => `/r/${i}`));
    expect(target.connections).toBe(1);
    expect(proxy.counters).toMatchObject({ accepted: 1, delayed: 0, dropped: 0, reset: 0, blackholed: 0 });
    expect(proxy.url).toBe(`http://127.0.0.1:${proxy.port}`);
  });

  it('keeps order under delays and passes a half-close on', async () => {
    // A raw target that answers everything it read once the client has half-closed.
    const target = net.createServer({ allowHalfOpen: true }, (socket) => {
      const parts: Buffer[] = [];
      socket.on('data', (part: Buffer) => parts.push(part));
      socket.on('end', () => socket.end(Buffer.concat(parts)));
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const proxy = await startTcpProxy({
      target: { host: '127.0.0.1', port: (target.address() as AddressInfo).port },
      rng: mulberry32(3),
    });
    cleanups.push(
      () => new Promise<void>((resolve) => target.close(() => resolve())),
      () => proxy.close(),
    );
    proxy.setFaults({ delayChance: 0.5, delayMs: [1, 15] });

    const client = net.connect({ host: '127.0.0.1', port: proxy.port, allowHalfOpen: true });
    const received: Buffer[] = [];
    client.on('data', (part: Buffer) => received.push(part));
    const ended = new Promise<void>((resolve, reject) => {
      client.on('end', resolve);
      client.on('error', reject);
    });
    const sent: string[] = [];
    for (let i = 0; i < 40; i++) {
      sent.push(`<chunk ${i}>`);
      client.write(`<chunk ${i}>`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    client.end();
    await ended;
    client.destroy();
    expect(Buffer.concat(received).toString()).toBe(sent.join(''));
    expect(proxy.counters.delayed).toBeGreaterThan(0);
  });

  it('drop: the server applies the request, the client loses the answer', async () => {
    const faults: string[] = [];
    const { target, proxy, agent } = await setup(1, (what) => faults.push(what));
    proxy.setFaults({ dropChance: 1 });
    const error = await post(proxy.port, agent, '/applied', Buffer.from('payload')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(['ECONNRESET', 'socket hang up']).toContain(
      (error as NodeJS.ErrnoException).code === 'ECONNRESET' ? 'ECONNRESET' : (error as Error).message,
    );
    expect(target.requests.map((r) => [r.url, r.body.toString()])).toEqual([['/applied', 'payload']]);
    expect(proxy.counters.dropped).toBe(1);
    expect(faults).toEqual(['conn 0 down 0 drop']);
  });

  it('reset: the client gets ECONNRESET and the server sees nothing', async () => {
    const { target, proxy, agent } = await setup();
    proxy.setFaults({ resetChance: 1 });
    const error = await post(proxy.port, agent, '/lost', Buffer.from('payload')).catch((e: unknown) => e);
    expect((error as NodeJS.ErrnoException).code).toBe('ECONNRESET');
    expect(target.requests).toEqual([]);
    expect(proxy.counters.reset).toBe(1);
  });

  it('blackhole: connections stall; lifting it is a healed partition (held requests arrive late)', async () => {
    const { target, proxy, agent } = await setup();
    expect((await post(proxy.port, agent, '/before', Buffer.from('a'))).status).toBe(200);

    proxy.setFaults({ blackhole: true });
    // The existing keep-alive connection stalls...
    const stalled = await post(proxy.port, agent, '/stalled', Buffer.from('b'), 300).catch((e: unknown) => e);
    expect((stalled as NodeJS.ErrnoException).code).toBe('ETIMEDOUT');
    // ...and so does a new one (accepted, never answered).
    const fresh = new http.Agent({ keepAlive: false });
    cleanups.push(() => fresh.destroy());
    const unanswered = await post(proxy.port, fresh, '/new', Buffer.from('c'), 300).catch((e: unknown) => e);
    expect((unanswered as NodeJS.ErrnoException).code).toBe('ETIMEDOUT');
    expect(target.requests.map((r) => r.url)).toEqual(['/before']);
    expect(proxy.counters.blackholed).toBe(1);

    proxy.setFaults({});
    const after = await post(proxy.port, agent, '/after', Buffer.from('d'));
    expect(after.body.toString()).toBe('d');
    // The timed-out requests were held, not lost: like TCP after a partition heals, they reach the server
    // although their clients gave up (so a timeout is an unknown outcome, never a failure).
    await expect
      .poll(() => target.requests.map((r) => r.url).sort())
      .toEqual(['/after', '/before', '/new', '/stalled']);
  });

  it('the same seed over the same traffic gives the same faults; another seed gives others', async () => {
    const profile: FaultProfile = { delayChance: 0.3, delayMs: [1, 5], dropChance: 0.15, resetChance: 0.1 };
    async function run(seed: number): Promise<{ faults: string[]; outcomes: string[] }> {
      const faults: string[] = [];
      const { proxy, agent } = await setup(seed, (what) => faults.push(what));
      proxy.setFaults(profile);
      const outcomes: string[] = [];
      for (let i = 0; i < 40; i++) {
        const outcome = await post(proxy.port, agent, `/op/${i}`, Buffer.from(`op ${i}`)).then(
          (answer) => `ok ${answer.body.toString()}`,
          () => 'error',
        );
        outcomes.push(outcome);
      }
      return { faults, outcomes };
    }
    const first = await run(7);
    const second = await run(7);
    const other = await run(8);
    expect(second).toEqual(first);
    expect(other.faults).not.toEqual(first.faults);
    const kinds = new Set(first.faults.map((f) => f.split(' ')[4]?.replace(/\d+ms$/, '')));
    expect([...kinds].sort()).toEqual(['delay', 'drop', 'reset']);
  });

  it('a target that refuses connections resets the client and crashes nothing', async () => {
    const closed = await startEchoTarget();
    await closed.close(); // its port now refuses connections
    const proxy = await startTcpProxy({
      target: { host: '127.0.0.1', port: closed.port },
      rng: mulberry32(9),
    });
    cleanups.push(() => proxy.close());
    const agent = new http.Agent({ keepAlive: false });
    cleanups.push(() => agent.destroy());
    const error = await post(proxy.port, agent, '/nowhere', Buffer.from('x')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    await expect.poll(() => proxy.counters.open).toBe(0);
  });

  it('close() destroys every socket and timer and leaves no open handle', async () => {
    const count = (kind: string) => process.getActiveResourcesInfo().filter((r) => r === kind).length;
    // Earlier tests' sockets are closed, asynchronously: start from none.
    await expect.poll(() => count('TCPSocketWrap') + count('TCPServerWrap')).toBe(0);
    const timers = count('Timeout');

    const target = await startEchoTarget();
    const proxy = await startTcpProxy({
      target: { host: '127.0.0.1', port: target.port },
      rng: mulberry32(5),
    });
    const idle = new http.Agent({ keepAlive: true });
    await post(proxy.port, idle, '/idle', Buffer.from('x')); // leaves an idle keep-alive connection open
    proxy.setFaults({ delayChance: 1, delayMs: [5_000, 5_000] });
    const delayed = new http.Agent({ keepAlive: false });
    const pending = post(proxy.port, delayed, '/delayed', Buffer.from('y')).catch((e: unknown) => e);
    await expect.poll(() => proxy.counters.delayed).toBe(1);
    proxy.setFaults({ blackhole: true });
    const stalled = post(proxy.port, delayed, '/stalled', Buffer.from('z')).catch((e: unknown) => e);
    await expect.poll(() => proxy.counters.blackholed).toBe(1);
    expect(proxy.counters.open).toBe(3);

    await proxy.close();
    expect(proxy.counters.open).toBe(0);
    expect(await pending).toBeInstanceOf(Error);
    expect(await stalled).toBeInstanceOf(Error);
    idle.destroy();
    delayed.destroy();
    await target.close();
    await expect.poll(() => count('TCPSocketWrap') + count('TCPServerWrap')).toBe(0);
    expect(count('Timeout')).toBeLessThanOrEqual(timers);
  });
});
