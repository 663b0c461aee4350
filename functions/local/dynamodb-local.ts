/**
 * AWS's own DynamoDB Local (1.25.1) for tests and local development.
 *
 * The jar is taken from the `emulator/` folder of the npm package
 * `amplify-dynamodb-simulator@2.9.30` (fetched with `npm pack`, so only the npm registry is needed) and cached
 * under `.sluice/vendor/dynamodb-local`. Needs Java 17+.
 *
 * DynamoDB Local has no bind-address option: it listens on every interface. So that nobody on the network
 * can use it, it runs without `-sharedDb` (it then keeps one database per access key id and region, and a
 * client with any other key id sees an empty database of its own) and is given a random 128-bit access key
 * id, which only this installation knows (ARCHITECTURE.md §7). Its CORS allow-list names an origin no web
 * page can have (`.invalid` never resolves), so no page in a local browser can call it either.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';

export const DYNAMODB_LOCAL_VERSION = '1.25.1';
const SOURCE_PACKAGE = 'amplify-dynamodb-simulator@2.9.30';
const MIN_JAVA_MAJOR = 17;
/** Written into the cache dir as the last step before it is renamed into place. */
const MARKER_FILE = '.sluice-installed';
const MARKER_CONTENT = `${SOURCE_PACKAGE} dynamodb-local ${DYNAMODB_LOCAL_VERSION}\n`;

const READY_POLL_MS = 100;
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 3_000;
const OUTPUT_LINES_KEPT = 40;
/** The only origin DynamoDB Local allows cross-origin calls from: the `.invalid` TLD never resolves. */
export const DYNAMODB_LOCAL_CORS_ORIGIN = 'https://dynamodb-local.invalid';
/** The region of the embedded database's file (`<accessKeyId>_<region>.db`): fixed, so AWS_REGION cannot hide it. */
export const DYNAMODB_LOCAL_REGION = 'us-east-1';
/** What DynamoDB Local calls its database file under `-sharedDb` (how Sluice ran it before). */
const SHARED_DB_FILE = 'shared-local-instance.db';

type Log = (msg: string) => void;

/** `<project root>/.sluice/vendor/dynamodb-local`; the project root is two levels above this file. */
export function defaultDynamoDbLocalDir(): string {
  const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  return join(projectRoot, '.sluice', 'vendor', 'dynamodb-local');
}

const JAVA_INSTALL_HINT =
  `Java ${MIN_JAVA_MAJOR}+ is required to run DynamoDB Local. Install it with ` +
  '`apt-get install -y openjdk-17-jre-headless` (Debian/Ubuntu, as root) or `brew install openjdk@17` (macOS), ' +
  'and make sure `java` is on PATH.';

interface ExecResult {
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: readonly string[], opts: { cwd?: string; timeoutMs?: number } = {}) {
  return new Promise<ExecResult>((resolvePromise, reject) => {
    execFile(
      cmd,
      args,
      {
        cwd: opts.cwd,
        timeout: opts.timeoutMs ?? 0,
        maxBuffer: 16 * 1024 * 1024,
        encoding: 'utf8',
        windowsHide: true,
      },
      (error, stdout, stderr) => {
        if (error) {
          const detail = [stderr.trim(), stdout.trim()].filter((s) => s !== '').join('\n');
          reject(
            new Error(`${cmd} ${args.join(' ')} failed: ${error.message}${detail ? `\n${detail}` : ''}`),
          );
          return;
        }
        resolvePromise({ stdout, stderr });
      },
    );
  });
}

/** Parses the output of `java -version` (`openjdk version "17.0.15"`, `java version "1.8.0_292"`). */
export function parseJavaMajorVersion(output: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(output);
  if (!match) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] !== undefined ? Number(match[2]) : first;
}

