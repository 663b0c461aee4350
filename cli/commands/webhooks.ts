import type { Command } from 'commander';
import { withContext } from '../context.js';
import { UsageError } from '../errors.js';
import { type Io, isoTime, printJson, printTable } from '../format.js';
import { examples } from '../help.js';
import { collect, parseDuration, positiveIntegerOption } from '../parse.js';

const SCHEMES = ['standard-webhooks', 'github', 'stripe', 'hmac-sha256', 'none'] as const;
type Scheme = (typeof SCHEMES)[number];

interface SetOptions {
  topic: string;
  scheme: string;
  secret?: string[];
  header?: string;
  toleranceSec?: number;
  key?: string;
  copyHeader?: string[];
  dedupeWindow?: string;
}

/** A source as one table: its settings and counters. */
function sourceRows(source: {
  source: string;
  topic: string;
  verify: { scheme: string; header?: string | undefined; toleranceSec: number; secrets: number };
  key?: string | undefined;
  headers: readonly string[];
  dedupeWindowMs: number;
  createdAt: number;
  updatedAt: number;
  counters: { accepted: number; duplicate: number; rejected: Readonly<Record<string, number>> };
}): [string, string | number][] {
  const rejected = Object.entries(source.counters.rejected);
  return [
    ['source', source.source],
    ['topic', source.topic],
    ['scheme', source.verify.scheme],
    ['signature header', source.verify.header ?? '-'],
    ['toleranceSec', source.verify.toleranceSec],
    ['secrets', source.verify.secrets],
    ['key', source.key ?? '-'],
    ['copied headers', source.headers.join(', ') || '-'],
    ['dedupeWindowMs', source.dedupeWindowMs],
    ['createdAt', isoTime(source.createdAt)],
    ['updatedAt', isoTime(source.updatedAt)],
    ['accepted', source.counters.accepted],
    ['duplicate', source.counters.duplicate],
    ['rejected', rejected.length === 0 ? 0 : rejected.map(([reason, n]) => `${reason}: ${n}`).join(', ')],
  ];
}

export function registerWebhooksCommands(program: Command, io: Io): void {
  const webhooks = program
    .command('webhooks')
    .description('configure webhook sources that turn signed deliveries into records')
    .addHelpText(
      'after',
      `
Examples:
  $ sluice webhooks set github-main --topic orders --scheme github --secret "$GITHUB_SECRET" --key header:x-github-event
  $ sluice webhooks get github-main
  $ sluice webhooks list
  $ sluice webhooks delete github-main

Deliveries go to POST <url>/v1/webhooks/<source> (no token: the signature authenticates them).`,
    );

  webhooks
    .command('set')
    .description('create or replace a webhook source')
    .argument('<source>', 'source name: 1–249 of [a-zA-Z0-9._-]')
    .requiredOption('--topic <topic>', 'the topic deliveries are appended to (must exist)')
    .requiredOption('--scheme <scheme>', `signature scheme: ${SCHEMES.join(', ')}`)
    .option('--secret <secret>', 'signing secret; give it twice while rotating', collect)
    .option('--header <name>', 'hmac-sha256: the header that carries the signature')
    .option(
      '--tolerance-sec <n>',
      'allowed clock skew of signed timestamps (1–3600)',
      positiveIntegerOption('--tolerance-sec'),
    )
    .option('--key <extractor>', 'record key from header:<name> or json:<dot.path>')
    .option('--copy-header <name>', 'copy this request header onto records, repeatable', collect)
    .option('--dedupe-window <duration>', 'how long a delivery id is remembered: 1h to 30d (default 3d)')
    .addHelpText(
      'after',
      `
Examples:
  $ sluice webhooks set stripe --topic payments --scheme stripe --secret whsec_...
  $ sluice webhooks set internal --topic events --scheme hmac-sha256 --secret s3cret --header x-signature --key json:customer.id`,
    )
    .action(
      withContext(io, async (ctx, source: string, options: SetOptions) => {
        const scheme = SCHEMES.find((s) => s === options.scheme);
        if (scheme === undefined) {
          throw new UsageError(`--scheme takes ${SCHEMES.join(', ')}, not '${options.scheme}'`);
        }
        const secrets = options.secret ?? [];
        if (secrets.length > 2) throw new UsageError('--secret may be given at most twice (while rotating)');
        const verify: {
          scheme: Scheme;
          secret?: string | [string, string];
          header?: string;
          toleranceSec?: number;
        } = { scheme };
        if (secrets.length === 1 && secrets[0] !== undefined) verify.secret = secrets[0];
        if (secrets.length === 2 && secrets[0] !== undefined && secrets[1] !== undefined) {
          verify.secret = [secrets[0], secrets[1]];
        }
        if (options.header !== undefined) verify.header = options.header;
        if (options.toleranceSec !== undefined) verify.toleranceSec = options.toleranceSec;
        const result = await ctx.sluice.webhooks.set(source, {
          topic: options.topic,
          verify,
          ...(options.key !== undefined ? { key: options.key } : {}),
          ...(options.copyHeader !== undefined ? { headers: options.copyHeader } : {}),
          ...(options.dedupeWindow !== undefined
            ? { dedupeWindowMs: parseDuration(options.dedupeWindow, '--dedupe-window') }
            : {}),
        });
        if (ctx.json) return printJson(ctx.io, result);
        printTable(ctx.io, ['field', 'value'], sourceRows(result));
      }),
    );

  webhooks
    .command('get')
    .description("show a source's settings (never a secret) and its counters")
    .addHelpText(
      'after',
      examples('sluice webhooks get github-main', 'sluice --json webhooks get github-main | jq .counters'),
    )
    .argument('<source>', 'source name')
    .action(
      withContext(io, async (ctx, source: string) => {
        const result = await ctx.sluice.webhooks.get(source);
        if (ctx.json) return printJson(ctx.io, result);
        printTable(ctx.io, ['field', 'value'], sourceRows(result));
      }),
    );

  webhooks
    .command('list')
    .description('list the sources the token may administer')
    .addHelpText('after', examples('sluice webhooks list'))
    .action(
      withContext(io, async (ctx) => {
        const list = await ctx.sluice.webhooks.list();
        if (ctx.json) return printJson(ctx.io, { sources: list });
        printTable(
          ctx.io,
          ['source', 'topic', 'scheme', 'accepted', 'duplicate'],
          list.map((s) => [s.source, s.topic, s.verify.scheme, s.counters.accepted, s.counters.duplicate]),
        );
      }),
    );

  webhooks
    .command('delete')
    .description('remove a source (its records stay in the topic)')
    .addHelpText('after', examples('sluice webhooks delete github-main'))
    .argument('<source>', 'source name')
    .action(
      withContext(io, async (ctx, source: string) => {
        await ctx.sluice.webhooks.delete(source);
        if (ctx.json) return printJson(ctx.io, { deleted: source });
        ctx.io.stdout.write(`deleted webhook source ${source}\n`);
      }),
    );
}
