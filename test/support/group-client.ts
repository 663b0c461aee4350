import type { TestServer } from './server.js';

export interface GroupRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: unknown;
}

/** One consumer-group member driven over HTTP, as a client library would: join, fetch, commit, heartbeat. */
export class TestMember {
  memberId = '';
  generation = 0;
  assignments: Array<{ topic: string; partition: number }> = [];
  cursor: string | undefined;

  constructor(
    private readonly server: Pick<TestServer, 'api'>,
    readonly group: string,
    readonly topics: string[],
    private readonly options: {
      sessionTimeoutMs?: number;
      autoOffsetReset?: 'earliest' | 'latest';
      auth?: string;
    } = {},
  ) {}

  async join(): Promise<this> {
    const res = await this.server.api('POST', `/v1/groups/${this.group}/members`, {
      body: {
        topics: this.topics,
        ...(this.memberId ? { memberId: this.memberId } : {}),
        sessionTimeoutMs: this.options.sessionTimeoutMs ?? 30_000,
        autoOffsetReset: this.options.autoOffsetReset ?? 'earliest',
      },
      ...(this.options.auth ? { auth: this.options.auth } : {}),
    });
    if (res.status !== 200) throw new Error(`join: ${res.status} ${res.text}`);
    this.memberId = res.json.memberId;
    this.generation = res.json.generation;
    this.assignments = res.json.assignments;
    this.cursor = undefined;
    return this;
  }

  heartbeat() {
    return this.server.api('POST', `/v1/groups/${this.group}/members/${this.memberId}/heartbeat`);
  }

  /** Heartbeat and adopt the answer (throws on anything but 200). */
  async refresh(): Promise<void> {
    const res = await this.heartbeat();
    if (res.status !== 200) throw new Error(`heartbeat: ${res.status} ${res.text}`);
    this.generation = res.json.generation;
    this.assignments = res.json.assignments;
  }

  async fetch(
    query: {
      maxRecords?: number;
      maxBytes?: number;
      waitMs?: number;
      cursor?: string | null;
      /** Commit-on-fetch: commit what the cursor carries first. */
      commit?: boolean;
    } = {},
  ) {
    const params = new URLSearchParams();
    if (query.commit !== undefined) params.set('commit', String(query.commit));
    if (query.maxRecords !== undefined) params.set('maxRecords', String(query.maxRecords));
    if (query.maxBytes !== undefined) params.set('maxBytes', String(query.maxBytes));
    if (query.waitMs !== undefined) params.set('waitMs', String(query.waitMs));
    const cursor = query.cursor === null ? undefined : (query.cursor ?? this.cursor);
    if (cursor !== undefined) params.set('cursor', cursor);
    const res = await this.server.api(
      'GET',
      `/v1/groups/${this.group}/members/${this.memberId}/records?${params.toString()}`,
    );
    if (res.status === 200) {
      this.cursor = res.json.cursor;
      this.generation = res.json.generation;
    }
    const body: { generation: number; records: GroupRecord[]; cursor: string; code?: string } = res.json;
    return { ...res, json: body };
  }

  commit(offsets: Array<{ topic: string; partition: number; offset: number }>, generation = this.generation) {
    return this.server.api('POST', `/v1/groups/${this.group}/commits`, {
      body: { memberId: this.memberId, generation, offsets },
    });
  }

  /** The offsets to commit after processing `records`: per partition, the last offset + 1. */
  static nextOffsets(
    records: readonly GroupRecord[],
  ): Array<{ topic: string; partition: number; offset: number }> {
    const next = new Map<string, { topic: string; partition: number; offset: number }>();
    for (const r of records) {
      const key = `${r.topic}/${r.partition}`;
      const current = next.get(key);
      if (!current || r.offset + 1 > current.offset)
        next.set(key, { topic: r.topic, partition: r.partition, offset: r.offset + 1 });
    }
    return [...next.values()];
  }

  leave() {
    return this.server.api('DELETE', `/v1/groups/${this.group}/members/${this.memberId}`);
  }
}

/** `topic/partition` strings of an assignment, sorted. */
export function keysOf(assignments: ReadonlyArray<{ topic: string; partition: number }>): string[] {
  return assignments.map((a) => `${a.topic}/${a.partition}`).sort();
}
