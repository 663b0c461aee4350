import type { Cluster, Instance } from './cluster/cluster.js';
import type {
  AdminOp,
  CommitOp,
  FetchOp,
  HeartbeatOp,
  History,
  JoinOp,
  MemberFetchOp,
  OffsetsOp,
  Op,
  ProduceOp,
  ReadRecord,
  WrittenRecord,
} from './history.js';
import type { Rng } from './rng.js';

export interface Answer {
  outcome: 'ok' | 'fail' | 'unknown';
  status?: number;
  json?: any;
  headers?: Headers;
  error?: string;
}

/**
 * How an answer counts in the history: 2xx ok; a 4xx other than 408/429 a definite refusal (nothing was
 * applied); 429, 5xx, a reset connection or a timeout unknown (it may have been applied).
 */
export function classify(status: number): 'ok' | 'fail' | 'unknown' {
  if (status >= 200 && status < 300) return 'ok';
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return 'fail';
  return 'unknown';
}

/**
 * One logical client of the run: it runs one operation at a time against an instance the run picks, and
 * records each in the history. Requests time out after `timeoutMs` (unknown).
 */
export class Client {
  constructor(
    readonly name: string,
    readonly cluster: Cluster,
    readonly history: History,
    readonly rng: Rng,
    readonly timeoutMs = 15_000,
  ) {}

