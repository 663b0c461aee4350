/**
 * Batch payload codecs. gzip uses node:zlib. zstd uses node:zlib's built-in zstd where the runtime has it
 * (Node ≥ 22.15, the Lambda runtime) and otherwise the `zstd-napi` package, required lazily so that the
 * native module is only loaded by a process that actually meets a zstd batch.
 */
import { constants as bufferConstants } from 'node:buffer';
import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { CorruptBatchError } from '../errors.js';
import type { Compression } from '../types.js';

interface ZstdCodec {
  compress(data: Uint8Array): Buffer;
  /** `maxOutputLength` bounds the memory a corrupt or hostile frame can make us allocate, where supported. */
  decompress(data: Uint8Array, maxOutputLength: number | undefined): Buffer;
}

/** node:zlib as of Node 22.15 / 23.8; @types/node 20 does not describe the zstd functions. */
type ZlibWithZstd = typeof zlib & {
  zstdCompressSync?: (data: Uint8Array) => Buffer;
  zstdDecompressSync?: (data: Uint8Array, options?: { maxOutputLength?: number }) => Buffer;
};

interface ZstdNapi {
  compress(data: Uint8Array): Buffer;
  decompress(data: Uint8Array): Buffer;
}

const MAX_LENGTH = bufferConstants.MAX_LENGTH;

let zstdCodec: ZstdCodec | undefined;

function zstd(): ZstdCodec {
  if (zstdCodec !== undefined) return zstdCodec;
  const z = zlib as ZlibWithZstd;
  const nativeCompress = z.zstdCompressSync;
  const nativeDecompress = z.zstdDecompressSync;
  if (typeof nativeCompress === 'function' && typeof nativeDecompress === 'function') {
    zstdCodec = {
      compress: (data) => nativeCompress(data),
      decompress: (data, maxOutputLength) =>
        maxOutputLength === undefined ? nativeDecompress(data) : nativeDecompress(data, { maxOutputLength }),
    };
  } else {
    const require = createRequire(import.meta.url);
    const napi = require('zstd-napi') as ZstdNapi;
    zstdCodec = {
      compress: (data) => napi.compress(data),
      decompress: (data) => napi.decompress(data),
    };
  }
  return zstdCodec;
}

export function compress(codec: Compression, data: Buffer): Buffer {
  switch (codec) {
    case 'none':
      return data;
    case 'gzip':
      return zlib.gzipSync(data);
    case 'zstd':
      return zstd().compress(data);
    default:
      throw new TypeError(`unknown compression codec '${String(codec)}'`);
  }
}

/**
 * Decompresses `data`. When `expectedLength` is given the output must be exactly that long (it also caps
 * the allocation). Any failure, corrupt input included, is a CorruptBatchError.
 */
export function decompress(codec: Compression, data: Buffer, expectedLength?: number): Buffer {
  const limit = expectedLength === undefined ? undefined : Math.min(Math.max(1, expectedLength), MAX_LENGTH);
  let out: Buffer;
  try {
    switch (codec) {
      case 'none':
        out = data;
        break;
      case 'gzip':
        out = limit === undefined ? zlib.gunzipSync(data) : zlib.gunzipSync(data, { maxOutputLength: limit });
        break;
      case 'zstd':
        out = zstd().decompress(data, limit);
        break;
      default:
        throw new CorruptBatchError(`unknown compression codec '${String(codec)}'`);
    }
  } catch (error) {
    if (error instanceof CorruptBatchError) throw error;
    throw new CorruptBatchError(`${codec} payload does not decompress: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (expectedLength !== undefined && out.length !== expectedLength) {
    throw new CorruptBatchError(
      `${codec} payload decompresses to ${out.length} bytes, the batch says ${expectedLength}`,
    );
  }
  return out;
}
