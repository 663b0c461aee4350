import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type DynamoDBClient, paginateScan } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { tableNames } from '../../../lib/metadata/dynamodb-schema.js';
import type { History } from '../history.js';
import { forkRng } from '../rng.js';
import type { InstanceFaults, InstanceSpec } from './instance.js';
import { type FaultProfile as ProxyFaults, startTcpProxy, type TcpProxy } from './tcp-proxy.js';

const INSTANCE_MAIN = fileURLToPath(new URL('./instance.ts', import.meta.url));

export interface Backends {
  dynamodbEndpoint: string;
  s3Endpoint: string;
  region: string;
  s3: S3Client;
  dynamodb: DynamoDBClient;
}

export interface InstanceOptions {
  mode: 'agent' | 'lambda';
  clockSkewMs?: number;
  faults?: InstanceFaults;
  /** Route the instance's S3 and DynamoDB traffic through TCP proxies (tcp-proxy.ts) with these faults. */
  proxy?: { s3?: ProxyFaults; dynamodb?: ProxyFaults };
  /**
   * A TCP proxy between the clients and the instance with these faults (a dropped answer is a produce that
   * was applied but whose response the client never got).
   */
  front?: ProxyFaults;
  env?: Record<string, string>;
  maintenance?: InstanceSpec['maintenance'];
  log?: InstanceSpec['log'];
}

export interface Instance {
  readonly name: string;
  readonly options: InstanceOptions;
  url: string;
  alive: boolean;
  /** How many processes this instance has had (1 + restarts). */
  incarnation: number;
  child?: ChildProcess;
  /** Set while a process of it is starting. */
  starting?: Promise<Instance> | undefined;
  proxies?: { s3: TcpProxy; dynamodb: TcpProxy };
  front?: TcpProxy;
}

/**
 * The instances of one fault run: child processes (instance.ts) sharing one table prefix and one bucket of
 * their own (GC deletes whatever its bucket's index does not reference, so a run never shares a bucket).
 */
export class Cluster {
  readonly instances = new Map<string, Instance>();
  readonly adminToken = `fault-admin-${randomBytes(12).toString('hex')}`;
  private closed = false;

  private constructor(
    readonly seed: number,
    readonly history: History,
    readonly backends: Backends,
    readonly bucket: string,
    readonly tablePrefix: string,
    /** Defaults every instance of the run gets (test-sized bounds). */
    private readonly defaults: Pick<InstanceOptions, 'env' | 'maintenance' | 'log'>,
    /** An instance that dies (a crash point, `kill -9`) starts again this long after (a new cold process). */
    private readonly restartAfterMs: number,
  ) {}

  static async create(options: {
    seed: number;
    history: History;
    backends: Backends;
    name: string;
    defaults?: Pick<InstanceOptions, 'env' | 'maintenance' | 'log'>;
    restartAfterMs?: number;
  }): Promise<Cluster> {
    const suffix = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
    const bucket = `faults-${options.name.toLowerCase().replace(/[^a-z0-9-]/g, '-')}-${suffix}`.slice(0, 63);
    await options.backends.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    return new Cluster(
      options.seed,
      options.history,
      options.backends,
      bucket,
      `f${suffix}_`,
      options.defaults ?? {},
      options.restartAfterMs ?? 500,
    );
  }

  /**
   * Starts instances at the same moment: each process loads, then all set up the tables at once (as
   * servers started together on a fresh deployment do: table setup must be safe to race).
   */
  async startTogether(entries: Array<[string, InstanceOptions]>): Promise<Instance[]> {
    let go!: () => void;
    const gate = new Promise<void>((resolve) => {
      go = resolve;
    });
    const loaded: Array<Promise<void>> = [];
    const started = entries.map(([name, options]) => {
      let markLoaded!: () => void;
      loaded.push(
        new Promise<void>((resolve) => {
          markLoaded = resolve;
        }),
      );
      return this.spawn(name, options, this.instances.get(name), { loaded: markLoaded, go: gate });
    });
    // A process that fails to start rejects its own promise; the others must not wait for it forever.
    await Promise.race([Promise.all(loaded), Promise.all(started)]);
    go();
    return Promise.all(started);
  }

