import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSluice, startSluice } from '../support/cli.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The `sluice` command through real child processes against a real server on the suite's emulators: what
 * `produce` sends from stdin, `consume` prints exactly, as a group member and from one partition.
 */
describe('the sluice CLI, end to end', () => {
  let server: TestServer;
  let env: Record<string, string>;
  const lines = Array.from({ length: 12 }, (_, i) => `customer-${i % 5}:order-${i} total=${i * 7}`);
  /** `partition offset key value` for every produced line, as the --format below prints it. */
  let expected: { partition: number; offset: number; text: string }[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    env = { SLUICE_URL: server.url, SLUICE_TOKEN: server.token };
    const created = await server.api('POST', '/v1/topics', { body: { name: 'orders', partitions: 3 } });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('produce sends one record per stdin line, keyed by --key-separator, and reports where they landed', async () => {
    const result = await runSluice(['--json', 'produce', 'orders', '--key-separator', ':'], {
      input: `${lines.join('\n')}\n`,
      env,
    });
    expect(result.stderr).toMatch(/^produced 12 record\(s\) to orders on \d partition\(s\): /m);
    expect(result.code).toBe(0);
    const acks = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; partition: number; offset: number; timestamp: number });
    expect(acks.map((a) => a.line)).toEqual(lines.map((_, i) => i + 1));
    expected = acks.map((ack, i) => {
      const [key, value] = (lines[i] as string).split(/:(.*)/s);
      return {
        partition: ack.partition,
        offset: ack.offset,
        text: `${ack.partition} ${ack.offset} ${key} ${value}`,
      };
    });
    // Records with the same key share a partition (the server's murmur2).
    const byKey = new Map<string, Set<number>>();
    lines.forEach((line, i) => {
      const key = line.split(':')[0] as string;
      byKey.set(key, new Set([...(byKey.get(key) ?? []), acks[i]?.partition as number]));
    });
    for (const partitions of byKey.values()) expect(partitions.size).toBe(1);
  });

  it('consume --partition --from beginning -e --format prints exactly what was produced to that partition', async () => {
    const counts = new Map<number, number>();
    for (const e of expected) counts.set(e.partition, (counts.get(e.partition) ?? 0) + 1);
    const [partition] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0] as [number, number];
    const result = await runSluice(
      [
        'consume',
        'orders',
        '--partition',
        String(partition),
        '--from',
        'beginning',
        '-e',
        '--format',
        '%p %o %k %v\\n',
      ],
      { env },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const mine = expected.filter((e) => e.partition === partition).sort((a, b) => a.offset - b.offset);
    expect(result.stdout).toBe(mine.map((e) => `${e.text}\n`).join(''));
  });

  it('consume --group prints every record once, each partition in order, and leaves the group with lag 0', async () => {
    const result = await runSluice(
      ['consume', 'orders', '--group', 'billing', '--from', 'beginning', '-e', '--format', '%p %o %k %v\\n'],
      { env },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const printed = result.stdout.trim().split('\n');
    expect([...printed].sort()).toEqual(expected.map((e) => e.text).sort());
    for (const p of [0, 1, 2]) {
      const offsets = printed.filter((l) => l.startsWith(`${p} `)).map((l) => Number(l.split(' ')[1]));
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    }

    const described = await runSluice(['groups', 'describe', 'billing'], { env });
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/^group billing: generation \d+, 0 live member\(s\)/);
    const rows = described.stdout
      .split('\n')
      .filter((l) => l.startsWith('orders '))
      .map((l) => l.trim().split(/\s+/));
    expect(rows.map((r) => r[1])).toEqual(['0', '1', '2']);
    for (const [, partition, committed, highWatermark, lag] of rows) {
      const produced = expected.filter((e) => e.partition === Number(partition)).length;
      expect({ partition, committed, highWatermark, lag }).toEqual({
        partition,
        committed: String(produced),
        highWatermark: String(produced),
        lag: '0',
      });
    }
  });

  it('consume --group follows until Ctrl-C, which commits what was printed and leaves the group', async () => {
    const consumer = startSluice(
      ['consume', 'orders', '--group', 'audit', '--from', 'beginning', '--format', '%o\\n'],
      {
        env,
      },
    );
    const deadline = Date.now() + 30_000;
    while (consumer.stdout().trim().split('\n').filter(Boolean).length < expected.length) {
      if (Date.now() > deadline) throw new Error(`printed only:\n${consumer.stdout()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    consumer.child.kill('SIGINT');
    const result = await consumer.result;
    expect(result.code).toBe(0);
    const group = await server.api('GET', '/v1/groups/audit');
    expect(group.json.members).toEqual([]);
    expect(group.json.offsets.map((o: { lag: number }) => o.lag)).toEqual([0, 0, 0]);
  });

  it('exits 1 with the problem detail when the server refuses the token', async () => {
    const result = await runSluice(['topics', 'list'], { env: { ...env, SLUICE_TOKEN: 'not-a-token' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^sluice: .*\(401 UNAUTHORIZED\).*the token \(from env\) was refused/);
  });

  it('refuses to produce to a missing topic (exit 1), saying how to create it', async () => {
    const result = await runSluice(['produce', 'no-such-topic'], { input: 'a\n', env });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "sluice: topic 'no-such-topic' does not exist; create it first: sluice topics create no-such-topic (404 TOPIC_NOT_FOUND)\n",
    );
  });

  it('exits 2 on a usage error: an unknown flag, or a flag value it cannot take', async () => {
    const unknown = await runSluice(['consume', 'orders', '--frm', 'beginning'], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--frm'/);
    const badValue = await runSluice(['consume', 'orders', '--from', 'yesterday'], { env });
    expect(badValue.code).toBe(2);
    expect(badValue.stderr).toMatch(/--from takes beginning, end/);
  });
});
