import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { MaintenanceJob, MaintenanceReport } from '../lib/maintenance/report.js';
import type { MaintenanceRunner } from '../lib/maintenance/runner.js';

/**
 * Runs an admin-requested maintenance pass in the job's own Lambda function (a synchronous Invoke, with the
 * pass's budget in the event) and answers that function's report. A function error (the pass threw, or
 * timed out) becomes an Error with the function's message, which the API answers as a 500.
 */
export function lambdaRunner(
  client: LambdaClient,
  functions: Record<MaintenanceJob, string>,
): MaintenanceRunner {
  return async (job, override) => {
    const response = await client.send(
      new InvokeCommand({
        FunctionName: functions[job],
        InvocationType: 'RequestResponse',
        Payload: Buffer.from(JSON.stringify({ job, ...override })),
      }),
    );
    const text = response.Payload ? Buffer.from(response.Payload).toString('utf8') : '';
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      payload = undefined;
    }
    if (response.FunctionError !== undefined) {
      const message =
        typeof payload === 'object' && payload !== null && 'errorMessage' in payload
          ? String(payload.errorMessage)
          : text;
      throw new Error(`the ${job} function failed (${response.FunctionError}): ${message}`);
    }
    if (typeof payload !== 'object' || payload === null || (payload as { job?: unknown }).job !== job) {
      throw new Error(
        `the ${job} function answered something other than a ${job} report: ${text.slice(0, 200)}`,
      );
    }
    return payload as MaintenanceReport;
  };
}
