import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { type Action, authorize } from '../../lib/auth/permissions.js';
import { InvalidRequestError } from '../../lib/errors.js';
import {
  GROUP_NAME_PATTERN,
  type GroupCoordinator,
  MEMBER_ID_PATTERN,
  type MemberFetchResult,
  type TopicGuard,
} from '../../lib/groups/coordinator.js';
import { TOPIC_NAME_PATTERN } from '../../lib/log/topics.js';
import { principalOf, requireAnyPermission, requirePermission } from './auth.js';
import { authResponses, FetchedRecordSchema, FetchQuery, json, problemDoc } from './schemas.js';
import { serializeRecord } from './serialize.js';

const GroupParam = z
  .string()
  .regex(GROUP_NAME_PATTERN, 'a group name is 1–249 of [a-zA-Z0-9._-]')
  .openapi({ param: { name: 'group', in: 'path' }, example: 'billing' });
const MemberParam = z
  .string()
  .regex(MEMBER_ID_PATTERN, 'a memberId is 1–128 of [a-zA-Z0-9._:-]')
  .openapi({ param: { name: 'memberId', in: 'path' } });

const TopicPartitionSchema = z
  .object({ topic: z.string(), partition: z.number().int() })
  .openapi('TopicPartition');

const JoinBody = z
  .object({
    topics: z.array(z.string().regex(TOPIC_NAME_PATTERN, 'not a topic name')).min(1).max(100),
    memberId: z
      .string()
      .regex(MEMBER_ID_PATTERN, 'a memberId is 1–128 of [a-zA-Z0-9._:-]')
      .optional()
      .openapi({ description: 'Re-join under a known id (a restart); a new id is made when absent' }),
    sessionTimeoutMs: z.number().int().min(1_000).max(300_000).default(30_000),
    autoOffsetReset: z.enum(['earliest', 'latest']).default('latest').openapi({
      description: 'Where this member starts on a partition it owns that has no committed offset',
    }),
  })
  .strict()
  .openapi('JoinGroup');

const JoinResult = z
  .object({
    memberId: z.string(),
    generation: z.number().int(),
    assignments: z.array(TopicPartitionSchema),
    heartbeatIntervalMs: z.number().int(),
  })
  .openapi('JoinResult');

const HeartbeatResult = z
  .object({ generation: z.number().int(), assignments: z.array(TopicPartitionSchema) })
  .openapi('HeartbeatResult');

/** The partition fetch's limits, plus the cursor. */
const MemberFetchQuery = FetchQuery.pick({ maxRecords: true, maxBytes: true, waitMs: true }).extend({
  cursor: z
    .string()
    .min(1)
    .max(65_536)
    .optional()
    .openapi({
      description:
        'The cursor of the previous response: continue where it left off (read ahead of commits). At most ' +
        '10,711 characters at 1,000 partitions; it may be sent in the Sluice-Cursor header instead',
    }),
});

/** The cursor may travel in a header instead of the query (SPEC: a cursor never outgrows a URL). */
const MemberFetchHeaders = z.object({
  'sluice-cursor': z.string().min(1).max(65_536).optional().openapi({
    description: 'The cursor of the previous response, instead of the `cursor` query parameter',
  }),
});

const MemberFetchResultSchema = z
  .object({
    generation: z.number().int(),
    records: z.array(FetchedRecordSchema.extend({ topic: z.string() })),
    cursor: z.string(),
  })
  .openapi('MemberFetchResult');

const CommitBody = z
  .object({
    memberId: z.string().regex(MEMBER_ID_PATTERN, 'not a memberId'),
    generation: z.number().int().min(0),
    offsets: z
      .array(
        z
          .object({
            topic: z.string().regex(TOPIC_NAME_PATTERN, 'not a topic name'),
            partition: z.number().int().min(0),
            offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
          })
          .strict(),
      )
      .min(1)
      .max(1000),
  })
  .strict()
  .openapi('CommitOffsets');

const ResetBody = z
  .discriminatedUnion('to', [
    z.object({ to: z.literal('earliest'), topics: z.array(z.string()).min(1).optional() }).strict(),
    z.object({ to: z.literal('latest'), topics: z.array(z.string()).min(1).optional() }).strict(),
    z
      .object({
        to: z.literal('timestamp'),
        timestamp: z.number().int().min(0),
        topics: z.array(z.string()).min(1).optional(),
      })
      .strict(),
    z
      .object({
        to: z.literal('offset'),
        offset: z.number().int().min(0),
        topics: z.array(z.string()).min(1).optional(),
      })
      .strict(),
  ])
  .openapi('ResetOffsets', {
    description:
      '`topics` defaults to every topic the group has committed offsets for. `offset` is applied to every ' +
      'partition, clamped to [logStartOffset, highWatermark]; `timestamp` picks the first offset at or after it.',
  });

