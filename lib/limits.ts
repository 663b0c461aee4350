/** Request limits of SPEC.md §3. All are defaults; the server's configuration may override them. */
export interface Limits {
  maxRequestBytes: number;
  maxRecordsPerRequest: number;
  maxHeadersPerRecord: number;
  maxPartitionsPerTopic: number;
  /** Bounded by DynamoDB's TransactWriteItems (100 items): one index item per partition touched. */
  maxPartitionsPerRequest: number;
  maxFetchWaitMs: number;
  maxFetchRecords: number;
  maxFetchBytes: number;
  /** How deeply a JSON value (a produced record's, a webhook body) may nest arrays and objects. */
  maxJsonDepth: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxRequestBytes: 6 * 1024 * 1024,
  maxRecordsPerRequest: 10_000,
  maxHeadersPerRecord: 64,
  maxPartitionsPerTopic: 1000,
  maxPartitionsPerRequest: 100,
  maxFetchWaitMs: 20_000,
  maxFetchRecords: 10_000,
  maxFetchBytes: 8 * 1024 * 1024,
  maxJsonDepth: 64,
};
