/** What one pass of a maintenance job did: the body of `POST /v1/admin/maintenance/{job}` and its log line. */
export interface MaintenanceReport {
  job: MaintenanceJob;
  startedAt: number;
  durationMs: number;
  /** False when the pass stopped at its work budget; the next pass resumes where it stopped. */
  complete: boolean;
  partitions: number;
  batches: { read: number; written: number; deleted: number };
  objects: { read: number; written: number; deleted: number };
  bytes: { read: number; written: number; deleted: number };
  /**
   * DynamoDB capacity units this pass used, computed from AWS's billing rules from the requests it made
   * (DynamoDB Local does not report them faithfully): reads 1 unit per 4 KB (strongly consistent),
   * writes 1 unit per 1 KB, doubled inside transactions.
   */
  dynamodb: { readUnits: number; writeUnits: number };
  /** Job-specific counts (for example logStartOffsetsAdvanced, orphansMarked). */
  details: Record<string, number>;
}

export const MAINTENANCE_JOBS = ['compact', 'retention', 'gc'] as const;
export type MaintenanceJob = (typeof MAINTENANCE_JOBS)[number];

/** What the scheduled functions run: the three passes, and measuring consumer lag (lib/groups/lag.ts). */
export const SCHEDULED_JOBS = [...MAINTENANCE_JOBS, 'lag'] as const;
export type ScheduledJob = (typeof SCHEDULED_JOBS)[number];

/** An index item is about 250–300 bytes (a compacted one carries its origin too): ~13 per 4 KB read unit. */
const INDEX_ITEMS_PER_READ_UNIT = 13;

/** Accumulates a report while a job runs. */
export class ReportBuilder {
  private readonly report: MaintenanceReport;
  private readonly objectsSeen = new Set<string>();

  constructor(job: MaintenanceJob, startedAt: number) {
    this.report = {
      job,
      startedAt,
      durationMs: 0,
      complete: true,
      partitions: 0,
      batches: { read: 0, written: 0, deleted: 0 },
      objects: { read: 0, written: 0, deleted: 0 },
      bytes: { read: 0, written: 0, deleted: 0 },
      dynamodb: { readUnits: 0, writeUnits: 0 },
      details: {},
    };
  }

  get current(): MaintenanceReport {
    return this.report;
  }

  /** Index items read by a query or scan (strongly consistent unless `eventual`). */
  indexItemsRead(count: number, eventual = false): void {
    const units = Math.ceil(count / INDEX_ITEMS_PER_READ_UNIT) || 1;
    this.report.dynamodb.readUnits += eventual ? units / 2 : units;
  }

  /** Small items (< 1 KB) written or deleted, `transactional` ones at twice the price. */
  itemsWritten(count: number, transactional = false): void {
    this.report.dynamodb.writeUnits += transactional ? 2 * count : count;
  }

  /** Small items read one by one (GetItem, conditional checks' reads are free). */
  itemsRead(count: number): void {
    this.report.dynamodb.readUnits += count;
  }

  /** Objects read: each counted once per pass, however many runs or partitions read from it. */
  objectsRead(keys: readonly string[]): void {
    for (const key of keys) this.objectsSeen.add(key);
    this.report.objects.read = this.objectsSeen.size;
  }

  count(name: string, by = 1): void {
    this.report.details[name] = (this.report.details[name] ?? 0) + by;
  }

  finish(now: number, complete: boolean): MaintenanceReport {
    this.report.durationMs = now - this.report.startedAt;
    this.report.complete = complete;
    return this.report;
  }
}
