import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { createApiKey, keyView } from '../../lib/auth/api-keys.js';
import { ACTIONS, GROUP_ACTIONS, TOPIC_PATTERN_REGEX } from '../../lib/auth/permissions.js';
import type { Clock } from '../../lib/clock.js';
import type { KeyStore } from '../../lib/metadata/key-store.js';
import { requireAdminToken } from './auth.js';
import { authResponses, json, jsonBodyResponses, nameInPath, ProblemSchema } from './schemas.js';

/** A key id: 16 hex digits (lib/auth/tokens.ts). */
const KEY_ID_PATTERN = /^[0-9a-f]{16}$/;

const TopicPermissionSchema = z
  .object({
    topics: z
      .string()
      .regex(TOPIC_PATTERN_REGEX, 'a topic pattern is 1–249 of [a-zA-Z0-9._-] and *')
      .openapi({ example: 'orders.*' }),
    actions: z
      .array(z.enum(ACTIONS))
      .min(1)
      .openapi({ example: ['produce'] }),
  })
  .strict()
  .openapi('TopicPermission');

const GroupPermissionSchema = z
  .object({
    groups: z
      .string()
      .regex(TOPIC_PATTERN_REGEX, 'a group pattern is 1–249 of [a-zA-Z0-9._-] and *')
      .openapi({ example: 'billing-*' }),
    actions: z
      .array(z.enum(GROUP_ACTIONS))
      .min(1)
      .openapi({ example: ['consume'] }),
  })
  .strict()
  .openapi('GroupPermission');

/**
 * A permission names exactly one of `topics` or `groups`: both objects are strict, so one with both, or
 * neither, matches no branch and gets this message.
 */
export const PermissionSchema = z
  .union([TopicPermissionSchema, GroupPermissionSchema], {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? 'a permission is { topics: <pattern>, actions: [produce|consume|admin] } or ' +
          '{ groups: <pattern>, actions: [consume|admin] }: exactly one of topics or groups'
        : undefined,
  })
  .openapi('Permission');

export const CreateKeyBody = z
  .object({
    name: z.string().min(1).max(200).openapi({ example: 'orders-producer' }),
    permissions: z.array(PermissionSchema).min(1).max(100),
    expiresAt: z.number().int().positive().optional().openapi({ description: 'epoch ms' }),
  })
  .strict()
  .openapi('CreateKeyBody');

const keyFields = {
  id: z.string(),
  name: z.string(),
  permissions: z.array(PermissionSchema),
  expiresAt: z.number().int().nullable(),
  createdAt: z.number().int(),
};

export const CreatedKeySchema = z
  .object({
    ...keyFields,
    token: z.string().openapi({ description: 'shown once: only a hash of it is stored' }),
  })
  .openapi('CreatedKey');

export const KeySchema = z
  .object({ ...keyFields, lastUsedAt: z.number().int().nullable() })
  .openapi('ApiKey');
export const KeyListSchema = z.object({ keys: z.array(KeySchema) }).openapi('ApiKeyList');

const problemOf = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
});

/**
 * `/v1/keys`: mint, list and revoke API keys. Only the admin token may call them (see README, "API keys"):
 * a key, even one with `admin` on `*`, cannot mint keys, so no key can widen its own reach.
 */
export function registerKeyRoutes(app: OpenAPIHono, deps: { keys: KeyStore; clock: Clock }): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/keys',
      operationId: 'createKey',
      tags: ['API keys'],
      summary: 'Mint an API key (admin token only); the token is in this response only',
      request: { body: { ...json(CreateKeyBody), required: true } },
      responses: {
        ...authResponses,
        ...jsonBodyResponses,
        201: { description: 'Created', ...json(CreatedKeySchema) },
        400: problemOf('INVALID_REQUEST'),
        403: problemOf('FORBIDDEN: not the admin token'),
      },
    }),
    async (c) => {
      requireAdminToken(c);
      const body = c.req.valid('json');
      const { key, token } = await createApiKey(deps.keys, deps.clock, {
        name: body.name,
        permissions: body.permissions,
        expiresAt: body.expiresAt,
      });
      return c.json(
        {
          id: key.id,
          token,
          name: key.name,
          permissions: key.permissions,
          expiresAt: key.expiresAt,
          createdAt: key.createdAt,
        },
        201,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/keys',
      operationId: 'listKeys',
      tags: ['API keys'],
      summary: 'List API keys (never their tokens)',
      responses: {
        ...authResponses,
        200: { description: 'Keys', ...json(KeyListSchema) },
        403: problemOf('FORBIDDEN: not the admin token'),
      },
    }),
    async (c) => {
      requireAdminToken(c);
      const keys = (await deps.keys.listKeys()).map(keyView);
      return c.json({ keys }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/keys/{id}',
      operationId: 'deleteKey',
      tags: ['API keys'],
      summary: 'Revoke an API key (refused everywhere within the key cache TTL, 5 s by default)',
      request: {
        params: z.object({
          id: nameInPath({
            param: 'id',
            pattern: KEY_ID_PATTERN,
            notFound: 'NOT_FOUND',
            what: 'API key',
            example: '3f2a9c0d1b4e5f60',
          }),
        }),
      },
      responses: {
        ...authResponses,
        204: { description: 'Revoked' },
        403: problemOf('FORBIDDEN: not the admin token'),
        404: problemOf('NOT_FOUND'),
      },
    }),
    async (c) => {
      requireAdminToken(c);
      await deps.keys.deleteKey(c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
}
