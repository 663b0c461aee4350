import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { type Action, authorize, authorizeGroup, describePrincipal } from '../../lib/auth/permissions.js';
import { InvalidRequestError } from '../../lib/errors.js';
import {
  GROUP_NAME_PATTERN,
  type GroupCoordinator,
  MEMBER_ID_PATTERN,
  type MemberFetchResult,
  type TopicGuard,
} from '../../lib/groups/coordinator.js';
import { TOPIC_NAME_PATTERN } from '../../lib/log/topics.js';
import { ForbiddenError, principalOf, requireGroupPermission, requirePermission } from './auth.js';
import {
  authResponses,
  FETCH_DEFAULTS,
  FetchedRecordSchema,
  FetchQuery,
  GenerationProblem,
  json,
  jsonBodyResponses,
  nameInPath,
  OffsetOutOfRangeProblem,
  problemDoc,
} from './schemas.js';
import { serializeRecord } from './serialize.js';

/** A join creates the group: an impossible name there is a 400; in every other path it is not found. */
const NewGroupParam = z
  .string()
  .regex(GROUP_NAME_PATTERN, 'a group name is 1–249 of [a-zA-Z0-9._-]')
  .openapi({ param: { name: 'group', in: 'path' }, example: 'billing' });
const GroupParam = nameInPath({
  param: 'group',
  pattern: GROUP_NAME_PATTERN,
  notFound: 'GROUP_NOT_FOUND',
  what: 'group',
  example: 'billing',
});
const MemberParam = nameInPath({
  param: 'memberId',
  pattern: MEMBER_ID_PATTERN,
  notFound: 'UNKNOWN_MEMBER',
  what: 'member',
  example: 'billing-worker-1',
});

export const TopicPartitionSchema = z
  .object({ topic: z.string(), partition: z.number().int() })
  .openapi('TopicPartition');

export const JoinBody = z
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

export const JoinResult = z
  .object({
    memberId: z.string(),
    generation: z.number().int(),
    assignments: z.array(TopicPartitionSchema),
    heartbeatIntervalMs: z.number().int(),
  })
  .openapi('JoinResult');

export const HeartbeatResult = z
  .object({ generation: z.number().int(), assignments: z.array(TopicPartitionSchema) })
  .openapi('HeartbeatResult');

/** The partition fetch's limits, plus the cursor. */
export const MemberFetchQuery = FetchQuery.pick({ maxRecords: true, maxBytes: true, waitMs: true }).extend({
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
  commit: z
    .enum(['true', 'false'])
    .optional()
    .openapi({
      description:
        'With a cursor: first commit the positions it carries (the records handed out before were processed), ' +
        'fenced exactly like an explicit commit, then fetch (Kafka’s auto-commit at the next poll)',
      example: 'true',
    }),
});

/** The cursor may travel in a header instead of the query (SPEC: a cursor never outgrows a URL). */
const MemberFetchHeaders = z.object({
  'sluice-cursor': z.string().min(1).max(65_536).optional().openapi({
    description: 'The cursor of the previous response, instead of the `cursor` query parameter',
  }),
});

export const MemberFetchResultSchema = z
  .object({
    generation: z.number().int(),
    records: z.array(FetchedRecordSchema.extend({ topic: z.string() })),
    cursor: z.string(),
  })
  .openapi('MemberFetchResult');

export const CommitBody = z
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

export const ResetBody = z
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

export const ResetResult = z
  .object({
    offsets: z.array(z.object({ topic: z.string(), partition: z.number().int(), offset: z.number().int() })),
  })
  .openapi('ResetResult');

export const GroupListSchema = z
  .object({
    groups: z.array(z.object({ group: z.string(), generation: z.number().int(), members: z.number().int() })),
  })
  .openapi('GroupList');

export const GroupSchema = z
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

/**
 * A guard over topics the caller did not name but a group holds (a member's subscription, the topics a group
 * has offsets for): 403 unless the caller holds `action` on every one. Its message names only `whose`, what
 * the caller asked for, never the topics (SPEC §2 Auth).
 */
