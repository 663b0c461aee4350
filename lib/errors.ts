/**
 * Every error the engine raises is a SluiceError with a contract `code` (SPEC.md §2) and a `retriable`
 * flag. The HTTP layer maps codes to status codes in one place (functions/http/errors.ts). ERROR_CODES
 * lists every contract code once: the ErrorCode type and the OpenAPI document's `Problem.code` enum derive
 * from it.
 */
export const ERROR_CODES = [
  'INVALID_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'TOPIC_NOT_FOUND',
  'GROUP_NOT_FOUND',
  'TOPIC_EXISTS',
  'PARTITION_NOT_FOUND',
  'RECORD_TOO_LARGE',
  'REQUEST_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'OFFSET_OUT_OF_RANGE',
  'UNKNOWN_MEMBER',
  'FENCED',
  'REBALANCE_IN_PROGRESS',
  'IDEMPOTENCY_KEY_REUSED',
  'CONFLICT',
  'THROTTLED',
  'WEBHOOK_SIGNATURE_INVALID',
  'WEBHOOK_NOT_FOUND',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface SluiceErrorOptions {
  retriable?: boolean;
  cause?: unknown;
  /** Extra members for the problem+json body (for example logStartOffset and highWatermark). */
  details?: Record<string, unknown>;
}

export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: SluiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.details = options.details ?? {};
  }
}

export class InvalidRequestError extends SluiceError {
  constructor(message: string, options?: SluiceErrorOptions) {
    super('INVALID_REQUEST', message, options);
  }
}

export class TopicNotFoundError extends SluiceError {
  constructor(topic: string) {
    super('TOPIC_NOT_FOUND', `topic '${topic}' does not exist`);
  }
}

export class TopicExistsError extends SluiceError {
  constructor(topic: string) {
    super('TOPIC_EXISTS', `topic '${topic}' already exists`);
  }
}

export class PartitionNotFoundError extends SluiceError {
  constructor(topic: string, partition: number, partitions: number) {
    super('PARTITION_NOT_FOUND', `topic '${topic}' has no partition ${partition} (it has ${partitions})`);
  }
}

export class RecordTooLargeError extends SluiceError {
  constructor(index: number, size: number, limit: number) {
    super(
      'RECORD_TOO_LARGE',
      `record ${index} is ${size} bytes, over the topic's maxRecordBytes of ${limit}`,
    );
  }
}

export class RequestTooLargeError extends SluiceError {
  constructor(message: string) {
    super('REQUEST_TOO_LARGE', message);
  }
}

export class OffsetOutOfRangeError extends SluiceError {
  constructor(offset: number, logStartOffset: number, highWatermark: number) {
    super(
      'OFFSET_OUT_OF_RANGE',
      `offset ${offset} is outside the log [${logStartOffset}, ${highWatermark}]`,
      { details: { logStartOffset, highWatermark } },
    );
  }
}

/** Too much contention to commit within the retry bound; the client may retry. */
export class ThrottledError extends SluiceError {
  constructor(message: string, options: SluiceErrorOptions = {}) {
    super('THROTTLED', message, { ...options, retriable: true });
  }
}

/** A batch whose bytes do not match their checksum, or whose structure cannot be parsed. Never data. */
export class CorruptBatchError extends SluiceError {
  constructor(message: string, options: SluiceErrorOptions = {}) {
    super('INTERNAL', `corrupt segment data: ${message}`, options);
  }
}

export class IdempotencyKeyReusedError extends SluiceError {
  constructor(key: string) {
    super(
      'IDEMPOTENCY_KEY_REUSED',
      `Idempotency-Key '${key}' was already used with a different request body (keys are kept for 24 h)`,
    );
  }
}

export class ConflictError extends SluiceError {
  constructor(message: string, options: SluiceErrorOptions = {}) {
    super('CONFLICT', message, { retriable: true, ...options });
  }
}

export class GroupNotFoundError extends SluiceError {
  constructor(group: string) {
    super('GROUP_NOT_FOUND', `consumer group '${group}' does not exist`);
  }
}

/** The member is not in the group (never joined, left, or its session expired): it must join again. */
export class UnknownMemberError extends SluiceError {
  constructor(group: string, memberId: string) {
    super(
      'UNKNOWN_MEMBER',
      `member '${memberId}' is not in group '${group}' (its session expired or it left): join again`,
    );
  }
}

/** A commit from a stale generation, or for a partition the member does not own. */
export class FencedError extends SluiceError {
  constructor(message: string, generation: number) {
    super('FENCED', message, { details: { generation } });
  }
}

/** The member's assignment changed since its cursor was issued: heartbeat to learn the new one. */
export class RebalanceInProgressError extends SluiceError {
  constructor(group: string, generation: number) {
    super(
      'REBALANCE_IN_PROGRESS',
      `group '${group}' moved to generation ${generation} and this member's assignment changed: heartbeat to ` +
        'learn it, then fetch without a cursor (from the committed offsets)',
      { details: { generation }, retriable: true },
    );
  }
}
