import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { InvalidRequestError } from '../../lib/errors.js';
import { checkPassOverride } from '../../lib/maintenance/pass-override.js';
import { MAINTENANCE_JOBS } from '../../lib/maintenance/report.js';
import type { MaintenanceRunner } from '../../lib/maintenance/runner.js';
import { requireAdminToken } from './auth.js';
import { authResponses, jsonBodyResponses, problemDoc } from './schemas.js';

export const MaintenanceBody = z
  .object({
    minAgeMs: z.number().int().min(0).optional().openapi({
      description: "Overrides the compactor's minimum batch age for this pass (0: compact everything now)",
    }),
  })
  .strict()
  .openapi('MaintenanceRun');

/** How long one pass run through the API may take before it stops (and records where). */
export const ADMIN_PASS_MAX_MS = 20_000;

const Counts = z.object({ read: z.number(), written: z.number(), deleted: z.number() });

export const MaintenanceReportSchema = z
  .object({
    job: z.enum(['compact', 'retention', 'gc']),
    startedAt: z.number().int(),
    durationMs: z.number().int(),
    complete: z.boolean(),
    partitions: z.number().int(),
    batches: Counts,
    objects: Counts,
    bytes: Counts,
    dynamodb: z.object({ readUnits: z.number(), writeUnits: z.number() }),
    details: z.record(z.string(), z.number()),
  })
  .openapi('MaintenanceReport');

/**
 * `POST /v1/admin/maintenance/{job}`: one pass of a background job, now (admin token only), stopping after
 * `maxRunMs` (ADMIN_PASS_MAX_MS: inside the API function's 30 s timeout; the next pass resumes).
 */
export function registerAdminRoutes(
  app: OpenAPIHono,
  run: MaintenanceRunner,
  maxRunMs = ADMIN_PASS_MAX_MS,
): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/maintenance/{job}',
      operationId: 'runMaintenance',
      tags: ['Maintenance'],
      summary: 'Run one pass of compaction, retention or garbage collection now (admin token)',
      request: {
        params: z.object({
          job: z.enum(MAINTENANCE_JOBS).openapi({ param: { name: 'job', in: 'path' }, example: 'compact' }),
        }),
        body: { content: { 'application/json': { schema: MaintenanceBody } }, required: false },
      },
      responses: {
        ...authResponses,
        ...jsonBodyResponses,
        200: {
          description: 'What the pass did',
          content: { 'application/json': { schema: MaintenanceReportSchema } },
        },
        400: problemDoc(
          'INVALID_REQUEST: an unknown job, a bad body, or minAgeMs for a job other than compact',
        ),
      },
    }),
    async (c) => {
      requireAdminToken(c, 'run maintenance');
      const { job } = c.req.valid('param');
      const text = await c.req.text();
      let body: z.infer<typeof MaintenanceBody> = {};
      if (text.trim() !== '') {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          throw new InvalidRequestError('body: not JSON');
        }
        const parsed = MaintenanceBody.safeParse(json);
        if (!parsed.success) {
          throw new InvalidRequestError(
            parsed.error.issues.map((i) => `body.${i.path.join('.')}: ${i.message}`).join('; '),
          );
        }
        body = parsed.data;
      }
      checkPassOverride(job, body);
      const report = await run(job, { maxRunMs, minAgeMs: body.minAgeMs });
      return c.json(report, 200);
    },
  );
}
