import { type HttpClient, segment } from './http.js';
import type {
  AlterTopicInput,
  ApiKey,
  CreatedKey,
  CreateKeyInput,
  CreateTopicInput,
  FetchResult,
  GroupDescription,
  GroupSummary,
  KeyList,
  MaintenanceInput,
  MaintenanceJob,
  MaintenanceReport,
  OffsetForTimestamp,
  PartitionInfo,
  ResetInput,
  ResetOutput,
  Topic,
  TopicList,
  TopicSummary,
  WebhookSource,
  WebhookSourceInput,
  WebhookSourceList,
} from './types.js';

/** `sluice.topics`: create, list, describe, alter and delete topics; their partitions; offsets by time. */
export class Topics {
  constructor(private readonly http: HttpClient) {}

  /** `POST /v1/topics` → the topic with its full config (409 TOPIC_EXISTS if the name is taken). */
  async create(input: CreateTopicInput): Promise<Topic> {
    return (await this.http.request<Topic>('POST', '/v1/topics', { body: input })).body;
  }

  /** `GET /v1/topics`: the topics the caller holds any permission on. */
  async list(): Promise<TopicSummary[]> {
    return (await this.http.request<TopicList>('GET', '/v1/topics')).body.topics;
  }

  /** `GET /v1/topics/{topic}`. */
  async get(topic: string): Promise<Topic> {
    return (await this.http.request<Topic>('GET', `/v1/topics/${segment(topic)}`)).body;
  }

  /** The same as `get`. */
  describe(topic: string): Promise<Topic> {
    return this.get(topic);
  }

  /** `PATCH /v1/topics/{topic}`: add partitions (they may only grow) or change config fields. */
  async alter(topic: string, input: AlterTopicInput): Promise<Topic> {
    return (
      await this.http.request<Topic>('PATCH', `/v1/topics/${segment(topic)}`, { body: input, retry: true })
    ).body;
  }

  /** `DELETE /v1/topics/{topic}`; its data is removed in the background. */
  async delete(topic: string): Promise<void> {
    await this.http.request('DELETE', `/v1/topics/${segment(topic)}`);
  }

  /** `GET /v1/topics/{topic}/partitions`: log start, high watermark, segments and size per partition. */
  async partitions(topic: string): Promise<PartitionInfo[]> {
    return (
      await this.http.request<{ partitions: PartitionInfo[] }>(
        'GET',
        `/v1/topics/${segment(topic)}/partitions`,
      )
    ).body.partitions;
  }

  /** The first offset whose timestamp is ≥ `timestamp` (epoch ms), or the high watermark if none is. */
  async offsetForTimestamp(topic: string, partition: number, timestamp: number): Promise<number> {
    const path = `/v1/topics/${segment(topic)}/partitions/${segment(partition)}/offsets`;
    return (await this.http.request<OffsetForTimestamp>('GET', path, { query: { timestamp } })).body.offset;
  }
}

/** Where a one-partition read starts and how much it returns. */
export interface ReadOptions {
  offset?: number | 'earliest' | 'latest';
  maxRecords?: number;
  maxBytes?: number;
  /** Long-poll up to this long (≤ 20,000 ms) for a record when none is there yet. */
  waitMs?: number;
  signal?: AbortSignal;
}

/** `GET /v1/topics/{topic}/partitions/{p}/records`: one read of one partition. */
export async function readPartition(
  http: HttpClient,
  topic: string,
  partition: number,
  options: ReadOptions = {},
): Promise<FetchResult> {
  const path = `/v1/topics/${segment(topic)}/partitions/${segment(partition)}/records`;
  return (
    await http.request<FetchResult>('GET', path, {
      query: {
        offset: options.offset,
        maxRecords: options.maxRecords,
        maxBytes: options.maxBytes,
        waitMs: options.waitMs,
      },
      ...(options.waitMs !== undefined ? { waitMs: options.waitMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    })
  ).body;
}

/** `sluice.keys`: API keys (admin token only). */
export class Keys {
  constructor(private readonly http: HttpClient) {}

  /** `POST /v1/keys` → the key with its token (shown this once). */
  async create(input: CreateKeyInput): Promise<CreatedKey> {
    return (await this.http.request<CreatedKey>('POST', '/v1/keys', { body: input })).body;
  }

  async list(): Promise<ApiKey[]> {
    return (await this.http.request<KeyList>('GET', '/v1/keys')).body.keys;
  }

  /** `DELETE /v1/keys/{id}`: every instance refuses the key within the key cache's bound. */
  async revoke(id: string): Promise<void> {
    await this.http.request('DELETE', `/v1/keys/${segment(id)}`);
  }
}

/** `sluice.groups`: list, describe and reset consumer groups (members are `sluice.consumer`). */
export class Groups {
  constructor(private readonly http: HttpClient) {}

  async list(): Promise<GroupSummary[]> {
    return (await this.http.request<{ groups: GroupSummary[] }>('GET', '/v1/groups')).body.groups;
  }

  /** Members, assignments, and per partition the committed offset, high watermark and lag. */
  async describe(group: string): Promise<GroupDescription> {
    return (await this.http.request<GroupDescription>('GET', `/v1/groups/${segment(group)}`)).body;
  }

  /** Resets the group's committed offsets (only while it has no live member). */
  async reset(group: string, input: ResetInput): Promise<ResetOutput['offsets']> {
    return (
      await this.http.request<ResetOutput>('POST', `/v1/groups/${segment(group)}/offsets/reset`, {
        body: input,
      })
    ).body.offsets;
  }
}

/** `sluice.webhooks`: webhook sources (their secrets are never shown). */
export class Webhooks {
  constructor(private readonly http: HttpClient) {}

  /** `PUT /v1/webhooks/{source}`: creates or replaces the source. */
  async set(source: string, input: WebhookSourceInput): Promise<WebhookSource> {
    return (
      await this.http.request<WebhookSource>('PUT', `/v1/webhooks/${segment(source)}`, {
        body: input,
        retry: true,
      })
    ).body;
  }

  async get(source: string): Promise<WebhookSource> {
    return (await this.http.request<WebhookSource>('GET', `/v1/webhooks/${segment(source)}`)).body;
  }

  async list(): Promise<WebhookSource[]> {
    return (await this.http.request<WebhookSourceList>('GET', '/v1/webhooks')).body.sources;
  }

  async delete(source: string): Promise<void> {
    await this.http.request('DELETE', `/v1/webhooks/${segment(source)}`);
  }
}

/** `sluice.maintenance`: run one pass of a job now (admin token only). */
export class Maintenance {
  constructor(private readonly http: HttpClient) {}

  async run(job: MaintenanceJob, input?: MaintenanceInput): Promise<MaintenanceReport> {
    return (
      await this.http.request<MaintenanceReport>('POST', `/v1/admin/maintenance/${segment(job)}`, {
        ...(input !== undefined ? { body: input } : {}),
      })
    ).body;
  }

  compact(input?: MaintenanceInput): Promise<MaintenanceReport> {
    return this.run('compact', input);
  }

  retention(): Promise<MaintenanceReport> {
    return this.run('retention');
  }

  gc(): Promise<MaintenanceReport> {
    return this.run('gc');
  }
}
