import type { Command } from 'commander';
import { withContext } from '../context.js';
import { UsageError } from '../errors.js';
import { type Io, isoTime, printJson, printTable } from '../format.js';
import { examples } from '../help.js';
import { collect, type Permission, parseAllow, parseDuration } from '../parse.js';

/** A key's permissions for people: `topics orders.*: produce,consume; groups billing-*: consume`. */
export function permissionsText(permissions: readonly Permission[]): string {
  return permissions
    .map((p) => ('topics' in p ? `topics ${p.topics}: ` : `groups ${p.groups}: `) + p.actions.join(','))
    .join('; ');
}

export function registerKeysCommands(program: Command, io: Io): void {
  const keys = program
    .command('keys')
    .description('mint, list and revoke API keys (admin token only)')
    .addHelpText(
      'after',
      `
Examples:
  $ sluice keys create billing --allow 'orders.*:consume' --allow-group 'billing-*:consume' --expires 30d
  $ sluice keys list
  $ sluice keys revoke 3f9c0b7e5d2a4c18`,
    );

  keys
    .command('create')
    .description('mint an API key; its token is printed once')
    .argument('<name>', 'a name for people (1–200 characters)')
    .option(
      '--allow <pattern:actions>',
      "topic permission, repeatable: a topic pattern (* matches any run) and actions among produce, consume, admin, e.g. 'orders.*:produce,consume'",
      collect,
    )
    .option(
      '--allow-group <pattern:actions>',
      "consumer-group permission, repeatable, e.g. 'billing-*:consume' (a key with none can use no group)",
      collect,
    )
    .option('--expires <duration>', 'expire after this long: 30d, 12h, 90m, 2w')
    .addHelpText(
      'after',
      `
Examples:
  $ sluice keys create ingest --allow 'orders.*:produce'
  $ sluice keys create billing --allow 'orders.*:consume' --allow-group 'billing-*:consume' --expires 30d
  $ export SLUICE_TOKEN=$(sluice --json keys create ci --allow '*:produce' | jq -r .token)`,
    )
    .action(
      withContext(
        io,
        async (ctx, name: string, options: { allow?: string[]; allowGroup?: string[]; expires?: string }) => {
          const permissions = [
            ...(options.allow ?? []).map((a) => parseAllow(a, 'topics')),
            ...(options.allowGroup ?? []).map((a) => parseAllow(a, 'groups')),
          ];
          if (permissions.length === 0) {
            throw new UsageError(
              "keys create needs at least one --allow or --allow-group (e.g. --allow 'orders:produce')",
            );
          }
          const expiresAt =
            options.expires !== undefined
              ? Date.now() + parseDuration(options.expires, '--expires')
              : undefined;
          const key = await ctx.sluice.keys.create({
            name,
            permissions,
            ...(expiresAt !== undefined ? { expiresAt } : {}),
          });
          if (ctx.json) return printJson(ctx.io, key);
          ctx.io.stdout.write(
            `created key ${key.id} (${name}): ${permissionsText(key.permissions)}` +
              `${key.expiresAt != null ? `, expires ${isoTime(key.expiresAt)}` : ''}\n` +
              'token (shown only now):\n' +
              `${key.token}\n`,
          );
        },
      ),
    );

  keys
    .command('list')
    .description('list API keys (never their tokens)')
    .addHelpText('after', examples('sluice keys list', "sluice --json keys list | jq -r '.keys[].id'"))
    .action(
      withContext(io, async (ctx) => {
        const list = await ctx.sluice.keys.list();
        if (ctx.json) return printJson(ctx.io, { keys: list });
        printTable(
          ctx.io,
          ['id', 'name', 'permissions', 'expiresAt', 'createdAt', 'lastUsedAt'],
          list.map((k) => [
            k.id,
            k.name,
            permissionsText(k.permissions),
            isoTime(k.expiresAt),
            isoTime(k.createdAt),
            isoTime(k.lastUsedAt),
          ]),
        );
      }),
    );

  keys
    .command('revoke')
    .description('revoke an API key (refused everywhere within the key cache bound, 5 s)')
    .addHelpText('after', examples('sluice keys revoke 3f9c0b7e5d2a4c18'))
    .argument('<id>', 'the key id (from keys list)')
    .action(
      withContext(io, async (ctx, id: string) => {
        await ctx.sluice.keys.revoke(id);
        if (ctx.json) return printJson(ctx.io, { revoked: id });
        ctx.io.stdout.write(`revoked key ${id}\n`);
      }),
    );
}
