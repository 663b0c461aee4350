/**
 * A fault-injecting TCP proxy the fault suite puts between one Sluice instance and one emulator (DynamoDB
 * Local, the S3 emulator): both speak plain HTTP/1.1 with keep-alive on 127.0.0.1, so a byte proxy is enough.
 *
 * Hand-written on node:net rather than taken from a library: generic TCP proxies and chaos proxies offer
 * latency, bandwidth limits and cut connections, but not the fault this suite needs most — forward the request
 * so the server APPLIES it, then swallow the answer and close the client's connection (the ambiguous
 * "it may or may not have happened" failure) — nor fault decisions drawn from the run's seeded PRNG, which is
 * what makes a failing seed replayable.
 *
 * Faults (all off by default = pass-through; `setFaults` applies to data arriving from then on):
 * - delay: a client→server chunk is held `delayMs` before it is forwarded; later chunks of the same connection
 *   wait behind it, so order is kept.
 * - reset: before a client→server chunk is forwarded, both sockets are destroyed with a TCP RST.
 * - drop: when the server starts an answer, the answer is swallowed and both connections are closed: the
 *   request was applied, the client only sees its connection end (ECONNRESET / "socket hang up").
 * - blackhole: nothing is forwarded either way: new connections are accepted but not connected to the target,
 *   existing ones stall (data is held, reading paused). Lifting it is a healed partition: held data flows on.
 *
 * Determinism: every decision comes from the `rng` passed in. At accept, two numbers drawn from it seed two
 * streams of the connection (client→server, server→client); then every client→server chunk draws exactly three
 * numbers (delay?, how long, reset?) and every server answer (the first server chunk after the client sent
 * something) draws one (drop?), whatever the profile says. So concurrent connections do not disturb each
 * other's schedule, and the same seed over the same traffic gives the same faults (TCP may still split or
 * merge chunks differently; HTTP requests written in one write arrive as one chunk in practice).
 */
import net from 'node:net';

/** The PRNG the suite passes in: `next()` is uniform in [0, 1). */
export interface ProxyRng {
  next(): number;
}

/** What the proxy does to traffic. Every field is optional; `{}` is pass-through. */
export interface FaultProfile {
  /** Chance per client→server chunk of holding it back for a delay drawn from `delayMs`. */
  delayChance?: number;
  /** Inclusive range of a delay, in milliseconds. Default [0, 0]. */
  delayMs?: readonly [number, number];
  /** Chance per server answer of forwarding the request but swallowing the answer and closing the client. */
  dropChance?: number;
  /** Chance per client→server chunk of resetting (RST) both sockets instead of forwarding it. */
  resetChance?: number;
  /** Forward nothing, answer nothing: the target is unreachable. */
  blackhole?: boolean;
}

/** What the proxy has done so far. */
export interface TcpProxyCounters {
  /** Client connections accepted. */
  accepted: number;
  /** Client connections still open. */
  open: number;
  /** Client→server chunks and bytes forwarded. */
  chunksUp: number;
  bytesUp: number;
  /** Server→client chunks and bytes forwarded. */
  chunksDown: number;
  bytesDown: number;
  /** Faults that fired. */
  delayed: number;
  dropped: number;
  reset: number;
  /** Connections accepted while blackholed. */
  blackholed: number;
}

export interface TcpProxy {
  /** `http://127.0.0.1:<port>`: the endpoint to give the client instead of the target's. */
  readonly url: string;
  readonly port: number;
  /**
   * Replaces the fault profile (not merged); takes effect at once for data arriving from now on (a chunk already
   * being delayed keeps its delay; lifting a blackhole releases what it held).
   */
  setFaults(profile: FaultProfile): void;
  /**
   * Resets (RST) every connection open now, with whatever it holds: lifting a blackhole after `cut()` is a
   * partition whose packets were lost, not delayed (a client that timed out never reaches the server).
   */
  cut(): void;
  /** A snapshot of the counters. */
  readonly counters: TcpProxyCounters;
  /** Stops listening and destroys every socket; resolves when all are closed. */
  close(): Promise<void>;
}

export interface TcpProxyOptions {
  target: { host: string; port: number };
  rng: ProxyRng;
  /** Told each fault that fires, e.g. `conn 3 up 2 delay 7ms`, `conn 3 down 1 drop`, `conn 4 blackhole`. */
  onFault?: (what: string) => void;
}

