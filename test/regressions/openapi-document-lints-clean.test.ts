import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Regression: the served /openapi.json had no `servers`, no operationId on any operation and path examples
 * of the wrong type, so `redocly lint` failed on it. It must lint clean under the project's redocly.yaml
 * (Redocly's `recommended-strict` rules, where every warning is an error).
 */

interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[];
}

/** Runs the pinned @redocly/cli (no network: telemetry and the update check are off) on one file. */
function redoclyLint(file: string): Promise<LintReport> {
  const cli = resolve('node_modules/@redocly/cli/bin/cli.js');
  const args = [cli, 'lint', file, '--config', resolve('redocly.yaml'), '--format', 'json'];
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' };
  return new Promise((done, fail) => {
    // It exits 1 when it finds errors; the report on stdout says which.
    execFile(process.execPath, args, { env, timeout: 60_000 }, (error, stdout) => {
      try {
        done(JSON.parse(stdout) as LintReport);
      } catch {
        fail(error ?? new Error(`redocly printed no JSON report: ${stdout}`));
      }
    });
  });
}

describe('the served OpenAPI document', () => {
  let server: TestServer;
  let dir: string;

  beforeAll(async () => {
    server = await startTestServer();
    dir = await mkdtemp(join(tmpdir(), 'sluice-openapi-'));
  });

  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('passes redocly lint (recommended-strict) with no error and no warning', async () => {
    const response = await fetch(`${server.url}/openapi.json`);
    expect(response.status).toBe(200);
    const file = join(dir, 'openapi.json');
    await writeFile(file, await response.text());

    const report = await redoclyLint(file);

    const found = report.problems.map(
      (p) => `${p.severity} ${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`,
    );
    expect(found).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });
});
