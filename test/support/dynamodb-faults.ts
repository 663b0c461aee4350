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
 * table) is sent and applied, then fails with a TimeoutError, as when the answer is lost; while
 * `unreachable` is on, it fails so without being sent. It sits outside
 * the SDK's own retries, so the Appender sees each failure. `onCommit` runs before each commit is sent
 * (the faults in force are read before it).
 */
export class CommitFaults {
  ambiguous = false;
  /** While on, every commit fails with a TimeoutError without being sent (DynamoDB unreachable). */
  unreachable = false;
  /** Commits sent while `ambiguous` was on. */
  failed = 0;
  onCommit: (() => Promise<void> | void) | undefined;

  attach(client: DynamoDBClient): void {
    (client.middlewareStack as unknown as MiddlewareStack).add(
      (next, context) => async (args) => {
        if (!isCommit(String(context.commandName ?? ''), args.input as Record<string, any>))
          return next(args);
        // The faults in force when the commit is sent, whatever `onCommit` changes for the next ones.
        const unreachable = this.unreachable;
        const fail = this.ambiguous;
        await this.onCommit?.();
        if (unreachable) {
          this.failed += 1;
          throw timeout('injected: DynamoDB did not answer (the commit was not applied)');
        }
        const result = await next(args);
        if (!fail) return result;
        this.failed += 1;
        throw timeout('injected: the commit was applied but its answer was lost');
      },
      { step: 'initialize', name: 'sluiceCommitFaults' },
    );
  }
}

function timeout(message: string): Error {
  const error = new Error(message);
  error.name = 'TimeoutError';
  return error;
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
