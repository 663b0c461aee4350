/**
 * Worker thread: runs the in-process S3 emulator (fauxqs) on its own event loop, so its request handling does
 * not share the Sluice server's main thread. Posts `{ type: 's3-ready', endpoint }`; stops on `{ type: 'stop' }`.
 */
import { parentPort } from 'node:worker_threads';
import { startS3Emulator } from '../functions/local/s3-emulator.js';

const port = parentPort;
if (!port) throw new Error('s3-worker must run in a worker thread');

const emulator = await startS3Emulator();
port.on('message', (message: unknown) => {
  if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'stop') {
    emulator
      .stop()
      .catch(() => undefined)
      .finally(() => {
        port.postMessage({ type: 's3-stopped' });
        port.close();
      });
  }
});
port.postMessage({ type: 's3-ready', endpoint: emulator.endpoint });
