import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { dynamoDbLocalFile, findFreePort } from '../../functions/local/dynamodb-local.js';
import { startServerProcess } from '../support/server-process.js';

/**
 * SPEC §4: no local service the embedded default starts can be used from the network. DynamoDB Local cannot
 * be bound to the loopback, so it must refuse to show or change Sluice's data to anyone without the
 * per-installation secret, and no web page may call it; the files under `.sluice/` are owner-only.
 * (Before: `-sharedDb`, so any access key id, from any address, saw and could change every table; CORS `*`;
 * a 644 database and 755 segment folders.)
 */
const started: ChildProcess[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const child of started) killGroup(child, 'SIGKILL');
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function embeddedEnv(dataDir: string, port: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), SLUICE_DATA_DIR: dataDir };
  for (const name of [
    'SLUICE_ADMIN_TOKEN',
    'SLUICE_BUCKET',
    'AWS_ENDPOINT_URL',
    'AWS_ENDPOINT_URL_S3',
    'AWS_ENDPOINT_URL_DYNAMODB',
  ]) {
    delete env[name];
  }
  return env;
}

interface Server {
  child: ChildProcess;
  port: number;
  token: string;
  /** DynamoDB Local's port, from the start banner. */
  dynamoPort: number;
}

async function startServer(dataDir: string, port: number): Promise<Server> {
  const { child, output: read } = await startServerProcess(embeddedEnv(dataDir, port), (c) =>
    started.push(c),
  );
  const output = read();
  const token = /export SLUICE_ADMIN_TOKEN=(\S+)/.exec(output)?.[1];
  const dynamoPort = /DynamoDB Local listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1];
  if (token === undefined || dynamoPort === undefined) throw new Error(`unexpected banner:\n${output}`);
  return { child, port, token, dynamoPort: Number(dynamoPort) };
}

async function stopServer(server: Server): Promise<void> {
  killGroup(server.child, 'SIGINT');
  if (server.child.exitCode === null) await new Promise((r) => server.child.once('exit', r));
}

async function api(server: Server, method: string, path: string, body?: unknown) {
  const r = await fetch(`http://127.0.0.1:${server.port}${path}`, {
    method,
    headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, json: (await r.json().catch(() => undefined)) as any };
}

/** One of this machine's own non-loopback IPv4 addresses (what another host on the network would reach). */
function externalAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

function stranger(endpoint: string, accessKeyId: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId, secretAccessKey: 'anything' },
    maxAttempts: 1,
  });
}

/** A browser's CORS preflight from `origin`; the Access-Control-Allow-Origin it gets back, if any. */
function preflight(port: number, origin: string): Promise<string | undefined> {
  return new Promise((resolvePromise, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'OPTIONS',
        path: '/',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type,x-amz-target',
        },
      },
      (res) => {
        res.resume();
        const allowed = res.headers['access-control-allow-origin'];
        resolvePromise(Array.isArray(allowed) ? allowed.join(',') : allowed);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function modesUnder(dir: string): Promise<Map<string, number>> {
  const modes = new Map<string, number>();
  const walk = async (path: string): Promise<void> => {
    const info = await stat(path);
    modes.set(path, info.mode & 0o777);
    if (info.isDirectory()) for (const name of await readdir(path)) await walk(join(path, name));
  };
  await walk(dir);
  return modes;
}

describe('embedded DynamoDB Local on the network', () => {
  it("shows and changes none of Sluice's data for a client without the installation's secret, from any address", {
    timeout: 120_000,
  }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-netaccess-'));
    dirs.push(dataDir);
    const server = await startServer(dataDir, await findFreePort());
    try {
      expect((await api(server, 'POST', '/v1/topics', { name: 'private' })).status).toBe(201);
      const addresses = ['127.0.0.1', ...[externalAddress()].filter((a) => a !== undefined)];
      for (const address of addresses) {
        for (const keyId of ['local', 'AKIAIOSFODNN7EXAMPLE', randomBytes(8).toString('hex')]) {
          const client = stranger(`http://${address}:${server.dynamoPort}`, keyId);
          try {
            // Whatever it sees or creates is a database of its own, not Sluice's.
            const seen = (await client.send(new ListTablesCommand({}))).TableNames ?? [];
            expect(seen.filter((name) => !name.endsWith('-table'))).toEqual([]);
            await client.send(
              new CreateTableCommand({
                TableName: `${keyId}-${randomBytes(3).toString('hex')}-table`,
                BillingMode: 'PAY_PER_REQUEST',
                AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
                KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
              }),
            );
          } finally {
            client.destroy();
          }
        }
      }
      // Sluice itself is unaffected.
      const topics = await api(server, 'GET', '/v1/topics');
      expect(topics.json.topics.map((t: { name: string }) => t.name)).toEqual(['private']);
    } finally {
      await stopServer(server);
    }
  });

  it('lets no web page in a local browser call it (CORS allows no real origin)', {
    timeout: 120_000,
  }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-cors-'));
    dirs.push(dataDir);
    const server = await startServer(dataDir, await findFreePort());
    try {
      for (const origin of ['https://evil.example', 'http://localhost:3000', 'null']) {
        expect(await preflight(server.dynamoPort, origin)).toBeUndefined();
      }
    } finally {
      await stopServer(server);
    }
  });
});