/** Throws an Error with install instructions unless `java` runs and is version 17 or newer. */
export async function assertJava17(): Promise<number> {
  let output: string;
  try {
    const { stdout, stderr } = await run('java', ['-version'], { timeoutMs: 30_000 });
    output = `${stderr}\n${stdout}`;
  } catch (err) {
    throw new Error(`${JAVA_INSTALL_HINT} (\`java -version\` could not run: ${(err as Error).message})`);
  }
  const major = parseJavaMajorVersion(output);
  if (major === undefined) {
    throw new Error(
      `${JAVA_INSTALL_HINT} (could not read a version from \`java -version\`: ${output.trim()})`,
    );
  }
  if (major < MIN_JAVA_MAJOR) {
    throw new Error(`${JAVA_INSTALL_HINT} (found Java ${major})`);
  }
  return major;
}

async function isInstalled(dir: string): Promise<boolean> {
  try {
    const [marker, jar, lib] = await Promise.all([
      readFile(join(dir, MARKER_FILE), 'utf8'),
      stat(join(dir, 'DynamoDBLocal.jar')),
      stat(join(dir, 'DynamoDBLocal_lib')),
    ]);
    return marker === MARKER_CONTENT && jar.isFile() && lib.isDirectory();
  } catch {
    return false;
  }
}

function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/**
 * Makes sure DynamoDB Local is unpacked in `cacheDir` and returns that directory (it holds `DynamoDBLocal.jar`
 * and `DynamoDBLocal_lib/`). Also checks that Java 17+ is available.
 *
 * The install is staged in a sibling temp dir and renamed into place, so a crash never leaves a half-installed
 * directory behind, and concurrent callers cannot corrupt each other (the loser's rename fails and it uses the
 * winner's copy).
 */
export async function ensureDynamoDbLocal(options: { cacheDir?: string; log?: Log } = {}): Promise<string> {
  const log = options.log ?? (() => {});
  const target = resolve(options.cacheDir ?? defaultDynamoDbLocalDir());
  await assertJava17();
  if (await isInstalled(target)) return target;

  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  // Same parent directory as the target, so the final rename stays on one filesystem.
  const staging = await mkdtemp(join(parent, '.dynamodb-local-staging-'));
  try {
    const started = Date.now();
    log(`Fetching DynamoDB Local ${DYNAMODB_LOCAL_VERSION} (npm pack ${SOURCE_PACKAGE}) ...`);
    await run('npm', ['pack', SOURCE_PACKAGE, '--pack-destination', staging, '--loglevel=error'], {
      cwd: staging,
      timeoutMs: 10 * 60_000,
    });
    const tarball = (await readdir(staging)).find((name) => name.endsWith('.tgz'));
    if (tarball === undefined) throw new Error(`npm pack ${SOURCE_PACKAGE} produced no .tgz in ${staging}`);
    await run('tar', ['-xzf', join(staging, tarball), '-C', staging, 'package/emulator'], {
      timeoutMs: 5 * 60_000,
    });
    await rm(join(staging, tarball), { force: true });

    const unpacked = join(staging, 'package', 'emulator');
    if (
      !existsSync(join(unpacked, 'DynamoDBLocal.jar')) ||
      !existsSync(join(unpacked, 'DynamoDBLocal_lib'))
    ) {
      throw new Error(`${SOURCE_PACKAGE} has no emulator/DynamoDBLocal.jar + DynamoDBLocal_lib/`);
    }
    await writeFile(join(unpacked, MARKER_FILE), MARKER_CONTENT);

    if (existsSync(target) && !(await isInstalled(target))) {
      // Left over from another version or a manual copy: move it aside (atomic), then delete it.
      log(`Replacing incomplete or outdated ${target}`);
      await rename(target, join(staging, 'old')).catch((err: unknown) => {
        if (errorCode(err) !== 'ENOENT') throw err;
      });
    }
    try {
      await rename(unpacked, target);
    } catch (err) {
      // Another process won the race: fine if what it installed is complete.
      if (!(await isInstalled(target))) throw err;
    }
    log(`DynamoDB Local ${DYNAMODB_LOCAL_VERSION} ready in ${target} (${Date.now() - started} ms)`);
    return target;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Binds 127.0.0.1:0, reads the port the OS picked, and closes the socket again. */
export function findFreePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => {
        if (port === undefined) reject(new Error('could not read the port of a bound socket'));
        else resolvePromise(port);
      });
    });
  });
}

