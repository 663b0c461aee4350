import 'vitest';

/** Values that test/support/global-setup.ts hands to every test file (read them with `testEndpoints()`). */
declare module 'vitest' {
  export interface ProvidedContext {
    sluiceTestEnv: {
      /** DynamoDB endpoint, e.g. `http://127.0.0.1:41234` (DynamoDB Local) or a LocalStack URL. */
      dynamodbEndpoint: string;
      /** S3 endpoint; clients must use `forcePathStyle: true`. */
      s3Endpoint: string;
      region: string;
      /** A fresh bucket created for this test run. */
      bucket: string;
    };
  }
}
