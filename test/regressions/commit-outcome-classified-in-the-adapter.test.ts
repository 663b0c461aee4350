import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommitRecord } from '../../lib/metadata/commit-record.js';
import { DynamoDbMetadataStore } from '../../lib/metadata/dynamodb-metadata-store.js';
import { ensureTables, tableNames } from '../../lib/metadata/dynamodb-schema.js';
import { CommitConflictError, CommitOutcomeUnknownError } from '../../lib/metadata/metadata-store.js';
import { CommitFaults } from '../support/dynamodb-faults.js';
import { makeDynamoClient, uniquePrefix } from '../support/env.js';

/**
 * Issue 16: the appender matched the AWS SDK's error names and `$metadata` to tell a commit whose answer was
 * lost from one that failed. The DynamoDB adapter now classifies its client's errors itself: a commit
 * without a definite answer is a `CommitOutcomeUnknownError` carrying the SDK error as its `cause`.
 */
const client = makeDynamoClient();
const faults = new CommitFaults();
faults.attach(client);
let metadata: DynamoDbMetadataStore;
beforeAll(async () => {
  const prefix = uniquePrefix('outcome');
  await ensureTables(client, prefix);
  metadata = new DynamoDbMetadataStore(client, tableNames(prefix));
});
afterAll(() => client.destroy());

function record(topicId: string, seq: number): CommitRecord {
  return {
    topicId,
    seq,
    objectKey: `segments/${randomUUID()}.seg`,
    objectSize: 100,
    createdAt: Date.now(),
    batches: [
      {
        partition: 0,
        baseOffset: seq,
        lastOffset: seq,
        recordCount: 1,
        byteOffset: 0,
        byteLength: 100,
        firstTimestamp: 1,
        maxTimestamp: 1,
      },
    ],
    ends: [{ nextOffset: seq + 1, maxTimestampSoFar: 1 }],
  };
}

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('the DynamoDB adapter, when a commit gets no definite answer', () => {
  it('reports a commit applied whose answer was lost as outcome unknown, the SDK error as its cause', async () => {
    faults.ambiguous = true;
    const error = await failureOf(metadata.appendCommit(record(randomUUID(), 0))).finally(() => {
      faults.ambiguous = false;
    });
    expect(error).toBeInstanceOf(CommitOutcomeUnknownError);
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(((error as Error).cause as Error).name).toBe('TimeoutError');
  });

  it('reports a commit never sent as outcome unknown too', async () => {
    faults.unreachable = true;
    const error = await failureOf(metadata.appendCommit(record(randomUUID(), 0))).finally(() => {
      faults.unreachable = false;
    });
    expect(error).toBeInstanceOf(CommitOutcomeUnknownError);
  });

  it('reports a commit with idempotency completions (a transaction) so as well', async () => {
    faults.unreachable = true;
    const error = await failureOf(
      metadata.appendCommit(record(randomUUID(), 0), [
        { scope: 't', key: randomUUID(), attemptId: randomUUID(), result: Buffer.from('x') },
      ]),
    ).finally(() => {
      faults.unreachable = false;
    });
    expect(error).toBeInstanceOf(CommitOutcomeUnknownError);
  });

  it('still reports a lost race as a conflict, not as outcome unknown', async () => {
    const topicId = randomUUID();
    await metadata.appendCommit(record(topicId, 0));
    const error = await failureOf(metadata.appendCommit(record(topicId, 0)));
    expect(error).toBeInstanceOf(CommitConflictError);
  });
});