/** True when nothing listens on `port` (checked by binding it on all interfaces, as DynamoDB Local does). */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolvePromise(false));
    server.listen(port, () => server.close(() => resolvePromise(true)));
  });
}

// ---------------------------------------------------------------------------------------------------------
// Children are killed when this process goes away.

const liveChildren = new Set<ChildProcess>();
let exitHooksInstalled = false;

function killAllChildren(signal: NodeJS.Signals): void {
  for (const child of liveChildren) {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

function onParentSignal(signal: NodeJS.Signals): void {
  killAllChildren('SIGKILL');
  liveChildren.clear();
  // If nobody else handles this signal, keep Node's default behaviour (terminate) by re-raising it.
  if (process.listenerCount(signal) === 1) {
    uninstallExitHooks();
    process.kill(process.pid, signal);
  }
}

const signalHandlers = {
  SIGINT: () => onParentSignal('SIGINT'),
  SIGTERM: () => onParentSignal('SIGTERM'),
  SIGHUP: () => onParentSignal('SIGHUP'),
} as const;
const onParentExit = (): void => killAllChildren('SIGKILL');

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', onParentExit);
  for (const [signal, handler] of Object.entries(signalHandlers)) process.on(signal, handler);
}

function uninstallExitHooks(): void {
  if (!exitHooksInstalled) return;
  exitHooksInstalled = false;
  process.off('exit', onParentExit);
  for (const [signal, handler] of Object.entries(signalHandlers)) process.off(signal, handler);
}

function track(child: ChildProcess): void {
  liveChildren.add(child);
  installExitHooks();
  child.once('exit', () => {
    liveChildren.delete(child);
    if (liveChildren.size === 0) uninstallExitHooks();
  });
}

// ---------------------------------------------------------------------------------------------------------

/** The credentials that reach one installation's database; the access key id is the secret. */
export interface DynamoDbLocalCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** A fresh random access key id (128 bits): `SLUICE` and 32 hex digits. */
export function newDynamoDbLocalAccessKeyId(): string {
  return `SLUICE${randomBytes(16).toString('hex').toUpperCase()}`;
}

/**
 * The database file DynamoDB Local keeps in `dbPath` for one access key id (without `-sharedDb`):
 * `<accessKeyId>_<region>.db`.
 */
export function dynamoDbLocalFile(accessKeyId: string, region = DYNAMODB_LOCAL_REGION): string {
  return `${accessKeyId}_${region}.db`;
}

export interface DynamoDbLocalOptions {
  /**
   * The access key id whose database Sluice uses (the per-installation secret); default: a fresh random one.
   * Clients must use `credentials` of the result and region DYNAMODB_LOCAL_REGION.
   */
  accessKeyId?: string;
  /** 0 or undefined: pick a free port. */
  port?: number;
  /**
   * Persist tables in this directory (created if missing, owner-only); default: in memory. A database left
   * there by a `-sharedDb` run is moved to the access key id's file first.
   */
  dbPath?: string;
  /** Where DynamoDB Local is cached; default `.sluice/vendor/dynamodb-local`. */
  cacheDir?: string;
  log?: Log;
}

export interface DynamoDbLocal {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  /** The only credentials that see Sluice's tables. */
  credentials: DynamoDbLocalCredentials;
  process: ChildProcess;
  /** SIGTERM, SIGKILL after 3 s; resolves once the JVM has exited. */
  stop(): Promise<void>;
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolvePromise) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolvePromise(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolvePromise(true);
    };
    child.once('exit', onExit);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (await waitForExit(child, STOP_GRACE_MS)) return;
  child.kill('SIGKILL');
  await waitForExit(child, 10_000);
}

