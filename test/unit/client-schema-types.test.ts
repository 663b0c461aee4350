import type { z } from '@hono/zod-openapi';
import type {
  ConsumerRecord,
  CreateTopicInput,
  GroupDescription,
  ProduceRecord,
  RecordAck,
  Sluice,
  Topic,
} from 'sluice/client';
import { describe, expectTypeOf, it } from 'vitest';
import type { GroupSchema, MemberFetchResultSchema } from '../../functions/http/groups-routes.js';
import type {
  CreateTopicBody,
  ProduceRecord as ProduceRecordSchema,
  ProduceResult,
  TopicSchema,
} from '../../functions/http/schemas.js';

/**
 * The client's types ARE the server's schemas (issue 15): these assertions are checked by `tsc --noEmit`
 * (npm run typecheck), so a schema change that the client's types do not follow fails the typecheck.
 */
describe('the client is typed from the zod schemas the server validates with', () => {
  it('topics: create takes the create body, answers the topic', () => {
    expectTypeOf<CreateTopicInput>().toEqualTypeOf<z.input<typeof CreateTopicBody>>();
    expectTypeOf<Topic>().toEqualTypeOf<z.infer<typeof TopicSchema>>();
    expectTypeOf<Sluice['topics']['create']>().parameter(0).toEqualTypeOf<z.input<typeof CreateTopicBody>>();
    expectTypeOf<Sluice['topics']['create']>().returns.resolves.toEqualTypeOf<z.infer<typeof TopicSchema>>();
  });

  it('produce: records are the produce schema, acks the produce result', () => {
    expectTypeOf<ProduceRecord>().toEqualTypeOf<z.input<typeof ProduceRecordSchema>>();
    expectTypeOf<RecordAck>().toEqualTypeOf<z.infer<typeof ProduceResult>['offsets'][number]>();
    expectTypeOf<RecordAck>().toEqualTypeOf<{ partition: number; offset: number; timestamp: number }>();
  });

  it('consume: a record is the member fetch schema’s record; describe is the group schema', () => {
    expectTypeOf<ConsumerRecord>().toEqualTypeOf<
      z.infer<typeof MemberFetchResultSchema>['records'][number]
    >();
    expectTypeOf<ConsumerRecord>().toHaveProperty('topic').toEqualTypeOf<string>();
    expectTypeOf<ConsumerRecord>().toHaveProperty('key').toEqualTypeOf<string | null>();
    expectTypeOf<GroupDescription>().toEqualTypeOf<z.infer<typeof GroupSchema>>();
  });

  it('a field the server does not know is a type error', () => {
    // @ts-expect-error `partitionCount` is no field of the create schema
    const bad: CreateTopicInput = { name: 'orders', partitionCount: 4 };
    void bad;
    // @ts-expect-error a topic's partitions are a number
    const alsoBad: CreateTopicInput = { name: 'orders', partitions: '4' };
    void alsoBad;
  });
});
