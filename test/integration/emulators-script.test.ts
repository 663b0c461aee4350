import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findFreePort, isPortFree } from '../../functions/local/dynamodb-local.js';

/**
 * `npm run emulators` and `SLUICE_MODE=lambda npm start` as a user runs them, as real processes: the script
 * starts DynamoDB Local and the S3 emulator and prints export lines; two lambda-mode servers started with
 * those lines alone share one log; Ctrl-C (SIGINT) stops every process each of them started.
 */
const TSX = resolve('node_modules/.bin/tsx');
const started: ChildProcess[] = [];

/** The environment of a fresh shell: no AWS or Sluice settings inherited from the test run. */
function shellEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('AWS_') && !name.startsWith('SLUICE_')) env[name] = value;
  }
  return { ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...extra };
}

/** Starts `tsx <file>` in its own process group and collects its output. */
function startTsx(file: string, env: NodeJS.ProcessEnv) {
  const child = spawn(TSX, [file], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  const output = { stdout: '', stderr: '' };
  child.stdout?.on('data', (chunk: Buffer) => {
    output.stdout += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output.stderr += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { child, output, exited };
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** True while any process of the group `pgid` (the child and everything it started) is alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

afterAll(() => {
  for (const child of started) {
    if (child.pid !== undefined && groupAlive(child.pid)) process.kill(-child.pid, 'SIGKILL');
  }
});

describe('npm run emulators + SLUICE_MODE=lambda npm start', () => {
  it('serves one log from two Lambda-shaped instances on the printed endpoints, and Ctrl-C leaves nothing running', async () => {
    const [dynamoPort, s3Port] = [await findFreePort(), await findFreePort()];
    const emulators = startTsx(
      'scripts/emulators.ts',
      shellEnv({
        SLUICE_EMULATOR_DYNAMODB_PORT: String(dynamoPort),
        SLUICE_EMULATOR_S3_PORT: String(s3Port),
      }),
    );
    await waitFor('the export lines', () => /export SLUICE_ADMIN_TOKEN=\S+\n/.test(emulators.output.stdout));
    const exported: Record<string, string> = {};
    for (const match of emulators.output.stdout.matchAll(/^export ([A-Z0-9_]+)=(\S+)$/gm)) {
      exported[match[1] as string] = match[2] as string;
    }
    expect(Object.keys(exported).sort()).toEqual(
      [
        'AWS_ACCESS_KEY_ID',
        'AWS_ENDPOINT_URL_DYNAMODB',
        'AWS_ENDPOINT_URL_S3',
        'AWS_REGION',
        'AWS_SECRET_ACCESS_KEY',
        'SLUICE_ADMIN_TOKEN',
        'SLUICE_BUCKET',
      ].sort(),
    );
    expect(exported.AWS_ENDPOINT_URL_DYNAMODB).toBe(`http://127.0.0.1:${dynamoPort}`);
    expect(exported.AWS_ENDPOINT_URL_S3).toBe(`http://127.0.0.1:${s3Port}`);

    const servers = [0, 1].map(() =>
      startTsx('functions/server.ts', shellEnv({ ...exported, SLUICE_MODE: 'lambda', PORT: '0' })),
    );
    const urls: string[] = [];
    for (const server of servers) {
      await waitFor('a server to listen', () => /listening on (\S+)/.test(server.output.stdout));
      urls.push((/listening on (\S+)/.exec(server.output.stdout) as RegExpExecArray)[1] as string);
      expect(server.output.stdout).toContain(
        "lambda mode: the Lambda function's wiring (no linger, no tail cache",
      );
    }
    const [one, two] = urls as [string, string];
    const headers = {
      authorization: `Bearer ${exported.SLUICE_ADMIN_TOKEN}`,
      'content-type': 'application/json',
    };
    let r = await fetch(`${one}/v1/topics`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'shared' }),
    });
    expect(r.status).toBe(201);
    r = await fetch(`${two}/v1/topics/shared/records`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ records: [{ value: { from: 'two' } }] }),
    });
    expect(r.status).toBe(200);
    r = await fetch(`${one}/v1/topics/shared/records`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ records: [{ value: { from: 'one' } }] }),
    });
    expect(r.status).toBe(200);
    r = await fetch(`${one}/v1/topics/shared/partitions/0/records`, { headers });
    const records = ((await r.json()) as { records: Array<{ offset: number; value: unknown }> }).records;
    expect(records.map((record) => record.value)).toEqual([{ from: 'two' }, { from: 'one' }]);
    r = await fetch(`${two}/v1/topics/shared/partitions/0/records`, { headers });
    expect(((await r.json()) as { records: unknown[] }).records).toEqual(records);

    for (const process of [...servers, emulators]) process.child.kill('SIGINT');
    for (const process of [...servers, emulators]) expect(await process.exited).toBe(0);
    for (const process of [...servers, emulators]) {
      const pgid = process.child.pid as number;
      await waitFor('every process of the group to end', () => !groupAlive(pgid), 10_000);
    }
    expect(await isPortFree(dynamoPort)).toBe(true);
    expect(await isPortFree(s3Port)).toBe(true);
  }, 60_000);

  it('stops the DynamoDB Local a killed run left behind when started again on its port', async () => {
    const [dynamoPort, s3Port] = [await findFreePort(), await findFreePort()];
    const env = shellEnv({
      SLUICE_EMULATOR_DYNAMODB_PORT: String(dynamoPort),
      SLUICE_EMULATOR_S3_PORT: String(s3Port),
    });
    const first = startTsx('scripts/emulators.ts', env);
    await waitFor('the export lines', () => /export SLUICE_ADMIN_TOKEN=\S+\n/.test(first.output.stdout));
    // SIGKILL the script itself (tsx's child): it cannot stop its JVM, which is left holding the port.
    const script = Number(
      (await readFile(resolve(`.sluice/emulators/emulators-${dynamoPort}.pid`), 'utf8')).trim(),
    );
    process.kill(script, 'SIGKILL');
    await first.exited;
    expect(await isPortFree(dynamoPort)).toBe(false);

    const second = startTsx('scripts/emulators.ts', env);
    await waitFor('the export lines', () => /export SLUICE_ADMIN_TOKEN=\S+\n/.test(second.output.stdout));
    expect(second.output.stderr).toContain(`stopped a DynamoDB Local left on port ${dynamoPort}`);
    const firstGroup = first.child.pid as number;
    expect(groupAlive(firstGroup)).toBe(false);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
    const secondGroup = second.child.pid as number;
    await waitFor('every process of the group to end', () => !groupAlive(secondGroup), 10_000);
  }, 60_000);

  it('refuses a port that is already in use, naming the variable that moves it', async () => {
    const busy = await findFreePort();
    const blocker = (await import('node:net')).createServer();
    await new Promise<void>((done) => blocker.listen(busy, '127.0.0.1', done));
    try {
      const emulators = startTsx(
        'scripts/emulators.ts',
        shellEnv({ SLUICE_EMULATOR_DYNAMODB_PORT: '0', SLUICE_EMULATOR_S3_PORT: String(busy) }),
      );
      expect(await emulators.exited).toBe(1);
      expect(emulators.output.stderr).toContain(`port ${busy} is already in use`);
      expect(emulators.output.stderr).toContain('SLUICE_EMULATOR_S3_PORT');
    } finally {
      await new Promise((done) => blocker.close(done));
    }
  });

  it('refuses lambda mode without a bucket and endpoints: it is not the embedded default', async () => {
    const server = startTsx('functions/server.ts', shellEnv({ SLUICE_MODE: 'lambda', PORT: '0' }));
    expect(await server.exited).toBe(1);
    expect(server.output.stderr).toContain('SLUICE_MODE=lambda needs SLUICE_BUCKET');
    expect(server.output.stderr).toContain('npm run emulators');
  });

  it('refuses an unknown SLUICE_MODE as invalid configuration', async () => {
    const server = startTsx('functions/server.ts', shellEnv({ SLUICE_MODE: 'bogus', PORT: '0' }));
    expect(await server.exited).toBe(1);
    expect(server.output.stderr).toContain('invalid configuration: SLUICE_MODE');
  });
});
