/**
 * The one place that reads the AWS SDK's error shapes for a DynamoDB write whose answer did not come: a
 * timeout, a reset or hung-up connection, a 5xx, or a throttle. Such a write may have been applied or not;
 * the adapter turns it into a port error (`CommitOutcomeUnknownError`) so that no use case matches SDK names.
 */
export function isOutcomeUnknown(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const name = error.name;
  const meta = (error as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return (
    name === 'TimeoutError' ||
    name === 'RequestTimeout' ||
    name === 'AbortError' ||
    /ECONNRESET|ETIMEDOUT|EPIPE|socket hang up/i.test(error.message) ||
    (meta?.httpStatusCode !== undefined && meta.httpStatusCode >= 500) ||
    name === 'ProvisionedThroughputExceededException' ||
    name === 'ThrottlingException' ||
    name === 'InternalServerError' ||
    name === 'TransactionInProgressException'
  );
}
