import {
  DeleteObjectsCommand,
  GetObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { crc32c } from '@node-rs/crc32';
import {
  SegmentExistsError,
  SegmentNotFoundError,
  type SegmentStore,
  type StoredObject,
} from './segment-store.js';

/**
 * SegmentStore on S3. Puts are create-only (`If-None-Match: *`, honoured by S3 since 2024; emulators that
 * ignore it are still safe because segment keys are unique). Reads are ranged GETs.
 */
export class S3SegmentStore implements SegmentStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async put(key: string, body: Buffer): Promise<void> {
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          ContentType: 'application/vnd.sluice.segment',
          // S3 verifies the object against this checksum before storing it (a native CRC32C, far cheaper
          // than the SDK's JavaScript checksum) and keeps it for later integrity checks.
          ChecksumCRC32C: crc32cBase64(body),
          IfNoneMatch: '*',
        }),
      );
    } catch (error) {
      if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 412) {
        throw new SegmentExistsError(key);
      }
      throw error;
    }
  }

  async getRange(key: string, start: number, length: number): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0);
    return this.read(key, `bytes=${start}-${start + length - 1}`);
  }

  async get(key: string): Promise<Buffer> {
    return this.read(key, undefined);
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      const result = await this.s3.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = (result.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        throw new Error(
          `S3 DeleteObjects failed for ${failed.length} keys: ${failed[0]?.Code} ${failed[0]?.Message}`,
        );
      }
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    for await (const page of paginateListObjectsV2(
      { client: this.s3 },
      { Bucket: this.bucket, Prefix: prefix },
    )) {
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield { key: object.Key, size: object.Size ?? 0, lastModified: object.LastModified?.getTime() ?? 0 };
      }
    }
  }

  private async read(key: string, range: string | undefined): Promise<Buffer> {
    try {
      const result = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(range ? { Range: range } : {}) }),
      );
      if (!result.Body) throw new Error(`S3 GetObject returned no body for '${key}'`);
      const bytes = await result.Body.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (error) {
      if (error instanceof NoSuchKey) throw new SegmentNotFoundError(key);
      if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404) {
        throw new SegmentNotFoundError(key);
      }
      throw error;
    }
  }
}

function crc32cBase64(body: Buffer): string {
  const checksum = Buffer.alloc(4);
  checksum.writeUInt32BE(crc32c(body) >>> 0);
  return checksum.toString('base64');
}
