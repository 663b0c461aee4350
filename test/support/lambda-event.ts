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
