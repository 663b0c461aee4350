import { beforeAll, describe, expect, it } from 'vitest';
import { createLog } from '../../functions/deps.js';
import { systemClock } from '../../lib/clock.js';
import { DEFAULT_LIMITS } from '../../lib/limits.js';
import { DEFAULT_LOG_OPTIONS, Log } from '../../lib/log/log.js';
import { DynamoDbMetadataStore } from '../../lib/metadata/dynamodb-metadata-store.js';
import { ensureTables, type TableNames } from '../../lib/metadata/dynamodb-schema.js';
import type { IndexEntry, PartitionRef } from '../../lib/metadata/metadata-store.js';
import { S3SegmentStore } from '../../lib/storage/s3-segment-store.js';
import type { FetchedRecord } from '../../lib/types.js';
import { makeDynamoClient, makeS3Client, testEndpoints, uniquePrefix } from '../support/env.js';
import { startTestServer } from '../support/server.js';

/**
 * Issue 12, item 11. A fetch read the high watermark (the tail, strongly consistent), then the index
 * entries from its offset on (from this process's cache of its own commits, or a query); entries
 * committed in between came back too, so one answer held records at and above its own `highWatermark`
 * (`offset=0&maxRecords=117` → records 0–12, `highWatermark: 7`, `nextOffset: 13`) and lag computed from
 * it went negative. One answer's records and bounds must agree: every record below `highWatermark`,
 * `nextOffset` ≤ `highWatermark`.
 */

/** The index, with a hook that runs right after a fetch read a partition's tail (its high watermark). */
class TailHookedMetadata extends DynamoDbMetadataStore {
  afterTail: (() => Promise<void>) | undefined;
  override async getTail(ref: PartitionRef): Promise<IndexEntry | undefined> {
    const tail = await super.getTail(ref);
    const hook = this.afterTail;
    this.afterTail = undefined;
    await hook?.();
    return tail;
  }
}

let prefix: string;
let tables: TableNames;
beforeAll(async () => {
  prefix = uniquePrefix('hw');
  tables = await ensureTables(makeDynamoClient(), prefix);
});

function reader(metadata: DynamoDbMetadataStore): Log {
  return new Log({
    store: new S3SegmentStore(makeS3Client(), testEndpoints().bucket),
    metadata,
    clock: systemClock,
    limits: DEFAULT_LIMITS,
    options: { ...DEFAULT_LOG_OPTIONS, lingerMs: 1 },
  });
}

function expectAgrees(answer: { records: FetchedRecord[]; nextOffset: number; highWatermark: number }) {
  for (const record of answer.records) expect(record.offset).toBeLessThan(answer.highWatermark);
  expect(answer.nextOffset).toBeLessThanOrEqual(answer.highWatermark);
}

const values = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ value: from + i }));

describe("one fetch answer's records and bounds agree", () => {
  it('when this process commits between the tail read and the entries (its own recent commits)', async () => {
    const metadata = new TailHookedMetadata(makeDynamoClient(), tables);
    const log = reader(metadata);
    const topic = `hw.own.${Date.now().toString(36)}`;
    await log.topics.create({ name: topic, partitions: 1 });
    await log.produce(topic, { records: values(7).map((r) => ({ ...r, partition: 0 })) });
    metadata.afterTail = async () => {
      await log.produce(topic, { records: values(6, 7).map((r) => ({ ...r, partition: 0 })) });
    };
    const answer = await log.fetch(topic, 0, { offset: 0, maxRecords: 117, maxBytes: 1 << 20, waitMs: 0 });
    expect(answer.records.length).toBeGreaterThanOrEqual(7);
    expectAgrees(answer);
  });

  it('when another instance commits between the tail read and the index query', async () => {
    const metadata = new TailHookedMetadata(makeDynamoClient(), tables);
    const log = reader(metadata);
    const other = createLog({
      dynamodb: makeDynamoClient(),
      store: new S3SegmentStore(makeS3Client(), testEndpoints().bucket),
      tablePrefix: prefix,
      log: { ...DEFAULT_LOG_OPTIONS, lingerMs: 0 },
      limits: DEFAULT_LIMITS,
    });
    const topic = `hw.other.${Date.now().toString(36)}`;
    await other.topics.create({ name: topic, partitions: 1 });
    await other.produce(topic, { records: values(7).map((r) => ({ ...r, partition: 0 })) });
    metadata.afterTail = async () => {
      await other.produce(topic, { records: values(6, 7).map((r) => ({ ...r, partition: 0 })) });
    };
    const answer = await log.fetch(topic, 0, { offset: 0, maxRecords: 117, maxBytes: 1 << 20, waitMs: 0 });
    expectAgrees(answer);

    // A consumer group member's read (several partitions at once) answers the same way.
    const { topicId } = await log.topics.get(topic);
    metadata.afterTail = async () => {
      await other.produce(topic, { records: values(5, 13).map((r) => ({ ...r, partition: 0 })) });
    };
    const [many] = await log.fetchMany([{ topic, topicId, partition: 0, offset: 0, reset: 'earliest' }], {
      maxRecords: 117,
      maxBytes: 1 << 20,
      waitMs: 0,
    });
    expect(many).toBeDefined();
    if (many) expectAgrees(many);
  });

  it('under concurrent produce over HTTP, no answer has a record at or above its highWatermark', async () => {
    const server = await startTestServer();
    try {
      const topic = `hw.http.${Date.now().toString(36)}`;
      expect((await server.api('POST', '/v1/topics', { body: { name: topic, partitions: 1 } })).status).toBe(
        201,
      );
      let producing = true;
      const producer = (async () => {
        for (let i = 0; producing; i++) {
          await server.api('POST', `/v1/topics/${topic}/records`, { body: { records: values(3, 3 * i) } });
        }
      })();
      const deadline = Date.now() + 1_500;
      let answers = 0;
      while (Date.now() < deadline) {
        const r = await server.api('GET', `/v1/topics/${topic}/partitions/0/records?offset=0&maxRecords=117`);
        expect(r.status).toBe(200);
        expectAgrees(r.json);
        expect(r.json.highWatermark - r.json.nextOffset).toBeGreaterThanOrEqual(0); // lag
        answers++;
      }
      producing = false;
      await producer;
      expect(answers).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
  });
});