  /** A live instance, at random (the run's stream decides); waits while every instance is restarting. */
  async instance(): Promise<Instance> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const alive = this.cluster.alive();
      if (alive.length > 0) return this.rng.pick(alive.sort((a, b) => a.name.localeCompare(b.name)));
      if (Date.now() > deadline) throw new Error('no live instance for 60 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async call(
    instance: Instance,
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<Answer> {
    try {
      const response = await fetch(`${instance.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.cluster.adminToken}`,
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        },
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs),
      });
      const text = await response.text();
      let json: any;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return {
        outcome: classify(response.status),
        status: response.status,
        json,
        headers: response.headers,
        ...(response.ok ? {} : { error: json?.code ?? text.slice(0, 120) }),
      };
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      return {
        outcome: 'unknown',
        error: cause?.code ?? (error instanceof Error ? error.name : String(error)),
      };
    }
  }

  private finish<T extends Op>(op: T, answer: Answer, fields: Partial<T> = {}): T {
    return this.history.complete(op, answer.outcome, {
      ...(answer.status !== undefined ? { status: answer.status } : {}),
      ...(answer.error !== undefined ? { error: answer.error } : {}),
      ...fields,
    } as Partial<T>);
  }

  async produce(
    topic: string,
    records: WrittenRecord[],
    options: { requestId: string; attempt: number; idempotencyKey?: string; instance?: Instance },
  ): Promise<ProduceOp> {
    const instance = options.instance ?? (await this.instance());
    const op = this.history.invoke<ProduceOp>({
      type: 'produce',
      client: this.name,
      instance: instance.name,
      topic,
      requestId: options.requestId,
      attempt: options.attempt,
      records,
      ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {}),
    });
    const answer = await this.call(instance, 'POST', `/v1/topics/${encodeURIComponent(topic)}/records`, {
      body: { records: records.map((r) => ({ partition: r.partition, key: r.key, value: r.value })) },
      ...(options.idempotencyKey ? { headers: { 'idempotency-key': options.idempotencyKey } } : {}),
    });
    if (answer.outcome !== 'ok') return this.finish(op, answer);
    const offsets = (answer.json?.offsets ?? []) as Array<{ partition: number; offset: number }>;
    return this.finish(op, answer, {
      offsets: offsets.map((o) => ({ partition: o.partition, offset: o.offset })),
      replayed: answer.headers?.get('idempotent-replayed') === 'true',
    });
  }

  async fetch(
    topic: string,
    partition: number,
    offset: number,
    options: { maxRecords?: number; instance?: Instance; waitMs?: number } = {},
  ): Promise<FetchOp> {
    const instance = options.instance ?? (await this.instance());
    const op = this.history.invoke<FetchOp>({
      type: 'fetch',
      client: this.name,
      instance: instance.name,
      topic,
      partition,
      offset,
    });
    const query = new URLSearchParams({
      offset: String(offset),
      maxRecords: String(options.maxRecords ?? 500),
      ...(options.waitMs ? { waitMs: String(options.waitMs) } : {}),
    });
    const answer = await this.call(
      instance,
      'GET',
      `/v1/topics/${encodeURIComponent(topic)}/partitions/${partition}/records?${query}`,
    );
    const body = answer.json ?? {};
    if (answer.outcome !== 'ok') {
      return this.finish(op, answer, {
        ...(typeof body.highWatermark === 'number' ? { highWatermark: body.highWatermark } : {}),
        ...(typeof body.logStartOffset === 'number' ? { logStartOffset: body.logStartOffset } : {}),
      });
    }
    return this.finish(op, answer, {
      records: (body.records ?? []).map(readRecord),
      nextOffset: body.nextOffset,
      highWatermark: body.highWatermark,
      logStartOffset: body.logStartOffset,
    });
  }

  async join(
    group: string,
    memberId: string,
    topics: string[],
    options: { sessionTimeoutMs?: number } = {},
  ): Promise<JoinOp> {
    const instance = await this.instance();
    const op = this.history.invoke<JoinOp>({
      type: 'join',
      client: this.name,
      instance: instance.name,
      group,
      memberId,
      topics,
    });
    const answer = await this.call(instance, 'POST', `/v1/groups/${encodeURIComponent(group)}/members`, {
      body: {
        topics,
        memberId,
        autoOffsetReset: 'earliest',
        ...(options.sessionTimeoutMs ? { sessionTimeoutMs: options.sessionTimeoutMs } : {}),
      },
    });
    if (answer.outcome !== 'ok') return this.finish(op, answer);
    return this.finish(op, answer, {
      generation: answer.json.generation,
      assignments: answer.json.assignments,
    });
  }

  async heartbeat(group: string, memberId: string): Promise<HeartbeatOp> {
    const instance = await this.instance();
    const op = this.history.invoke<HeartbeatOp>({
      type: 'heartbeat',
      client: this.name,
      instance: instance.name,
      group,
      memberId,
    });
    const answer = await this.call(
      instance,
      'POST',
      `/v1/groups/${encodeURIComponent(group)}/members/${encodeURIComponent(memberId)}/heartbeat`,
    );
    if (answer.outcome !== 'ok') return this.finish(op, answer);
    return this.finish(op, answer, {
      generation: answer.json.generation,
      assignments: answer.json.assignments,
    });
  }

  /** A member fetch; `cursor` from the previous answer, `committing` what that cursor carries. */
  async memberFetch(
    group: string,
    memberId: string,
    options: {
      cursor?: string;
      commit?: boolean;
      committing?: MemberFetchOp['committing'];
      maxRecords?: number;
      waitMs?: number;
    },
  ): Promise<{ op: MemberFetchOp; cursor?: string }> {
    const instance = await this.instance();
    const commit = options.commit === true && options.cursor !== undefined;
    const op = this.history.invoke<MemberFetchOp>({
      type: 'memberFetch',
      client: this.name,
      instance: instance.name,
      group,
      memberId,
      commit,
      ...(commit && options.committing ? { committing: options.committing } : {}),
    });
    const query = new URLSearchParams({
      maxRecords: String(options.maxRecords ?? 200),
      waitMs: String(options.waitMs ?? 0),
      ...(commit ? { commit: 'true' } : {}),
    });
    const answer = await this.call(
      instance,
      'GET',
      `/v1/groups/${encodeURIComponent(group)}/members/${encodeURIComponent(memberId)}/records?${query}`,
      options.cursor ? { headers: { 'sluice-cursor': options.cursor } } : {},
    );
    if (answer.outcome !== 'ok') return { op: this.finish(op, answer) };
    const records = (answer.json.records ?? []).map((r: any) => ({ ...readRecord(r), topic: r.topic }));
    return {
      op: this.finish(op, answer, { generation: answer.json.generation, records }),
      cursor: answer.json.cursor,
    };
  }

  async commit(
    group: string,
    memberId: string,
    generation: number,
    offsets: CommitOp['offsets'],
  ): Promise<CommitOp> {
    const instance = await this.instance();
    const op = this.history.invoke<CommitOp>({
      type: 'commit',
      client: this.name,
      instance: instance.name,
      group,
      memberId,
      generation,
      offsets,
    });
    const answer = await this.call(instance, 'POST', `/v1/groups/${encodeURIComponent(group)}/commits`, {
      body: { memberId, generation, offsets },
    });
    return this.finish(op, answer);
  }

  async offsets(group: string, given?: Instance): Promise<OffsetsOp> {
    const instance = given ?? (await this.instance());
    const op = this.history.invoke<OffsetsOp>({
      type: 'offsets',
      client: this.name,
      instance: instance.name,
      group,
    });
    const answer = await this.call(instance, 'GET', `/v1/groups/${encodeURIComponent(group)}`);
    if (answer.outcome !== 'ok') return this.finish(op, answer);
    const committed = ((answer.json.offsets ?? []) as any[])
      .filter((o) => typeof o.committedOffset === 'number')
      .map((o) => ({ topic: o.topic, partition: o.partition, offset: o.committedOffset }));
    return this.finish(op, answer, { committed });
  }

  async admin(
    action: AdminOp['action'],
    target: string,
    options: { body?: unknown; instance?: Instance; timeoutMs?: number } = {},
  ): Promise<AdminOp> {
    const instance = options.instance ?? (await this.instance());
    const op = this.history.invoke<AdminOp>({
      type: 'admin',
      client: this.name,
      instance: instance.name,
      action,
      target,
      ...(options.body !== undefined ? { body: options.body } : {}),
    });
    const topicPath = `/v1/topics/${encodeURIComponent(target)}`;
    const [method, path] =
      action === 'createTopic'
        ? ['POST', '/v1/topics']
        : action === 'deleteTopic'
          ? ['DELETE', topicPath]
          : action === 'patchTopic'
            ? ['PATCH', topicPath]
            : ['POST', `/v1/admin/maintenance/${target}`];
    const answer = await this.call(instance, method, path, {
      ...(options.body !== undefined ? { body: options.body } : {}),
      timeoutMs: options.timeoutMs ?? 60_000,
    });
    return this.finish(op, answer, answer.json !== undefined ? { answer: answer.json } : {});
  }
}

function readRecord(r: any): ReadRecord {
  return { partition: r.partition, offset: r.offset, key: r.key ?? null, value: r.value };
}
