/**
 * Batch payload codecs, all asynchronous: the work runs off the event loop (libuv's thread pool), so a big
 * segment compressing or decompressing does not stall other requests of the process.
 *
 * gzip uses node:zlib. zstd uses node:zlib's built-in zstd where the runtime has it (Node ≥ 22.15, the
 * Lambda runtime) and otherwise `@mongodb-js/zstd` (prebuilt per-platform binaries, no install script),
 * imported lazily, once, so that the native module is only loaded by a process that actually meets a zstd
 * batch on a runtime without built-in zstd.
 */
import { constants as bufferConstants } from 'node:buffer';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { CorruptBatchError } from '../errors.js';
import type { Compression } from '../types.js';

interface ZstdCodec {
  compress(data: Buffer): Promise<Buffer>;
  /**
   * `maxOutputLength` bounds the memory a corrupt or hostile frame can make us allocate where supported
   * (node:zlib); `@mongodb-js/zstd` has no such bound and the caller checks the length afterwards.
   */
  decompress(data: Buffer, maxOutputLength: number | undefined): Promise<Buffer>;
}

type ZlibCallback = (error: Error | null, result: Buffer) => void;

/** node:zlib as of Node 22.15 / 23.8; @types/node 20 does not describe the zstd functions. */
type ZlibWithZstd = typeof zlib & {
  zstdCompress?: (data: Buffer, options: object, callback: ZlibCallback) => void;
  zstdDecompress?: (data: Buffer, options: { maxOutputLength?: number }, callback: ZlibCallback) => void;
};

const MAX_LENGTH = bufferConstants.MAX_LENGTH;

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

let zstdCodec: Promise<ZstdCodec> | undefined;

/** Wraps a node:zlib callback function; a synchronous throw (bad options) becomes a rejection too. */
function viaCallback(
  fn: (data: Buffer, options: object, callback: ZlibCallback) => void,
  data: Buffer,
  options: object,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    fn(data, options, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

async function loadZstd(): Promise<ZstdCodec> {
  const z = zlib as ZlibWithZstd;
  const nativeCompress = z.zstdCompress;
  const nativeDecompress = z.zstdDecompress;
  if (typeof nativeCompress === 'function' && typeof nativeDecompress === 'function') {
    return {
      compress: (data) => viaCallback(nativeCompress, data, {}),
      decompress: (data, maxOutputLength) =>
        viaCallback(nativeDecompress, data, maxOutputLength === undefined ? {} : { maxOutputLength }),
    };
  }
  const zstd = await import('@mongodb-js/zstd');
  return {
    compress: (data) => zstd.compress(data),
    decompress: (data) => zstd.decompress(data),
  };
}

/** The zstd codec of this runtime, loaded once (concurrent first callers share the load). */
function zstd(): Promise<ZstdCodec> {
  if (zstdCodec === undefined) {
    zstdCodec = loadZstd().catch((error: unknown) => {
      zstdCodec = undefined; // let a later call try again
      throw error;
    });
  }
  return zstdCodec;
}

/** Compresses `data`; 'none' returns `data` itself (no copy). */
export async function compress(codec: Compression, data: Buffer): Promise<Buffer> {
  switch (codec) {
    case 'none':
      return data;
    case 'gzip':
      return gzip(data);
    case 'zstd':
      return (await zstd()).compress(data);
    default: {
      const unknown: never = codec;
      throw new TypeError(`unknown compression codec '${String(unknown)}'`);
    }
  }
}

/**
 * Decompresses `data` ('none' gives `data` itself back). When `expectedLength` is given the output must be
 * exactly that long (it also caps the allocation where the codec supports it). Any failure of the payload,
 * corrupt input included, is a CorruptBatchError; failing to load the zstd module is not, and propagates.
 */
export async function decompress(codec: Compression, data: Buffer, expectedLength?: number): Promise<Buffer> {
  const limit = expectedLength === undefined ? undefined : Math.min(Math.max(1, expectedLength), MAX_LENGTH);
  let out: Buffer;
  switch (codec) {
    case 'none':
      out = data;
      break;
    case 'gzip':
      out = await mapFailure(codec, gunzip(data, limit === undefined ? {} : { maxOutputLength: limit }));
      break;
    case 'zstd': {
      const codecImpl = await zstd();
      out = await mapFailure(codec, codecImpl.decompress(data, limit));
      break;
    }
    default: {
      const unknown: never = codec;
      throw new CorruptBatchError(`unknown compression codec '${String(unknown)}'`);
    }
  }
  if (expectedLength !== undefined && out.length !== expectedLength) {
    throw new CorruptBatchError(
      `${codec} payload decompresses to ${out.length} bytes, the batch says ${expectedLength}`,
    );
  }
  return out;
}

async function mapFailure(codec: Compression, result: Promise<Buffer>): Promise<Buffer> {
  try {
    return await result;
  } catch (error) {
    throw new CorruptBatchError(`${codec} payload does not decompress: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
