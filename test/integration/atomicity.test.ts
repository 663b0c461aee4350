import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeS3Client, testEndpoints } from '../support/env.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Guarantees 1 and 2 with a fault injected between the two steps of the commit protocol: the segment put
 * succeeded, the process "dies" before the DynamoDB commit. Nothing of the request may become visible.
 */
let server: TestServer;
const failures = new Set<string>();
beforeAll(async () => {
  server = await startTestServer({
    log: { lingerMs: 0 },
    hooks: {
      afterSegmentPut: (objectKey) => {
        if (failures.size > 0) {
          failures.add(objectKey);
          throw new Error('injected crash between segment put and commit');
        }
      },
    },
  });
});
afterAll(async () => {
  await server?.close();
});

describe('a multi-partition produce is all or nothing', () => {
  it('makes nothing visible when the process fails after the segment put, and all visible otherwise', async () => {
    const topic = `atomic.${Date.now().toString(36)}`;
    await server.api('POST', '/v1/topics', { body: { name: topic, partitions: 4 } });
    const body = {
      records: [0, 1, 2, 3].flatMap((partition) => [
        { value: `a${partition}`, partition },
        { value: `b${partition}`, partition },
      ]),
    };

    failures.add('armed');
    const failed = await server.api('POST', `/v1/topics/${topic}/records`, { body });
    failures.delete('armed');
    expect(failed.status).toBe(500);
    expect(failed.json.code).toBe('INTERNAL');
    for (let p = 0; p < 4; p++) {
      const r = await server.api('GET', `/v1/topics/${topic}/partitions/${p}/records`);
      expect(r.json).toMatchObject({ records: [], highWatermark: 0 });
    }
    // The segment was written: it is an orphan that no index entry references (garbage collection's job).
    const [orphan] = [...failures];
    const listed = await makeS3Client().send(
      new ListObjectsV2Command({ Bucket: testEndpoints().bucket, Prefix: orphan }),
    );
    expect(listed.KeyCount).toBe(1);
    failures.clear();

    const ok = await server.api('POST', `/v1/topics/${topic}/records`, { body });
    expect(ok.status).toBe(200);
    for (let p = 0; p < 4; p++) {
      const r = await server.api('GET', `/v1/topics/${topic}/partitions/${p}/records`);
      expect(r.json.records.map((x: any) => [x.offset, x.value])).toEqual([
        [0, `a${p}`],
        [1, `b${p}`],
      ]);
    }
  });
});
