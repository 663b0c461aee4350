import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../functions/local/dynamodb-local.js';
import { startServerProcess } from '../support/server-process.js';

/**
 * The embedded default (`npm start`) keeps its data under SLUICE_DATA_DIR: an acknowledged record survives
 * a clean restart and a crash of everything it started (kill -9 of the whole process group).
 */
const root = resolve(import.meta.dirname, '../..');
/** Learned from the first start's output: the server generates it and keeps it under SLUICE_DATA_DIR. */
let token = 'embedded-restart-test-token';
const started: ChildProcess[] = [];
let dataDir: string;

afterAll(async () => {
  for (const child of started) killGroup(child, 'SIGKILL');
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** The environment of an embedded-default server: no admin token (it generates one), no AWS endpoints. */
function embeddedEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const rest = { ...env };
  for (const name of [
    'SLUICE_ADMIN_TOKEN',
    'SLUICE_BUCKET',
    'AWS_ENDPOINT_URL',
    'AWS_ENDPOINT_URL_S3',
    'AWS_ENDPOINT_URL_DYNAMODB',
  ]) {
    delete rest[name];
  }
  return rest;
}

function printedToken(output: string): string {
  const match = /export SLUICE_ADMIN_TOKEN=(\S+)/.exec(output);
  if (!match?.[1]) throw new Error(`no generated token in the output:\n${output}`);
  return match[1];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function startServer(port: number): Promise<{ child: ChildProcess; output: () => string }> {
  return startServerProcess(
    { ...embeddedEnv(process.env), PORT: String(port), SLUICE_DATA_DIR: dataDir },
    (child) => started.push(child),
  );
}

async function api(port: number, method: string, path: string, body?: unknown) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, json: (await r.json().catch(() => undefined)) as any };
}

describe('embedded default persistence', () => {
  it('keeps acknowledged records across a clean stop and a kill -9 of the whole local stack', {
    timeout: 120_000,
  }, async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sluice-embedded-'));
    const port = await findFreePort();

    let server = await startServer(port);
    expect(server.output()).toContain(`http://127.0.0.1:${port}`);
    token = printedToken(server.output());
    expect((await api(port, 'GET', '/v1/topics')).status).toBe(200);
    expect((await api(port, 'POST', '/v1/topics', { name: 'durable', partitions: 2 })).status).toBe(201);
    const first = await api(port, 'POST', '/v1/topics/durable/records', {
      records: [{ value: 'before clean stop', partition: 0 }],
    });
    expect(first.status).toBe(200);

    // Clean stop (Ctrl-C): the server flushes and stops DynamoDB Local.
    killGroup(server.child, 'SIGINT');
    await new Promise((r) => server.child.once('exit', r));
    expect(server.output()).toContain('stopping');

    server = await startServer(port);
    expect(printedToken(server.output())).toBe(token); // the generated token survives a restart
    const second = await api(port, 'POST', '/v1/topics/durable/records', {
      records: [{ value: 'before crash', partition: 0 }],
    });
    expect(second.status).toBe(200);
    expect(second.json.offsets[0].offset).toBe(1);

    // Crash: kill -9 of the server and the DynamoDB Local it started, with no chance to clean up.
    killGroup(server.child, 'SIGKILL');
    await new Promise((r) => server.child.once('exit', r));
    await new Promise((r) => setTimeout(r, 500));

    server = await startServer(port);
    const fetched = await api(port, 'GET', '/v1/topics/durable/partitions/0/records?offset=0');
    expect(fetched.status).toBe(200);
    expect(fetched.json.records.map((r: any) => r.value)).toEqual(['before clean stop', 'before crash']);

    // kill -9 of the server alone leaves its DynamoDB Local running; the next start stops that one first.
    const third = await api(port, 'POST', '/v1/topics/durable/records', {
      records: [{ value: 'before server-only crash', partition: 0 }],
    });
    expect(third.status).toBe(200);
    const orphanPid = Number((await readFile(join(dataDir, 'dynamodb-local.pid'), 'utf8')).trim());
    process.kill(server.child.pid as number, 'SIGKILL');
    await new Promise((r) => server.child.once('exit', r));
    expect(isAlive(orphanPid)).toBe(true);
    server = await startServer(port);
    expect(server.output()).toContain('left running by a crashed server');
    expect(isAlive(orphanPid)).toBe(false);
    const after = await api(port, 'GET', '/v1/topics/durable/partitions/0/records?offset=0');
    expect(after.json.records.map((r: any) => r.value)).toEqual([
      'before clean stop',
      'before crash',
      'before server-only crash',
    ]);
    killGroup(server.child, 'SIGINT');
    await new Promise((r) => server.child.once('exit', r));
  });
});

describe('embedded default without Java', () => {
  it('stops with a message that says Java 17+ is needed and how to install it', {
    timeout: 60_000,
  }, async () => {
    const binDir = await mkdtemp(join(tmpdir(), 'sluice-nojava-'));
    try {
      // A PATH with node but no java on it.
      await symlink(process.execPath, join(binDir, 'node'));
      const child = spawn(process.execPath, ['--import', 'tsx', 'functions/server.ts'], {
        cwd: root,
        env: {
          ...embeddedEnv(process.env),
          PATH: binDir,
          PORT: '0',
          SLUICE_ADMIN_TOKEN: token,
          SLUICE_DATA_DIR: join(binDir, 'data'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout?.on('data', (d: Buffer) => {
        output += d.toString();
      });
      child.stderr?.on('data', (d: Buffer) => {
        output += d.toString();
      });
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).toBe(1);
      expect(output).toMatch(/Java 17/);
      expect(output).toContain('openjdk-17-jre-headless');
    } finally {
      await rm(binDir, { recursive: true, force: true });
    }
  });
});
