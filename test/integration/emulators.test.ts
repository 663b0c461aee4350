import {
  CreateTableCommand,
  DeleteTableCommand,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDynamoClient, makeS3Client, testEndpoints, uniquePrefix } from '../support/env.js';

/** Proves the harness: the provided endpoints answer, and the provided bucket exists. */
describe('test emulators', () => {
  const dynamodb = makeDynamoClient();
  const s3 = makeS3Client();
  const tableName = `${uniquePrefix('emulators')}items`;

  afterAll(async () => {
    await dynamodb.send(new DeleteTableCommand({ TableName: tableName })).catch(() => undefined);
    dynamodb.destroy();
    s3.destroy();
  });

  it('provides endpoints, a region and a bucket', () => {
    const env = testEndpoints();
    expect(env.dynamodbEndpoint).toMatch(/^https?:\/\//);
    expect(env.s3Endpoint).toMatch(/^https?:\/\//);
    expect(env.region).toBe('us-east-1');
    expect(env.bucket).toMatch(/^sluice-test-[a-z0-9-]+$/);
  });

  it('round-trips a DynamoDB item', async () => {
    await dynamodb.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    await dynamodb.send(
      new PutItemCommand({
        TableName: tableName,
        Item: { pk: { S: 'k1' }, n: { N: '42' }, b: { B: new Uint8Array([0, 1, 255]) } },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    const got = await dynamodb.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'k1' } }, ConsistentRead: true }),
    );
    expect(got.Item?.n).toEqual({ N: '42' });
    expect(got.Item?.b?.B).toEqual(new Uint8Array([0, 1, 255]));
  });

  it('round-trips an S3 object with a ranged read', async () => {
    const { bucket } = testEndpoints();
    const key = `${uniquePrefix('emulators')}object.bin`;
    const body = Buffer.alloc(256 * 1024, 0).map((_, i) => (i * 31) & 0xff);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

    const ranged = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=1000-1999' }),
    );
    expect(ranged.ContentRange).toBe(`bytes 1000-1999/${body.length}`);
    const bytes = Buffer.from((await ranged.Body?.transformToByteArray()) ?? []);
    expect(bytes.equals(body.subarray(1000, 2000))).toBe(true);

    const whole = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const wholeBytes = Buffer.from((await whole.Body?.transformToByteArray()) ?? []);
    expect(wholeBytes.length).toBe(body.length);
    expect(wholeBytes.equals(body)).toBe(true);
  });
});
