import { afterAll, beforeAll, expect, it } from 'vitest';
import { runSluice } from '../support/cli.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

it('sluice bench produces and consumes through the client and prints a table of rates and latencies', async () => {
  const result = await runSluice(['bench', '--mib', '1', '--partitions', '2'], {
    env: { SLUICE_URL: server.url, SLUICE_TOKEN: server.token },
  });
  expect(result.code).toBe(0);
  // Not a terminal: progress comes as plain lines on stderr, no bar.
  expect(result.stderr).toMatch(/^produce: 100% \(1024\/1024 records\)$/m);
  expect(result.stderr).toMatch(/^consume: 100% \(1024\/1024 records\)$/m);
  const lines = result.stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^sluice-bench-[0-9a-f]{8}: 1024 records of 1024 B on 2 partition\(s\)$/);
  expect(lines[1]?.split(/\s{2,}/)).toEqual([
    'phase',
    'records',
    'MiB',
    'seconds',
    'MiB/s',
    'records/s',
    'p50 ms',
    'p99 ms',
  ]);
  for (const [i, phase] of ['produce', 'consume'].entries()) {
    const cells = lines[2 + i]?.trim().split(/\s+/) ?? [];
    expect(cells[0]).toBe(phase);
    expect(cells[1]).toBe('1024');
    expect(cells[2]).toBe('1.0');
    for (const n of cells.slice(3)) expect(Number(n)).toBeGreaterThan(0);
  }
  // The bench topic is deleted afterwards.
  const topics = await server.api('GET', '/v1/topics');
  expect(topics.json.topics).toEqual([]);
});
