import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

type Handler = (args: { input: unknown }) => Promise<unknown>;
interface MiddlewareStack {
  add(
    middleware: (next: Handler, context: { commandName?: string }) => Handler,
    options: { step: 'initialize'; name: string },
  ): void;
}

/**
 * Faults on the offset commits of a real DynamoDB client (a middleware; the calls still go to DynamoDB
 * Local): while `ambiguous` is on, every commit (a conditional PutItem or a TransactWriteItems on the index
 * table) is sent and applied, then fails with a TimeoutError, as when the answer is lost. It sits outside
 * the SDK's own retries, so the Appender sees each failure. `onCommit` runs before each commit is sent.
 */
export class CommitFaults {
  ambiguous = false;
  /** Commits sent while `ambiguous` was on. */
  failed = 0;
  onCommit: (() => Promise<void> | void) | undefined;

  attach(client: DynamoDBClient): void {
    (client.middlewareStack as unknown as MiddlewareStack).add(
      (next, context) => async (args) => {
        if (!isCommit(String(context.commandName ?? ''), args.input as Record<string, any>))
          return next(args);
        await this.onCommit?.();
        const fail = this.ambiguous;
        const result = await next(args);
        if (!fail) return result;
        this.failed += 1;
        const error = new Error('injected: the commit was applied but its answer was lost');
        error.name = 'TimeoutError';
        throw error;
      },
      { step: 'initialize', name: 'sluiceCommitFaults' },
    );
  }
}

function isCommit(command: string, input: Record<string, any>): boolean {
  if (command === 'PutItemCommand') {
    return (
      String(input.TableName).endsWith('index') && input.ConditionExpression === 'attribute_not_exists(pk)'
    );
  }
  if (command === 'TransactWriteItemsCommand') {
    return (input.TransactItems ?? []).some(
      (item: any) =>
        String(item.Put?.TableName ?? '').endsWith('index') &&
        item.Put?.ConditionExpression === 'attribute_not_exists(pk)',
    );
  }
  return false;
}
