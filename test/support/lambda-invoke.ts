import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export type InvokeHandler = (event: unknown) => Promise<unknown>;

/**
 * Lambda's Invoke API (`POST /2015-03-31/functions/{name}/invocations`, RequestResponse) in front of real
 * handlers, for the SDK's LambdaClient to call over HTTP: a handler's result is the 200 payload; a throw
 * is a 200 with `X-Amz-Function-Error: Unhandled` and `{ errorType, errorMessage }`, as Lambda answers; an
 * unknown function is a 404 ResourceNotFoundException.
 */
export async function startLambdaInvokeEmulator(functions: Record<string, InvokeHandler>) {
  const invocations: Array<{ functionName: string; event: unknown }> = [];
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(request.url ?? '');
    const functionName = match ? decodeURIComponent(match[1] ?? '') : '';
    const handler = functions[functionName];
    if (request.method !== 'POST' || !handler) {
      response.writeHead(404, {
        'content-type': 'application/json',
        'x-amzn-errortype': 'ResourceNotFoundException',
      });
      response.end(JSON.stringify({ Type: 'User', message: `Function not found: ${functionName}` }));
      return;
    }
    const event = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') as unknown;
    invocations.push({ functionName, event });
    try {
      const result = await handler(event);
      response.writeHead(200, { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST' });
      response.end(JSON.stringify(result ?? null));
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      response.writeHead(200, {
        'content-type': 'application/json',
        'x-amz-executed-version': '$LATEST',
        'x-amz-function-error': 'Unhandled',
      });
      response.end(JSON.stringify({ errorType: err.name, errorMessage: err.message }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    invocations,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
