import { Writable } from 'node:stream';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/** A Lambda function URL / API Gateway v2 event, as the Lambda entry point receives it. */
export function lambdaEvent(
  method: string,
  path: string,
  options: { token: string; body?: unknown; query?: string; headers?: Record<string, string> },
): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: options.query ?? '',
    headers: {
      authorization: `Bearer ${options.token}`,
      'content-type': 'application/json',
      host: 'lambda.test',
      ...options.headers,
    },
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'lambda.test',
      domainPrefix: 'lambda',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: 'id',
      routeKey: '$default',
      stage: '$default',
      time: '',
      timeEpoch: 0,
    },
    isBase64Encoded: false,
    body: options.body === undefined ? null : JSON.stringify(options.body),
  } as APIGatewayProxyEventV2;
}

export interface LambdaStreamResult {
  metadata: { statusCode?: number; headers?: Record<string, string> } | undefined;
  body: string;
}

/**
 * What Lambda's Node.js runtime provides to a response-streaming handler: `awslambda.streamifyResponse`
 * marks the handler, and `HttpResponseStream.from` sends the status and headers before the body.
 */
export function stubAwsLambdaGlobals(): { restore(): void } {
  const holder = globalThis as unknown as { awslambda?: unknown };
  const previous = holder.awslambda;
  holder.awslambda = {
    streamifyResponse: <T>(handler: T) => handler,
    HttpResponseStream: {
      from: (stream: Writable & { metadata?: unknown }, metadata: unknown) => {
        stream.metadata = metadata;
        return stream;
      },
    },
  };
  return {
    restore: () => {
      holder.awslambda = previous;
    },
  };
}

export function responseStream(): Writable & { metadata?: LambdaStreamResult['metadata']; text(): string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      callback();
    },
  }) as Writable & { metadata?: LambdaStreamResult['metadata']; text(): string };
  stream.text = () => Buffer.concat(chunks).toString('utf8');
  return stream;
}