function groupTopicsGuard(c: Context, action: Action, whose: string): TopicGuard {
  return (topics) => {
    const principal = principalOf(c);
    if (!topics.every((topic) => authorize(principal, action, topic))) {
      throw new ForbiddenError(`${describePrincipal(principal)} may not ${action} every topic of ${whose}`);
    }
  };
}

/** The guard over a member's subscription: `consume` on every topic it reads. */
function memberTopics(c: Context, group: string, memberId: string): TopicGuard {
  return groupTopicsGuard(c, 'consume', `member '${memberId}' of group '${group}'`);
}

/**
 * Consumer-group routes (SPEC.md §2 "Consumer groups"); the protocol is in lib/groups/coordinator.ts.
 * Each handler first checks the caller's group permission on the group's name alone (requireGroupPermission),
 * before anything reads the group, so a caller without it learns nothing of the group; then the topics.
 */
export function registerGroupRoutes(app: OpenAPIHono, groups: GroupCoordinator): void {
  const groupParams = z.object({ group: GroupParam });
  const memberParams = groupParams.extend({ memberId: MemberParam });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/groups/{group}/members',
      operationId: 'joinGroup',
      tags: ['Consumer groups'],
      summary: 'Join a consumer group (a new generation starts; the sticky assignment is returned)',
      request: { params: z.object({ group: NewGroupParam }), body: { ...json(JoinBody), required: true } },
      responses: {
        ...authResponses,
        ...jsonBodyResponses,
        200: { description: 'Joined', ...json(JoinResult) },
        400: problemDoc('INVALID_REQUEST'),
        404: problemDoc('TOPIC_NOT_FOUND: a subscribed topic does not exist'),
        409: problemDoc('CONFLICT: the group has as many members as it may (1,000)'),
        429: problemDoc('THROTTLED: the group changed too often to write; retry'),
      },
    }),
    async (c) => {
      const { group } = c.req.valid('param');
      const body = c.req.valid('json');
      requireGroupPermission(c, ['consume'], group);
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
      operationId: 'heartbeat',
      tags: ['Consumer groups'],
      summary: "Extend the member's session; learn the current generation and assignment",
      request: { params: memberParams },
      responses: {
        ...authResponses,
        413: jsonBodyResponses[413],
        415: jsonBodyResponses[415],
        200: { description: 'Alive', ...json(HeartbeatResult) },
        404: problemDoc('UNKNOWN_MEMBER: the session expired or the member left; join again'),
        429: problemDoc('THROTTLED: the group changed too often to write; retry'),
      },
    }),
    async (c) => {
      const { group, memberId } = c.req.valid('param');
      requireGroupPermission(c, ['consume'], group);
      return c.json(await groups.heartbeat(group, memberId, memberTopics(c, group, memberId)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/groups/{group}/members/{memberId}',
      operationId: 'leaveGroup',
      tags: ['Consumer groups'],
      summary: 'Leave the group (its partitions move at once)',
      request: { params: memberParams },
      responses: {
        ...authResponses,
        204: { description: 'Left' },
        404: problemDoc('UNKNOWN_MEMBER'),
        429: problemDoc('THROTTLED: the group changed too often to write; retry'),
      },
    }),
    async (c) => {
      const { group, memberId } = c.req.valid('param');
      requireGroupPermission(c, ['consume'], group);
      await groups.leave(group, memberId, memberTopics(c, group, memberId));
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/groups/{group}/members/{memberId}/records',
      operationId: 'fetchMemberRecords',
      tags: ['Consumer groups'],
      summary: "Fetch records of the member's partitions (long-poll with waitMs; continue with cursor)",
      description:
        'Starts from the cursor of the previous response, else from the committed offsets, else from the ' +
        "member's autoOffsetReset. maxRecords and maxBytes are split evenly between the partitions that have " +
        'records. A fetch also extends the session once half of it has passed. With commit=true (and a cursor) ' +
        'it first commits the positions the cursor carries. A group that just got its first member hands out ' +
        'no records for its forming window (3 s by default, as Kafka’s initial rebalance delay).',
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
          'REBALANCE_IN_PROGRESS: the assignment changed; heartbeat, then fetch without a cursor ' +
            '(with commit=true, also FENCED: the commit was refused, nothing was fetched)',
          GenerationProblem,
        ),
        429: problemDoc('THROTTLED: the group changed too often to write; retry'),
      },
    }),
    async (c) => {
      const { group, memberId } = c.req.valid('param');
      const query = c.req.valid('query');
      requireGroupPermission(c, ['consume'], group);
      const header = c.req.valid('header')['sluice-cursor'];
      if (header !== undefined && query.cursor !== undefined && header !== query.cursor) {
        throw new InvalidRequestError('cursor: the query and the Sluice-Cursor header differ: send one');
      }
      const result = await groups.fetch(
        group,
        memberId,
        {
          cursor: query.cursor ?? header,
          commit: query.commit === 'true',
          maxRecords: query.maxRecords ?? FETCH_DEFAULTS.maxRecords,
          maxBytes: query.maxBytes ?? FETCH_DEFAULTS.maxBytes,
          waitMs: query.waitMs ?? FETCH_DEFAULTS.waitMs,
          signal: c.req.raw.signal,
        },
        memberTopics(c, group, memberId),
      );
      return c.body(serializeMemberFetch(result), 200, { 'content-type': 'application/json' }) as never;
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/groups/{group}/commits',
      operationId: 'commitOffsets',
      tags: ['Consumer groups'],
      summary: 'Commit offsets (each the next offset to read), fenced by generation and ownership',
      request: { params: groupParams, body: { ...json(CommitBody), required: true } },
      responses: {
        ...authResponses,
        ...jsonBodyResponses,
        204: { description: 'Committed (an offset below the committed one changes nothing)' },
        400: problemDoc('INVALID_REQUEST'),
        404: problemDoc('UNKNOWN_MEMBER'),
        409: problemDoc(
          'FENCED: a partition the member does not own, or a generation older than the one in which it ' +
            'acquired the partition; REBALANCE_IN_PROGRESS while a partition changes hands',
          GenerationProblem,
        ),
        416: problemDoc('OFFSET_OUT_OF_RANGE: an offset above the high watermark', OffsetOutOfRangeProblem),
        429: problemDoc('THROTTLED: the group changed too often to write; retry'),
      },
    }),
    async (c) => {
      const { group } = c.req.valid('param');
      const body = c.req.valid('json');
      requireGroupPermission(c, ['consume'], group);
      for (const { topic } of body.offsets) requirePermission(c, 'consume', topic);
      await groups.commit(group, body);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/groups/{group}/offsets/reset',
      operationId: 'resetGroupOffsets',
      tags: ['Consumer groups'],
      summary: 'Reset committed offsets (admin; only while the group has no live member)',
      request: { params: groupParams, body: { ...json(ResetBody), required: true } },
      responses: {
        ...authResponses,
        ...jsonBodyResponses,
        200: { description: 'The offsets now committed', ...json(ResetResult) },
        400: problemDoc('INVALID_REQUEST'),
        404: problemDoc('GROUP_NOT_FOUND or TOPIC_NOT_FOUND'),
        409: problemDoc('CONFLICT: the group has live members, or one joined during the reset'),
      },
    }),
    async (c) => {
      const { group } = c.req.valid('param');
      const { topics, ...target } = c.req.valid('json');
      requireGroupPermission(c, ['admin'], group);
      for (const topic of topics ?? []) requirePermission(c, 'admin', topic);
      // Without `topics`, the group's own topics are checked once read, before the live-member check.
      const offsets = await groups.reset(
        group,
        target,
        topics,
        groupTopicsGuard(c, 'admin', `group '${group}'`),
      );
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
      operationId: 'listGroups',
      tags: ['Consumer groups'],
      summary: 'List consumer groups (those the caller may describe: consume or admin on the group)',
      responses: { ...authResponses, 200: { description: 'Groups', ...json(GroupListSchema) } },
    }),
    async (c) => {
      const principal = principalOf(c);
      const visible = (await groups.list()).filter(
        (g) => authorizeGroup(principal, 'consume', g.group) || authorizeGroup(principal, 'admin', g.group),
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
      operationId: 'describeGroup',
      tags: ['Consumer groups'],
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
      requireGroupPermission(c, ['consume', 'admin'], group);
      return c.json(await groups.describe(group), 200);
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
