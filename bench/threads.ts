import { Worker } from 'node:worker_threads';

/**
 * Starts a TypeScript module in a worker thread (its own event loop and V8 isolate).
 *
 * tsx's loader does not reach worker threads when it is only in the parent's execArgv on Node 20, so the
 * worker is a small eval'd bootstrap that registers tsx's ESM hooks first and then imports the module.
 * Other flags of the parent (for example `--cpu-prof`) are passed on.
 */
export function startTsWorker(moduleUrl: URL, workerData: unknown, name: string): Worker {
  const api = import.meta.resolve('tsx/esm/api');
  const code = [
    `import(${JSON.stringify(api)})`,
    `.then((tsx) => { tsx.register(); return import(${JSON.stringify(moduleUrl.href)}); })`,
    '.catch((error) => { console.error(error); process.exit(1); });',
  ].join('');
  const execArgv = withoutTsxFlags(process.execArgv);
  return new Worker(code, { eval: true, workerData, execArgv, name });
}

function withoutTsxFlags(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const next = args[i + 1];
    if (
      (arg === '--require' || arg === '--import' || arg === '--loader') &&
      next !== undefined &&
      next.includes('tsx')
    ) {
      i++;
      continue;
    }
    if (/^--(require|import|loader)=.*tsx/.test(arg)) continue;
    out.push(arg);
  }
  return out;
}

/** Resolves with the first message of the worker that satisfies `accept`; rejects if it fails or exits first. */
export function nextMessage<T>(
  worker: Worker,
  accept: (message: unknown) => message is T,
  timeoutMs = 0,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      if (timer) clearTimeout(timer);
    };
    const onMessage = (message: unknown) => {
      if (!accept(message)) return;
      cleanup();
      resolve(message);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`worker exited (code ${code}) before sending the expected message`));
    };
    worker.on('message', onMessage);
    worker.once('error', onError);
    worker.once('exit', onExit);
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no message from the worker within ${timeoutMs} ms`));
      }, timeoutMs);
    }
  });
}

export function isObjectWith<K extends string>(
  message: unknown,
  key: K,
  value: string,
): message is Record<K, string> {
  return (
    typeof message === 'object' && message !== null && (message as Record<string, unknown>)[key] === value
  );
}