  /** Starts (or restarts) instance `name`; resolves once it serves. */
  async start(name: string, options?: InstanceOptions): Promise<Instance> {
    const existing = this.instances.get(name);
    const opts = options ?? existing?.options;
    if (!opts) throw new Error(`no options for instance ${name}`);
    if (existing?.alive) return existing;
    if (existing?.starting) return existing.starting;
    const starting = this.spawn(name, opts, existing);
    const instance = this.instances.get(name) as Instance;
    instance.starting = starting;
    try {
      return await starting;
    } finally {
      instance.starting = undefined;
    }
  }

  private async spawn(
    name: string,
    opts: InstanceOptions,
    existing: Instance | undefined,
    gate?: { loaded: () => void; go: Promise<void> },
  ): Promise<Instance> {
    const instance: Instance = existing ?? { name, options: opts, url: '', alive: false, incarnation: 0 };
    this.instances.set(name, instance);
    instance.incarnation += 1;

    let endpoints = { s3: this.backends.s3Endpoint, dynamodb: this.backends.dynamodbEndpoint };
    if (opts.proxy) {
      if (!instance.proxies) {
        const target = (url: string) => {
          const u = new URL(url);
          return { host: u.hostname, port: Number(u.port) };
        };
        const onFault = (what: string) => this.history.fault(name, what);
        instance.proxies = {
          s3: await startTcpProxy({
            target: target(this.backends.s3Endpoint),
            rng: forkRng(this.seed, `${name}/proxy-s3`),
            onFault: (what) => onFault(`proxy s3: ${what}`),
          }),
          dynamodb: await startTcpProxy({
            target: target(this.backends.dynamodbEndpoint),
            rng: forkRng(this.seed, `${name}/proxy-dynamodb`),
            onFault: (what) => onFault(`proxy dynamodb: ${what}`),
          }),
        };
      }
      instance.proxies.s3.setFaults(opts.proxy.s3 ?? {});
      instance.proxies.dynamodb.setFaults(opts.proxy.dynamodb ?? {});
      endpoints = { s3: instance.proxies.s3.url, dynamodb: instance.proxies.dynamodb.url };
    }
    const spec: InstanceSpec = {
      name,
      mode: opts.mode,
      // Each process of an instance draws its own schedule, so a restart does not replay the crash it died of.
      seed: this.seed + instance.incarnation * 7919,
      endpoints,
      region: this.backends.region,
      bucket: this.bucket,
      tablePrefix: this.tablePrefix,
      adminToken: this.adminToken,
      clockSkewMs: opts.clockSkewMs ?? 0,
      faults: opts.faults ?? {},
      env: { ...this.defaults.env, ...opts.env },
      maintenance: { ...this.defaults.maintenance, ...opts.maintenance },
      log: { ...this.defaults.log, ...opts.log },
      waitForGo: gate !== undefined,
    };
    const child = spawn(process.execPath, ['--import', 'tsx', INSTANCE_MAIN], {
      env: { ...process.env, SLUICE_FAULT_INSTANCE: JSON.stringify(spec) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    instance.child = child;
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4_000);
      for (const line of chunk.split('\n')) {
        if (line.startsWith('CRASH ')) this.history.fault(name, `crash point ${line.slice(6).trim()}`);
      }
    });
    child.on('message', (message: { type?: string; what?: string }) => {
      if (message.type === 'fault' && message.what) this.history.fault(name, message.what);
      if (message.type === 'loaded' && gate) {
        gate.loaded();
        void gate.go.then(() => send(child, { type: 'go' }));
      }
    });
    child.on('exit', (code, signal) => {
      if (instance.child !== child) return;
      instance.alive = false;
      if (this.closed || signal === 'SIGTERM') return;
      this.history.fault(name, `exited (${signal ?? code})`);
      setTimeout(() => {
        if (!this.closed && !instance.alive) this.start(name).catch(() => undefined);
      }, this.restartAfterMs).unref();
    });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`instance ${name} did not start in 60 s:\n${stderr}`)),
        60_000,
      );
      let out = '';
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => {
        out += chunk;
        const match = /READY (\d+)/.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`instance ${name} exited (${signal ?? code}) while starting:\n${stderr}`));
      });
    });
    // The faults may have changed while it started (heal() during a restart): it gets the current ones.
    send(child, { type: 'faults', ...instance.options.faults });
    instance.url = `http://127.0.0.1:${port}`;
    if (opts.front) {
      await instance.front?.close();
      instance.front = await startTcpProxy({
        target: { host: '127.0.0.1', port },
        rng: forkRng(this.seed, `${name}/front-${instance.incarnation}`),
        onFault: (what) => this.history.fault(name, `front proxy: ${what}`),
      });
      instance.front.setFaults(opts.front);
      instance.url = instance.front.url;
    }
    instance.alive = true;
    return instance;
  }

  /** `kill -9` of the instance's process. */
  kill(name: string): void {
    const instance = this.instances.get(name);
    if (!instance?.alive || !instance.child) return;
    this.history.fault(name, 'kill -9');
    instance.alive = false;
    instance.child.kill('SIGKILL');
  }

  alive(): Instance[] {
    return [...this.instances.values()].filter((i) => i.alive);
  }

  /** Changes an instance's faults (SDK and crash points; proxies too when given). */
  setFaults(
    name: string,
    faults: InstanceFaults,
    proxy?: InstanceOptions['proxy'] & { front?: ProxyFaults },
  ): void {
    const instance = this.instances.get(name);
    if (!instance) return;
    (instance.options as { faults?: InstanceFaults }).faults = faults;
    if (instance.alive) send(instance.child, { type: 'faults', ...faults });
    if (proxy && instance.front) instance.front.setFaults(proxy.front ?? {});
    if (proxy && instance.proxies) {
      instance.proxies.s3.setFaults(proxy.s3 ?? {});
      instance.proxies.dynamodb.setFaults(proxy.dynamodb ?? {});
      (instance.options as { proxy?: InstanceOptions['proxy'] }).proxy = {
        s3: proxy.s3 ?? {},
        dynamodb: proxy.dynamodb ?? {},
      };
    }
    if (proxy && instance.front) (instance.options as { front?: ProxyFaults }).front = proxy.front ?? {};
  }

  /** Resets every connection open through the instance's proxy to `service` (what it held is lost). */
  cut(name: string, service: 's3' | 'dynamodb'): void {
    this.instances.get(name)?.proxies?.[service].cut();
  }

  /** Every fault stops: SDK faults, crash points, proxies; dead instances start again. */
  async heal(): Promise<void> {
    // Each live instance acknowledges its faults are off before any is restarted: a maintenance pass still
    // running there (its caller gave up) could otherwise reach a crash point after the heal.
    await Promise.all(
      [...this.instances.values()].map((instance) => {
        const applied = this.applied(instance);
        this.setFaults(instance.name, {}, {});
        return applied;
      }),
    );
    await Promise.all([...this.instances.values()].filter((i) => !i.alive).map((i) => this.start(i.name)));
  }

  /** Resolves when the instance acknowledges new faults, exits, or after 5 s. */
  private applied(instance: Instance): Promise<void> {
    const child = instance.child;
    if (!instance.alive || !child?.connected) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', done);
        resolve();
      };
      const onMessage = (message: { type?: string }) => {
        if (message.type === 'faults-applied') done();
      };
      const timer = setTimeout(done, 5_000);
      child.on('message', onMessage);
      child.once('exit', done);
    });
  }

  /** The objects in the run's bucket, and the object keys its index references (read directly). */
  async storage(): Promise<{ objects: string[]; referenced: string[] }> {
    const objects: string[] = [];
    for await (const page of paginateListObjectsV2({ client: this.backends.s3 }, { Bucket: this.bucket })) {
      for (const object of page.Contents ?? []) if (object.Key) objects.push(object.Key);
    }
    const referenced = new Set<string>();
    for await (const page of paginateScan(
      { client: this.backends.dynamodb },
      { TableName: tableNames(this.tablePrefix).index, ProjectionExpression: 'objectKey' },
    )) {
      for (const item of page.Items ?? []) {
        const key = item.objectKey?.S;
        if (key) referenced.add(key);
      }
    }
    return { objects, referenced: [...referenced] };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      [...this.instances.values()].map(async (instance) => {
        const child = instance.child;
        if (child && child.exitCode === null && child.signalCode === null) {
          const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(timer);
        }
        await instance.front?.close();
        await instance.proxies?.s3.close();
        await instance.proxies?.dynamodb.close();
      }),
    );
  }
}

/** IPC to an instance that may have died meanwhile (a crash point, kill -9): then there is no one to tell. */
function send(child: ChildProcess | undefined, message: object): void {
  if (child?.connected) child.send(message, () => undefined);
}