/** mulberry32: the per-connection streams, seeded from the suite's rng. */
function stream(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type UpItem = { kind: 'data'; chunk: Buffer; index: number; delay: number; reset: boolean } | { kind: 'end' };
type DownItem = { kind: 'data'; chunk: Buffer; index: number; drop: boolean } | { kind: 'end' };

/** Destroys a socket with an RST when it can, plainly otherwise; never throws. */
function hardClose(socket: net.Socket | undefined): void {
  if (!socket || socket.destroyed) return;
  try {
    if (socket.connecting) socket.destroy();
    else socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/** Starts a proxy on 127.0.0.1 (a free port) forwarding to `target`. */
export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const { target, rng, onFault } = options;
  let faults: FaultProfile = {};
  const counters: TcpProxyCounters = {
    accepted: 0,
    open: 0,
    chunksUp: 0,
    bytesUp: 0,
    chunksDown: 0,
    bytesDown: 0,
    delayed: 0,
    dropped: 0,
    reset: 0,
    blackholed: 0,
  };
  const connections = new Set<Connection>();
  let nextId = 0;

  const fault = (what: string): void => onFault?.(what);

  class Connection {
    readonly id = nextId++;
    readonly upRng: () => number;
    readonly downRng: () => number;
    upstream: net.Socket | undefined;
    readonly upQueue: UpItem[] = [];
    readonly downQueue: DownItem[] = [];
    upIndex = 0;
    downIndex = 0;
    /** A delay timer is running for the head of upQueue. */
    timer: NodeJS.Timeout | undefined;
    /** The client sent something the server has not started answering yet. */
    awaitingAnswer = false;
    /** A side's write buffer is full: wait for its 'drain'. */
    upBlocked = false;
    downBlocked = false;
    /** The server side closed cleanly: its end is queued for the client; client data now has nowhere to go. */
    upstreamClosed = false;
    closed = false;
    readonly done: Promise<void>;

    constructor(readonly client: net.Socket) {
      this.upRng = stream(Math.floor(rng.next() * 2 ** 32));
      this.downRng = stream(Math.floor(rng.next() * 2 ** 32));
      let clientClosed!: () => void;
      this.done = new Promise((resolve) => {
        clientClosed = resolve;
      });
      client.on('error', () => this.teardown(true));
      client.on('close', () => {
        this.teardown(false);
        clientClosed();
      });
      client.on('data', (chunk: Buffer) => this.fromClient(chunk));
      client.on('end', () => {
        this.upQueue.push({ kind: 'end' });
        this.pumpUp();
      });
      if (faults.blackhole) {
        counters.blackholed++;
        fault(`conn ${this.id} blackhole`);
      } else {
        this.connectUpstream();
      }
    }

    connectUpstream(): void {
      if (this.upstream || this.closed) return;
      const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
      this.upstream = upstream;
      let ended = false;
      upstream.on('error', () => this.teardown(true));
      upstream.on('data', (chunk: Buffer) => this.fromServer(chunk));
      upstream.on('end', () => {
        ended = true;
        this.downQueue.push({ kind: 'end' });
        this.pumpDown();
      });
      upstream.on('close', (hadError) => {
        if (hadError) return this.teardown(true);
        // A clean close: what the server sent still reaches the client (destroying the client now could
        // discard it), then the client's side is ended.
        this.upstreamClosed = true;
        if (!ended) this.downQueue.push({ kind: 'end' });
        this.pumpDown();
        this.pumpUp();
      });
      upstream.on('drain', () => {
        this.upBlocked = false;
        this.pumpUp();
      });
    }

    fromClient(chunk: Buffer): void {
      const index = this.upIndex++;
      // Always three draws per chunk, so the stream stays aligned whatever the profile is.
      const delayDraw = this.upRng();
      const lengthDraw = this.upRng();
      const resetDraw = this.upRng();
      const [min, max] = faults.delayMs ?? [0, 0];
      const delay =
        delayDraw < (faults.delayChance ?? 0) ? min + Math.floor(lengthDraw * (max - min + 1)) : 0;
      const reset = resetDraw < (faults.resetChance ?? 0);
      this.upQueue.push({ kind: 'data', chunk, index, delay, reset });
      this.pumpUp();
    }

    fromServer(chunk: Buffer): void {
      const index = this.downIndex++;
      let drop = false;
      if (this.awaitingAnswer) {
        this.awaitingAnswer = false;
        drop = this.downRng() < (faults.dropChance ?? 0);
      }
      this.downQueue.push({ kind: 'data', chunk, index, drop });
      this.pumpDown();
    }

    /** Forwards client→server items in order until one must wait (delay, blackhole, backpressure). */
    pumpUp(): void {
      while (!this.closed && this.timer === undefined && !this.upBlocked) {
        const head = this.upQueue[0];
        if (!head) break;
        if (faults.blackhole) break;
        this.connectUpstream();
        const upstream = this.upstream;
        if (!upstream) break;
        if (this.upstreamClosed) {
          // The server is gone: data it will never read gets the answer TCP gives, a reset.
          if (head.kind === 'data') this.teardown(true);
          else this.upQueue.shift();
          continue;
        }
        if (head.kind === 'end') {
          this.upQueue.shift();
          upstream.end();
          continue;
        }
        if (head.delay > 0) {
          const ms = head.delay;
          head.delay = 0;
          counters.delayed++;
          fault(`conn ${this.id} up ${head.index} delay ${ms}ms`);
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.pumpUp();
          }, ms);
          break;
        }
        this.upQueue.shift();
        if (head.reset) {
          counters.reset++;
          fault(`conn ${this.id} up ${head.index} reset`);
          this.teardown(true);
          return;
        }
        counters.chunksUp++;
        counters.bytesUp += head.chunk.length;
        this.awaitingAnswer = true;
        if (!upstream.write(head.chunk)) this.upBlocked = true; // 'drain' pumps again
      }
      this.flowControl();
    }

    /** Forwards server→client items in order until one must wait (blackhole, backpressure). */
    pumpDown(): void {
      while (!this.closed && !this.downBlocked) {
        const head = this.downQueue[0];
        if (!head) break;
        if (faults.blackhole) break;
        this.downQueue.shift();
        if (head.kind === 'end') {
          this.client.end();
          continue;
        }
        if (head.drop) {
          counters.dropped++;
          fault(`conn ${this.id} down ${head.index} drop`);
          // The request reached the server; its answer never reaches the client.
          this.client.destroy();
          this.teardown(false);
          return;
        }
        counters.chunksDown++;
        counters.bytesDown += head.chunk.length;
        if (!this.client.write(head.chunk)) {
          this.downBlocked = true;
          this.client.once('drain', () => {
            this.downBlocked = false;
            this.pumpDown();
          });
        }
      }
      this.flowControl();
    }

    /** Reads from a side only while what it sent has been passed on. */
    flowControl(): void {
      if (this.closed) return;
      if (this.upQueue.length > 0 || this.upBlocked) this.client.pause();
      else this.client.resume();
      if (this.upstream && !this.upstream.destroyed) {
        if (this.downQueue.length > 0 || this.downBlocked) this.upstream.pause();
        else this.upstream.resume();
      }
    }

    /** Ends both sides: with an RST when something failed, plainly otherwise. */
    teardown(abort: boolean): void {
      if (this.closed) {
        if (abort) {
          hardClose(this.client);
          hardClose(this.upstream);
        }
        return;
      }
      this.closed = true;
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.upQueue.length = 0;
      this.downQueue.length = 0;
      if (abort) {
        hardClose(this.client);
        hardClose(this.upstream);
      } else {
        this.client.destroy();
        this.upstream?.destroy();
      }
    }
  }

  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    counters.accepted++;
    counters.open++;
    const connection = new Connection(client);
    connections.add(connection);
    void connection.done.then(() => {
      counters.open--;
      connections.delete(connection);
    });
  });
  server.on('error', () => {
    // Listening errors surface through listen() below; later ones (none expected) must not crash the run.
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('tcp proxy: no TCP address');
  const port = address.port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    setFaults(profile: FaultProfile): void {
      faults = { ...profile };
      for (const connection of connections) {
        connection.pumpUp();
        connection.pumpDown();
      }
    },
    get counters(): TcpProxyCounters {
      return { ...counters };
    },
    cut(): void {
      for (const connection of [...connections]) {
        fault(`conn ${connection.id} cut`);
        connection.teardown(true);
      }
    },
    async close(): Promise<void> {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const all = [...connections];
      const upstreamsClosed = all.map((connection) => {
        const upstream = connection.upstream;
        return upstream && !upstream.closed
          ? new Promise<void>((resolve) => upstream.once('close', () => resolve()))
          : Promise.resolve();
      });
      for (const connection of all) connection.teardown(false);
      await Promise.all([closed, ...all.map((connection) => connection.done), ...upstreamsClosed]);
    },
  };
}