const ResetResult = z
  .object({
    offsets: z.array(z.object({ topic: z.string(), partition: z.number().int(), offset: z.number().int() })),
  })
  .openapi('ResetResult');

const GroupListSchema = z
  .object({
    groups: z.array(z.object({ group: z.string(), generation: z.number().int(), members: z.number().int() })),
  })
  .openapi('GroupList');

const GroupSchema = z
  .object({
    group: z.string(),
    generation: z.number().int(),
    members: z.array(
      z.object({
        memberId: z.string(),
        topics: z.array(z.string()),
        assignments: z.array(TopicPartitionSchema),
        expiresAt: z.number().int(),
      }),
    ),
    offsets: z.array(
      z.object({
        topic: z.string(),
        partition: z.number().int(),
        committedOffset: z.number().int().nullable(),
        highWatermark: z.number().int(),
        lag: z.number().int().nullable(),
      }),
    ),
  })
  .openapi('Group');

/** A guard that throws 403 unless the caller holds one of `actions` on every topic. */
function topicGuard(c: Context, actions: readonly Action[]): TopicGuard {
  return (topics) => {
    for (const topic of topics) requireAnyPermission(c, actions, topic);
  };
}

/** Consumer-group routes (SPEC.md §2 "Consumer groups"); the protocol is in lib/groups/coordinator.ts. */
export function registerGroupRoutes(app: OpenAPIHono, groups: GroupCoordinator): void {
  const groupParams = z.object({ group: GroupParam });
  const memberParams = groupParams.extend({ memberId: MemberParam });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/groups/{group}/members',
      summary: 'Join a consumer group (a new generation starts; the sticky assignment is returned)',
      request: { params: groupParams, body: { ...json(JoinBody), required: true } },
      responses: {
        ...authResponses,
        200: { description: 'Joined', ...json(JoinResult) },
        400: problemDoc('INVALID_REQUEST'),
        404: problemDoc('TOPIC_NOT_FOUND: a subscribed topic does not exist'),
        429: problemDoc('THROTTLED: the group changed too often to write; retry'),
      },
    }),
    async (c) => {
      const { group } = c.req.valid('param');
      const body = c.req.valid('json');
      for (const topic of body.topics) requirePermission(c, 'consume', topic);
      const result = await groups.join(group, {
        topics: body.topics,
        memberId: body.memberId,
        sessionTimeoutMs: body.sessionTimeoutMs,
        autoOffsetReset: body.autoOffsetReset,
      });
      return c.json(result, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/groups/{group}/members/{memberId}/heartbeat',
      summary: "Extend the member's session; learn the current generation and assignment",
      request: { params: memberParams },
      responses: {
        ...authResponses,
        200: { description: 'Alive', ...json(HeartbeatResult) },
        404: problemDoc('UNKNOWN_MEMBER: the session expired or the member left; join again'),
      },
    }),
    async (c) => {
      const { group, memberId } = c.req.valid('param');
      return c.json(await groups.heartbeat(group, memberId, topicGuard(c, ['consume'])), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/groups/{group}/members/{memberId}',
      summary: 'Leave the group (its partitions move at once)',
      request: { params: memberParams },
      responses: {
        ...authResponses,
        204: { description: 'Left' },
        404: problemDoc('UNKNOWN_MEMBER'),
      },
    }),
    async (c) => {
      const { group, memberId } = c.req.valid('param');
      await groups.leave(group, memberId, topicGuard(c, ['consume']));
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/groups/{group}/members/{memberId}/records',
      summary: "Fetch records of the member's partitions (long-poll with waitMs; continue with cursor)",
      description:
        'Starts from the cursor of the previous response, else from the committed offsets, else from the ' +
        "member's autoOffsetReset. maxRecords and maxBytes are split evenly between the partitions that have " +
        'records. A fetch also extends the session once half of it has passed.',
      request: { params: memberParams, query: MemberFetchQuery, headers: MemberFetchHeaders },
      responses: {
        ...authResponses,
        200: {
          description: 'Records (possibly none) and the cursor to continue from',
          ...json(MemberFetchResultSchema),
        },
        400: problemDoc('INVALID_REQUEST (for example a cursor that is not one, or two different cursors)'),
        404: problemDoc('UNKNOWN_MEMBER'),
        409: problemDoc(
          'REBALANCE_IN_PROGRESS: the assignment changed; heartbeat, then fetch without a cursor',
        ),
      },
    }),
    async (c) => {
      const { group, memberId } = c.req.valid('param');
      const query = c.req.valid('query');
      const header = c.req.valid('header')['sluice-cursor'];
      if (header !== undefined && query.cursor !== undefined && header !== query.cursor) {
        throw new InvalidRequestError('cursor: the query and the Sluice-Cursor header differ: send one');
      }
      const result = await groups.fetch(
        group,
        memberId,
        {
          cursor: query.cursor ?? header,
          maxRecords: query.maxRecords ?? 500,
          maxBytes: query.maxBytes ?? 1024 * 1024,
          waitMs: query.waitMs ?? 0,
          signal: c.req.raw.signal,
        },
        topicGuard(c, ['consume']),
      );
      return c.body(serializeMemberFetch(result), 200, { 'content-type': 'application/json' }) as never;
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/groups/{group}/commits',
      summary: 'Commit offsets (each the next offset to read), fenced by generation and ownership',
      request: { params: groupParams, body: { ...json(CommitBody), required: true } },
      responses: {
        ...authResponses,
        204: { description: 'Committed (an offset below the committed one changes nothing)' },
        400: problemDoc('INVALID_REQUEST'),
        404: problemDoc('UNKNOWN_MEMBER'),
        409: problemDoc('FENCED: stale generation, or a partition the member does not own'),
        416: problemDoc('OFFSET_OUT_OF_RANGE: an offset above the high watermark'),
      },
    }),
    async (c) => {
      const { group } = c.req.valid('param');
      const body = c.req.valid('json');
      for (const { topic } of body.offsets) requirePermission(c, 'consume', topic);
      await groups.commit(group, body);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/groups/{group}/offsets/reset',
      summary: 'Reset committed offsets (admin; only while the group has no live member)',
      request: { params: groupParams, body: { ...json(ResetBody), required: true } },
      responses: {
        ...authResponses,
        200: { description: 'The offsets now committed', ...json(ResetResult) },
        400: problemDoc('INVALID_REQUEST'),
        404: problemDoc('GROUP_NOT_FOUND or TOPIC_NOT_FOUND'),
        409: problemDoc('CONFLICT: the group has live members'),
      },
    }),
    async (c) => {
      const { group } = c.req.valid('param');
      const { topics, ...target } = c.req.valid('json');
      for (const topic of topics ?? []) requirePermission(c, 'admin', topic);
      const offsets = await groups.reset(group, target, topics, topicGuard(c, ['admin']));
      return c.json(
        { offsets: offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })) },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/groups',
      summary: 'List consumer groups (those whose topics the caller can see)',
      responses: { ...authResponses, 200: { description: 'Groups', ...json(GroupListSchema) } },
    }),
    async (c) => {
      const principal = principalOf(c);
      const visible = (await groups.list()).filter(
        (g) =>
          principal.kind === 'admin' ||
          (g.topics.length > 0 &&
            g.topics.every((t) => authorize(principal, 'consume', t) || authorize(principal, 'admin', t))),
      );
      return c.json(
        { groups: visible.map(({ group, generation, members }) => ({ group, generation, members })) },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/groups/{group}',
      summary: 'Describe a group: members, assignments, committed offsets, high watermarks and lag',
      request: { params: groupParams },
      responses: {
        ...authResponses,
        200: { description: 'The group', ...json(GroupSchema) },
        404: problemDoc('GROUP_NOT_FOUND'),
      },
    }),
    async (c) => {
      const { group } = c.req.valid('param');
      return c.json(await groups.describe(group, topicGuard(c, ['consume', 'admin'])), 200);
    },
  );
}

/** Records are spliced as stored (see serializeFetchResult), each with its topic. */
function serializeMemberFetch(result: MemberFetchResult): string {
  const parts: string[] = [];
  for (const partition of result.partitions) {
    const topic = `"topic":${JSON.stringify(partition.topic)},`;
    for (const record of partition.records) parts.push(serializeRecord(record, topic));
  }
  return `{"generation":${result.generation},"records":[${parts.join(',')}],"cursor":"${result.cursor}"}`;
}
