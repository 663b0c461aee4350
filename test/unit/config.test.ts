import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/config.js';

describe('configuration from the environment', () => {
  it('runs the embedded default when no AWS settings are given', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      backend: 'embedded',
      port: 8080,
      host: '127.0.0.1',
      dataDir: '.sluice',
      tablePrefix: 'sluice_',
      adminToken: undefined,
      endpoints: { s3: undefined, dynamodb: undefined },
    });
    expect(config.log.lingerMs).toBe(20);
    expect(config.log.maxFlushBytes).toBe(4 * 1024 * 1024);
  });

  it('reads the ARN of the admin token secret, and rejects anything that is not a Secrets Manager ARN', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:AdminTokenSecret-AbCdEf';
    expect(loadConfig({ SLUICE_ADMIN_TOKEN_SECRET_ARN: arn })).toMatchObject({
      adminToken: undefined,
      adminTokenSecretArn: arn,
    });
    expect(loadConfig({}).adminTokenSecretArn).toBeUndefined();
    expect(() => loadConfig({ SLUICE_ADMIN_TOKEN_SECRET_ARN: 'AdminTokenSecret' })).toThrow(
      /SLUICE_ADMIN_TOKEN_SECRET_ARN/,
    );
  });

  it('points at LocalStack with AWS_ENDPOINT_URL and a bucket, path-style and placeholder credentials', () => {
    const config = loadConfig({ AWS_ENDPOINT_URL: 'http://localhost:4566', SLUICE_BUCKET: 'segments' });
    expect(config).toMatchObject({
      backend: 'aws',
      bucket: 'segments',
      endpoints: { s3: 'http://localhost:4566', dynamodb: 'http://localhost:4566' },
      forcePathStyle: true,
      placeholderCredentials: true,
    });
  });

  it('takes per-service endpoints over the shared one', () => {
    const config = loadConfig({
      AWS_ENDPOINT_URL: 'http://localhost:4566',
      AWS_ENDPOINT_URL_DYNAMODB: 'http://localhost:8000',
      SLUICE_BUCKET: 'bucket',
      AWS_ACCESS_KEY_ID: 'AKIA...',
    });
    expect(config.endpoints).toEqual({ s3: 'http://localhost:4566', dynamodb: 'http://localhost:8000' });
    expect(config.placeholderCredentials).toBe(false);
  });

  it('uses real AWS with only a bucket', () => {
    const config = loadConfig({ SLUICE_BUCKET: 'prod-segments', AWS_REGION: 'eu-west-1' });
    expect(config).toMatchObject({
      backend: 'aws',
      region: 'eu-west-1',
      forcePathStyle: false,
      placeholderCredentials: false,
    });
  });

  it.each([
    [{ AWS_ENDPOINT_URL: 'http://localhost:4566' }, /SLUICE_BUCKET is required/],
    [{ PORT: 'eighty' }, /PORT/],
    [{ SLUICE_ADMIN_TOKEN: 'short' }, /at least 16/],
    [{ SLUICE_COMPRESSION: 'lz4' }, /SLUICE_COMPRESSION/],
    [{ AWS_ENDPOINT_URL: 'not a url', SLUICE_BUCKET: 'bucket' }, /AWS_ENDPOINT_URL/],
    [{ SLUICE_METRICS: 'statsd' }, /SLUICE_METRICS/],
    [{ SLUICE_METRICS_NAMESPACE: 'has space' }, /SLUICE_METRICS_NAMESPACE/],
    [{ SLUICE_MAINTENANCE_JOBS: 'compact,vacuum' }, /SLUICE_MAINTENANCE_JOBS/],
    [{ SLUICE_MAINTENANCE_JOBS: '' }, /SLUICE_MAINTENANCE_JOBS/],
    [{ SLUICE_GC_FUNCTION: 'gc' }, /set all of SLUICE_COMPACT_FUNCTION/],
  ])('refuses %o with a clear message', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('reads batching and compression settings', () => {
    const config = loadConfig({
      SLUICE_LINGER_MS: '250',
      SLUICE_MAX_FLUSH_BYTES: '1048576',
      SLUICE_COMPRESSION: 'zstd',
    });
    expect(config.log).toMatchObject({ lingerMs: 250, maxFlushBytes: 1048576, compression: 'zstd' });
  });

  it('reads metrics settings: off by default, EMF under a namespace and service when asked', () => {
    expect(loadConfig({}).metrics).toEqual({ kind: 'off', namespace: 'Sluice', service: 'sluice' });
    expect(
      loadConfig({
        SLUICE_METRICS: 'emf',
        SLUICE_METRICS_NAMESPACE: 'Acme/Sluice',
        SLUICE_METRICS_SERVICE: 'prod',
      }).metrics,
    ).toEqual({ kind: 'emf', namespace: 'Acme/Sluice', service: 'prod' });
  });

  it('reads which jobs a maintenance function runs (all by default) and where the job functions are', () => {
    expect(loadConfig({}).maintenanceJobs).toEqual(['compact', 'retention', 'gc', 'lag']);
    expect(loadConfig({ SLUICE_MAINTENANCE_JOBS: 'gc' }).maintenanceJobs).toEqual(['gc']);
    expect(loadConfig({ SLUICE_MAINTENANCE_JOBS: 'compact, lag' }).maintenanceJobs).toEqual([
      'compact',
      'lag',
    ]);
    expect(loadConfig({}).maintenanceFunctions).toBeUndefined();
    expect(
      loadConfig({ SLUICE_COMPACT_FUNCTION: 'c', SLUICE_RETENTION_FUNCTION: 'r', SLUICE_GC_FUNCTION: 'g' })
        .maintenanceFunctions,
    ).toEqual({ compact: 'c', retention: 'r', gc: 'g' });
  });
});
