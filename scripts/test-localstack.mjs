#!/usr/bin/env node
// Runs the whole suite against LocalStack (localstack/docker-compose.yml) instead of the bundled emulators:
// the suite's global setup takes its S3 and DynamoDB endpoints from AWS_ENDPOINT_URL.
import { spawnSync } from 'node:child_process';

const endpoint = process.env.LOCALSTACK_ENDPOINT ?? 'http://localhost:4566';
const health = await fetch(`${endpoint}/_localstack/health`).catch(() => undefined);
if (!health?.ok) {
  console.error(`LocalStack does not answer at ${endpoint}: start it with`);
  console.error('  docker compose -f localstack/docker-compose.yml up -d --wait');
  process.exit(1);
}
const result = spawnSync('npx', ['vitest', 'run', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: {
    ...process.env,
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'test',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
  },
});
process.exit(result.status ?? 1);
