import { handle } from 'hono/aws-lambda';
import { S3SegmentStore } from '../lib/storage/s3-segment-store.js';
import { loadConfig } from './config.js';
import { createAwsClients, createLog } from './deps.js';
import { createApp } from './http/app.js';

/**
 * The API as a Lambda function. Clients and the Log are built once per execution environment. A Lambda
 * serves one request at a time, so there is nothing to merge: each produce call flushes its own segment
 * (lingerMs 0); clients batch records per request to keep the bill small.
 */
const config = loadConfig();
if (config.adminToken === undefined)
  throw new Error('SLUICE_ADMIN_TOKEN must be set for the Lambda function');
if (config.bucket === undefined) throw new Error('SLUICE_BUCKET must be set for the Lambda function');
const clients = createAwsClients(config);
const log = createLog({
  dynamodb: clients.dynamodb,
  store: new S3SegmentStore(clients.s3, config.bucket),
  tablePrefix: config.tablePrefix,
  log: { ...config.log, lingerMs: 0 },
  limits: config.limits,
});
const app = createApp({ log, adminToken: config.adminToken, limits: config.limits });

export const handler = handle(app);