describe('files of the embedded default', () => {
  it('are readable by their owner only, including those an older version left open', {
    timeout: 120_000,
  }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-modes-'));
    dirs.push(dataDir);
    // What an older version left: a world-readable folder and file.
    await mkdir(join(dataDir, 'segments', 'old'), { recursive: true });
    await chmod(dataDir, 0o755);
    await chmod(join(dataDir, 'segments'), 0o755);
    await chmod(join(dataDir, 'segments', 'old'), 0o755);
    await writeFile(join(dataDir, 'segments', 'old', 'file'), 'x', { mode: 0o644 });

    const server = await startServer(dataDir, await findFreePort());
    try {
      expect((await api(server, 'POST', '/v1/topics', { name: 'modes', partitions: 2 })).status).toBe(201);
      const produced = await api(server, 'POST', '/v1/topics/modes/records', {
        records: [{ value: 1, partition: 0 }],
      });
      expect(produced.status).toBe(200);
    } finally {
      await stopServer(server);
    }
    const modes = await modesUnder(dataDir);
    expect([...modes.keys()].some((p) => p.endsWith('.db'))).toBe(true);
    const open = [...modes].filter(([, mode]) => (mode & 0o077) !== 0);
    expect(open.map(([path, mode]) => `${path} ${mode.toString(8)}`)).toEqual([]);
  });

  it('keeps the data of a database DynamoDB Local kept as one shared file (how Sluice ran it before)', {
    timeout: 180_000,
  }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-shareddb-'));
    dirs.push(dataDir);
    const port = await findFreePort();
    let server = await startServer(dataDir, port);
    expect((await api(server, 'POST', '/v1/topics', { name: 'kept' })).status).toBe(201);
    await stopServer(server);

    // Put the data back into the layout of a `-sharedDb` run, with no per-installation secret yet.
    const keyFile = join(dataDir, 'dynamodb-local-key');
    const keyId = (await readFile(keyFile, 'utf8')).trim();
    await rename(
      join(dataDir, 'dynamodb', dynamoDbLocalFile(keyId)),
      join(dataDir, 'dynamodb', 'shared-local-instance.db'),
    );
    await chmod(join(dataDir, 'dynamodb', 'shared-local-instance.db'), 0o644);
    await rm(keyFile);

    server = await startServer(dataDir, port);
    try {
      const topics = await api(server, 'GET', '/v1/topics');
      expect(topics.json.topics.map((t: { name: string }) => t.name)).toEqual(['kept']);
      const newKeyId = (await readFile(keyFile, 'utf8')).trim();
      expect(newKeyId).not.toBe(keyId);
      const files = await readdir(join(dataDir, 'dynamodb'));
      expect(files).toContain(dynamoDbLocalFile(newKeyId));
      expect(files).not.toContain('shared-local-instance.db');
      // And a stranger still sees nothing of it.
      const client = stranger(`http://127.0.0.1:${server.dynamoPort}`, 'local');
      try {
        expect((await client.send(new ListTablesCommand({}))).TableNames).toEqual([]);
      } finally {
        client.destroy();
      }
    } finally {
      await stopServer(server);
    }
  });
});
