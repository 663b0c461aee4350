/**
 * `npm run emulators`: DynamoDB Local and the S3 emulator on their own, on 127.0.0.1, for servers started
 * separately (e.g. several `SLUICE_MODE=lambda npm start`). Prints the `export` lines those servers need;
 * Ctrl-C stops both.
 *
 * Both keep their data in memory: the S3 emulator (fauxqs) cannot persist, so a DynamoDB that outlived it
 * would index segments that no longer exist. A restart is a clean slate.
 *
 * Ports: SLUICE_EMULATOR_DYNAMODB_PORT (default 8000) and SLUICE_EMULATOR_S3_PORT (default 4566); 0 picks a
 * free one. A port in use is an error, never a silent move to another port (the servers' exports would lie).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import {
  DYNAMODB_LOCAL_REGION,
  type DynamoDbLocal,
  isPortFree,
  newDynamoDbLocalAccessKeyId,
  startDynamoDbLocal,
} from '../functions/local/dynamodb-local.js';
import { removePidFile, stopStaleProcess, writePidFile } from '../functions/local/pidfile.js';
import { type S3Emulator, startS3Emulator } from '../functions/local/s3-emulator.js';

const BUCKET = 'sluice';
const port = (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback);
const EnvSchema = z.object({
  SLUICE_EMULATOR_DYNAMODB_PORT: port(8000),
  SLUICE_EMULATOR_S3_PORT: port(4566),
});

/** Pid files (owner-only), one pair per DynamoDB port: this script's pid, and its JVM's. */
const STATE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '.sluice', 'emulators');

/** True if `pid` is a live `npm run emulators` (by its command line; only Linux can tell). */
async function isEmulatorsScript(pid: number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes('emulators.ts');
}

/**
 * A DynamoDB Local left running on `port` by an `npm run emulators` that was killed (SIGKILL: it could not
 * stop its JVM) is stopped, so the port is free again. One whose script still runs is left alone.
 */
async function stopOrphanedJvm(port: number, jvmPidFile: string, ownerPidFile: string): Promise<void> {
  const owner = Number((await readFile(ownerPidFile, 'utf8').catch(() => '')).trim());
  if (await isEmulatorsScript(owner)) return;
  // The JVM's command line names its port and in-memory mode (functions/local/dynamodb-local.ts startOnce).
  if (await stopStaleProcess(jvmPidFile, `-port\0${port}\0-inMemory`)) {
    say(`stopped a DynamoDB Local left on port ${port} by a killed \`npm run emulators\``);
  }
  await rm(ownerPidFile, { force: true });
}

function say(message: string): void {
  console.error(`[emulators] ${message}`);
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  process.umask(0o077);
  const parsed = EnvSchema.safeParse(process.env);
  if (!parsed.success) {
    throw new Error(
      `invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const dynamoPort = parsed.data.SLUICE_EMULATOR_DYNAMODB_PORT;
  const s3Port = parsed.data.SLUICE_EMULATOR_S3_PORT;
  await mkdir(STATE_DIR, { recursive: true, mode: 0o700 });
  const jvmPidFile = join(STATE_DIR, `dynamodb-local-${dynamoPort}.pid`);
  const ownerPidFile = join(STATE_DIR, `emulators-${dynamoPort}.pid`);
  if (dynamoPort !== 0) await stopOrphanedJvm(dynamoPort, jvmPidFile, ownerPidFile);
  for (const [name, value] of [
    ['SLUICE_EMULATOR_DYNAMODB_PORT', dynamoPort],
    ['SLUICE_EMULATOR_S3_PORT', s3Port],
  ] as const) {
    if (value !== 0 && !(await isPortFree(value))) {
      throw new Error(
        `port ${value} is already in use; choose another with ${name}=<port> (0: any free port)`,
      );
    }
  }

  // Without -sharedDb DynamoDB Local keeps one database per access key id: this run's servers must all use
  // this one (it is printed below), or each would see an empty database of its own.
  const accessKeyId = newDynamoDbLocalAccessKeyId();
  let dynamo: DynamoDbLocal | undefined;
  let s3: S3Emulator | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping`);
    await Promise.allSettled([dynamo?.stop(), s3?.stop()]);
    await Promise.allSettled([removePidFile(jvmPidFile), removePidFile(ownerPidFile)]);
    process.exit(0);
  };
  // Registered before DynamoDB Local starts: its own handlers then kill the JVM and leave the exit to us.
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  try {
    say('starting DynamoDB Local and the S3 emulator (in memory)…');
    s3 = await startS3Emulator({ port: s3Port, host: '127.0.0.1' });
    dynamo = await startDynamoDbLocal({ port: dynamoPort, accessKeyId, log: say });
    if (dynamoPort !== 0) {
      await writeFile(ownerPidFile, `${process.pid}\n`, { mode: 0o600 });
      await writePidFile(jvmPidFile, dynamo.process.pid);
    }
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: DYNAMODB_LOCAL_REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    client.destroy();
  } catch (error) {
    await Promise.allSettled([dynamo?.stop(), s3?.stop()]);
    throw error;
  }
  const adminToken = `sl_admin_${randomBytes(24).toString('base64url')}`;
  const lines = [
    `export AWS_ENDPOINT_URL_DYNAMODB=${dynamo.endpoint}`,
    `export AWS_ENDPOINT_URL_S3=${s3.endpoint}`,
    `export SLUICE_BUCKET=${BUCKET}`,
    `export AWS_REGION=${DYNAMODB_LOCAL_REGION}`,
    `export AWS_ACCESS_KEY_ID=${dynamo.credentials.accessKeyId}`,
    `export AWS_SECRET_ACCESS_KEY=${dynamo.credentials.secretAccessKey}`,
    `export SLUICE_ADMIN_TOKEN=${adminToken}`,
  ];
  say(`DynamoDB Local on ${dynamo.endpoint}, S3 emulator on ${s3.endpoint} (bucket ${BUCKET}); in memory.`);
  say(
    'In each shell that starts a server, paste (the access key id is the only one that sees these tables):',
  );
  // The export lines alone go to stdout, so `eval "$(…)"`-style use and tests can read them.
  console.log(`\n${lines.join('\n')}\n`);
  say('then e.g. `SLUICE_MODE=lambda PORT=8081 npm start` and `SLUICE_MODE=lambda PORT=8082 npm start`.');
  say('Ctrl-C stops both emulators.');
}

main().catch((error: unknown) => {
  console.error(`[emulators] failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
