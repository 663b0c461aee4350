import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * On Node 20 (README: Node versions) the two README commands print nothing a user would have to wonder
 * about. (Before: `npm install` printed EBADENGINE for cookie@2, which needs Node ≥ 22, and the test run
 * printed the AWS SDK's NodeVersionSupportWarning 23 times.)
 */
const root = resolve(import.meta.dirname, '../..');
const require = createRequire(import.meta.url);
const semver = require('semver') as { satisfies(version: string, range: string): boolean };

describe('on the Node versions the README names', () => {
  it('every installed package accepts this Node version (npm install prints no EBADENGINE)', async () => {
    const lock = JSON.parse(await readFile(resolve(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<
        string,
        { version?: string; engines?: { node?: string } | string[]; optional?: boolean }
      >;
    };
    const refused = Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && !p.optional)
      .flatMap(([path, p]) => {
        const range = !Array.isArray(p.engines) ? p.engines?.node : undefined;
        return range !== undefined && !semver.satisfies(process.versions.node, range)
          ? [`${path}@${p.version} needs node ${range}`]
          : [];
      });
    expect(refused).toEqual([]);
  });

  it("a test process prints no AWS SDK notice about later releases' Node version", async () => {
    const { stderr } = await promisify(execFile)(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { DynamoDBClient } from '@aws-sdk/client-dynamodb'; new DynamoDBClient({ region: 'us-east-1' }).destroy();",
      ],
      { cwd: root, env: process.env },
    );
    expect(stderr).not.toMatch(/NodeVersionSupportWarning/);
  });
});
