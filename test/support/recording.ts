import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';

type Handler = (args: { input: unknown }) => Promise<unknown>;
/** The one method of the SDK's middleware stack used here, typed for any client. */
interface MiddlewareStack {
  add(
    middleware: (next: Handler, context: { commandName?: string }) => Handler,
    options: { step: 'initialize'; name: string },
  ): void;
}

/**
 * Records the IAM actions that the calls made through real SDK clients need, as IAM authorises them: a
 * TransactWriteItems item as the PutItem, UpdateItem, DeleteItem or ConditionCheckItem it performs, a
 * DeleteObjects call as s3:DeleteObject, ListObjectsV2 as s3:ListBucket, HeadObject as s3:GetObject. It is
 * a middleware on the client (the calls still go to the emulators); the infra tests compare what it saw
 * with each role's grants.
 */
export class CallRecorder {
  /** `dynamodb:<Action> <table>` and `s3:<Action> <bucket>[/*]` */
  readonly calls = new Set<string>();
  /** While false (setup, table creation), nothing is recorded. */
  recording = true;

  attach(client: DynamoDBClient | S3Client): void {
    const service = (client.config as { serviceId?: string }).serviceId;
    (client.middlewareStack as unknown as MiddlewareStack).add(
      (next, context) => async (args) => {
        if (this.recording) {
          const name = String(context.commandName ?? '').replace(/Command$/, '');
          const input = args.input as Record<string, any>;
          if (service === 'DynamoDB') this.dynamodb(name, input);
          else this.s3(name, input);
        }
        return next(args);
      },
      { step: 'initialize', name: 'sluiceCallRecorder' },
    );
  }

  private dynamodb(name: string, input: Record<string, any>): void {
    const add = (action: string, table: unknown) => this.calls.add(`dynamodb:${action} ${String(table)}`);
    switch (name) {
      case 'TransactWriteItems':
        for (const item of input.TransactItems ?? []) {
          for (const [kind, action] of [
            ['Put', 'PutItem'],
            ['Update', 'UpdateItem'],
            ['Delete', 'DeleteItem'],
            ['ConditionCheck', 'ConditionCheckItem'],
          ] as const) {
            if (item[kind]) add(action, item[kind].TableName);
          }
        }
        return;
      case 'TransactGetItems':
        for (const item of input.TransactItems ?? []) add('GetItem', item.Get?.TableName);
        return;
      case 'BatchGetItem':
      case 'BatchWriteItem':
        for (const table of Object.keys(input.RequestItems ?? {})) add(name, table);
        return;
      default:
        add(name, input.TableName);
    }
  }

  private s3(name: string, input: Record<string, any>): void {
    const objects = `${String(input.Bucket)}/*`;
    const actions: Record<string, [string, string]> = {
      PutObject: ['PutObject', objects],
      GetObject: ['GetObject', objects],
      HeadObject: ['GetObject', objects],
      DeleteObject: ['DeleteObject', objects],
      DeleteObjects: ['DeleteObject', objects],
      ListObjectsV2: ['ListBucket', String(input.Bucket)],
      CreateMultipartUpload: ['PutObject', objects],
      UploadPart: ['PutObject', objects],
      CompleteMultipartUpload: ['PutObject', objects],
      AbortMultipartUpload: ['AbortMultipartUpload', objects],
    };
    const [action, resource] = actions[name] ?? [name, String(input.Bucket)];
    this.calls.add(`s3:${action} ${resource}`);
  }

  /** The recorded calls with table and bucket names replaced by their roles (`metadata`, `index`, `bucket`). */
  byResource(names: { metadata: string; index: string; bucket: string }): Record<string, string[]> {
    const result: Record<string, Set<string>> = {};
    for (const call of this.calls) {
      const [action = '', resource = ''] = call.split(' ');
      const role =
        resource === names.metadata
          ? 'metadata'
          : resource === names.index
            ? 'index'
            : resource === names.bucket
              ? 'bucket'
              : resource === `${names.bucket}/*`
                ? 'objects'
                : resource;
      const actions = result[role] ?? new Set<string>();
      actions.add(action);
      result[role] = actions;
    }
    return Object.fromEntries(
      Object.entries(result)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([role, actions]) => [role, [...actions].sort()]),
    );
  }
}