async function startOnce(
  dir: string,
  port: number,
  dbPath: string | undefined,
  credentials: DynamoDbLocalCredentials,
  log: Log,
): Promise<DynamoDbLocal> {
  const args = [
    '-XX:-UsePerfData',
    `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
    '-jar',
    'DynamoDBLocal.jar',
    // No -sharedDb: one database per access key id, so only the holder of `credentials` sees Sluice's.
    '-cors',
    DYNAMODB_LOCAL_CORS_ORIGIN,
    '-disableTelemetry',
    '-port',
    String(port),
    ...(dbPath === undefined ? ['-inMemory'] : ['-dbPath', dbPath]),
  ];
  // The JVM inherits the umask: the database files it creates are owner-only (600).
  const umask = process.umask(0o077);
  let child: ChildProcess;
  try {
    child = spawn('java', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
  } finally {
    process.umask(umask);
  }
  track(child);

  const lines: string[] = [];
  const collect = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split(/\r?\n/)) {
      if (line.trim() === '') continue;
      lines.push(line);
      if (lines.length > OUTPUT_LINES_KEPT) lines.shift();
    }
  };
  // Always drain both pipes, or the JVM blocks once a pipe buffer fills up.
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  let exited: string | undefined;
  let spawnError: Error | undefined;
  child.once('exit', (code, signal) => {
    exited = signal === null ? `exit code ${code}` : `signal ${signal}`;
  });
  child.once('error', (err) => {
    spawnError = err;
  });

  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: DYNAMODB_LOCAL_REGION,
    credentials,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 5_000, throwOnRequestTimeout: true },
  });
  const started = Date.now();
  const fail = async (reason: string): Promise<never> => {
    await stopChild(child);
    const output = lines.join('\n');
    throw new Error(
      `DynamoDB Local (port ${port}) ${reason}.${output ? `\nLast output:\n${output}` : ' It printed nothing.'}`,
    );
  };
  try {
    for (;;) {
      if (spawnError) return await fail(`could not be started: ${spawnError.message}`);
      if (exited !== undefined) return await fail(`exited during startup (${exited})`);
      if (Date.now() - started > READY_TIMEOUT_MS) {
        return await fail(`did not answer within ${READY_TIMEOUT_MS / 1000} s`);
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        break;
      } catch {
        await new Promise((r) => setTimeout(r, READY_POLL_MS));
      }
    }
  } finally {
    client.destroy();
  }
  log(`DynamoDB Local listening on ${endpoint} (${Date.now() - started} ms)`);
  return { endpoint, port, credentials, process: child, stop: () => stopChild(child) };
}

/**
 * Starts DynamoDB Local (installing it first if needed) and resolves once it answers ListTables.
 * The JVM is killed when this process exits or gets SIGINT/SIGTERM/SIGHUP.
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const log = options.log ?? (() => {});
  const dir = await ensureDynamoDbLocal(
    options.cacheDir === undefined ? { log } : { cacheDir: options.cacheDir, log },
  );
  const credentials = {
    accessKeyId: options.accessKeyId ?? newDynamoDbLocalAccessKeyId(),
    secretAccessKey: 'unused-by-dynamodb-local',
  };
  let dbPath: string | undefined;
  if (options.dbPath !== undefined) {
    dbPath = resolve(options.dbPath);
    await mkdir(dbPath, { recursive: true, mode: 0o700 });
    await adoptSharedDb(dbPath, credentials.accessKeyId, log);
  }
  let port = options.port ?? 0;
  if (port === 0) {
    port = await findFreePort();
  } else if (!(await isPortFree(port))) {
    // DynamoDB Local does not exit when it cannot bind: it hangs silently, and the readiness probe would reach
    // whatever already listens there.
    throw new Error(`Cannot start DynamoDB Local: port ${port} is already in use`);
  }
  return await startOnce(dir, port, dbPath, credentials, log);
}

/**
 * Moves the database of a `-sharedDb` run (how Sluice ran DynamoDB Local before) to the file of
 * `accessKeyId`, so existing data stays visible, and only to that key. Never overwrites a database.
 */
async function adoptSharedDb(dbPath: string, accessKeyId: string, log: Log): Promise<void> {
  const shared = join(dbPath, SHARED_DB_FILE);
  const own = join(dbPath, dynamoDbLocalFile(accessKeyId));
  if (!existsSync(shared) || existsSync(own)) return;
  await rename(shared, own);
  await chmod(own, 0o600);
  log(`moved ${SHARED_DB_FILE} to this installation's database file`);
}
