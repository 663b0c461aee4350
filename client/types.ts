/**
 * The client's types, derived from the zod schemas the server validates with (functions/http/*.ts). Only
 * types are imported (`import type`), so nothing of the server is loaded at run time; a schema change that
 * breaks the client fails the typecheck (test/unit/client-schema-types.test.ts pins the link).
 */
import type { z } from '@hono/zod-openapi';
import type { MaintenanceBody, MaintenanceReportSchema } from '../functions/http/admin-routes.js';
import type {
  CommitBody,
  GroupListSchema,
  GroupSchema,
  HeartbeatResult,
  JoinBody,
  JoinResult,
  MemberFetchResultSchema,
  ResetBody,
  ResetResult,
  TopicPartitionSchema,
} from '../functions/http/groups-routes.js';
import type {
  CreatedKeySchema,
  CreateKeyBody,
  KeyListSchema,
  KeySchema,
} from '../functions/http/keys-routes.js';
import type {
  CreateTopicBody,
  FetchedRecordSchema,
  FetchResultSchema,
  OffsetResult,
  PartitionsSchema,
  PatchTopicBody,
  ProduceBody,
  ProduceRecord as ProduceRecordSchema,
  ProduceResult,
  TopicListSchema,
  TopicSchema,
} from '../functions/http/schemas.js';
import type { PutSourceBody, SourceListView, SourceView } from '../functions/http/webhooks-routes.js';

// Topics
export type CreateTopicInput = z.input<typeof CreateTopicBody>;
export type AlterTopicInput = z.input<typeof PatchTopicBody>;
export type Topic = z.infer<typeof TopicSchema>;
export type TopicConfig = Topic['config'];
export type TopicList = z.infer<typeof TopicListSchema>;
export type TopicSummary = TopicList['topics'][number];
export type PartitionInfo = z.infer<typeof PartitionsSchema>['partitions'][number];
export type OffsetForTimestamp = z.infer<typeof OffsetResult>;

// Produce
/** One record to produce: `{ key?, value, headers?, partition?, timestamp? }`. */
export type ProduceRecord = z.input<typeof ProduceRecordSchema>;
/** How the values of a request are given: `json` (default), `text` or `binary` (base64). */
export type RecordFormat = NonNullable<z.input<typeof ProduceBody>['format']>;
/** Where one produced record landed: `{ partition, offset, timestamp }`. */
export type RecordAck = z.infer<typeof ProduceResult>['offsets'][number];

// Fetch
export type PartitionRecord = z.infer<typeof FetchedRecordSchema>;
export type FetchResult = z.infer<typeof FetchResultSchema>;

// Groups
export type TopicPartition = z.infer<typeof TopicPartitionSchema>;
export type JoinInput = z.input<typeof JoinBody>;
export type Joined = z.infer<typeof JoinResult>;
export type Heartbeat = z.infer<typeof HeartbeatResult>;
export type MemberFetchResult = z.infer<typeof MemberFetchResultSchema>;
/** A record a consumer receives: `{ topic, partition, offset, key, value, headers, timestamp, format }`. */
export type ConsumerRecord = MemberFetchResult['records'][number];
export type CommitInput = z.input<typeof CommitBody>;
export type CommitOffset = CommitInput['offsets'][number];
export type ResetInput = z.input<typeof ResetBody>;
export type ResetOutput = z.infer<typeof ResetResult>;
export type GroupList = z.infer<typeof GroupListSchema>;
export type GroupSummary = GroupList['groups'][number];
export type GroupDescription = z.infer<typeof GroupSchema>;

// Keys
export type CreateKeyInput = z.input<typeof CreateKeyBody>;
export type CreatedKey = z.infer<typeof CreatedKeySchema>;
export type ApiKey = z.infer<typeof KeySchema>;
export type KeyList = z.infer<typeof KeyListSchema>;

// Webhook sources
export type WebhookSourceInput = z.input<typeof PutSourceBody>;
export type WebhookSource = z.infer<typeof SourceView>;
export type WebhookSourceList = z.infer<typeof SourceListView>;

// Maintenance
export type MaintenanceInput = z.input<typeof MaintenanceBody>;
export type MaintenanceReport = z.infer<typeof MaintenanceReportSchema>;
export type MaintenanceJob = MaintenanceReport['job'];
