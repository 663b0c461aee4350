import type { Command } from 'commander';
import { withContext } from '../context.js';
import { UsageError } from '../errors.js';
import { type Io, isoTime, printJson, printTable } from '../format.js';
import { examples } from '../help.js';
import { collect, parseFrom } from '../parse.js';

export type ResetTarget =
  | { to: 'earliest' }
  | { to: 'latest' }
  | { to: 'offset'; offset: number }
  | { to: 'timestamp'; timestamp: number };

/** `--to earliest|latest|OFFSET|@TIMESTAMP_MS` as the reset body's target. */
export function parseResetTarget(text: string): ResetTarget {
  let from: ReturnType<typeof parseFrom>;
  try {
    from = parseFrom(text);
  } catch {
    throw new UsageError(
      `--to takes earliest, latest, an offset (e.g. 42) or @ and a time in epoch milliseconds, not '${text}'`,
    );
  }
  switch (from.kind) {
    case 'beginning':
      return { to: 'earliest' };
    case 'end':
      return { to: 'latest' };
    case 'offset':
      return { to: 'offset', offset: from.offset };
    case 'timestamp':
      return { to: 'timestamp', timestamp: from.timestamp };
  }
}

export function registerGroupsCommands(program: Command, io: Io): void {
  const groups = program
    .command('groups')
    .description('list, describe and reset consumer groups')
    .addHelpText(
      'after',
      `
Examples:
  $ sluice groups list
  $ sluice groups describe billing
  $ sluice groups reset billing --to earliest --topic orders`,
    );

  groups
    .command('list')
    .description('list the consumer groups the token may describe')
    .addHelpText('after', examples('sluice groups list', 'sluice --json groups list'))
    .action(
      withContext(io, async (ctx) => {
        const list = await ctx.sluice.groups.list();
        if (ctx.json) return printJson(ctx.io, { groups: list });
        printTable(
          ctx.io,
          ['group', 'generation', 'members'],
          list.map((g) => [g.group, g.generation, g.members]),
        );
      }),
    );

  groups
    .command('describe')
    .description("show a group's members and, per partition, committed offset, high watermark and lag")
    .addHelpText(
      'after',
      examples(
        'sluice groups describe billing',
        "sluice --json groups describe billing | jq '[.offsets[].lag] | add'",
      ),
    )
    .argument('<group>', 'group name')
    .action(
      withContext(io, async (ctx, name: string) => {
        const group = await ctx.sluice.groups.describe(name);
        if (ctx.json) return printJson(ctx.io, group);
        ctx.io.stdout.write(
          `group ${group.group}: generation ${group.generation}, ${group.members.length} live member(s)\n\n`,
        );
        if (group.members.length > 0) {
          printTable(
            ctx.io,
            ['member', 'assignments', 'expiresAt'],
            group.members.map((m) => [
              m.memberId,
              m.assignments.map((a) => `${a.topic}/${a.partition}`).join(' ') || '-',
              isoTime(m.expiresAt),
            ]),
          );
          ctx.io.stdout.write('\n');
        }
        printTable(
          ctx.io,
          ['topic', 'partition', 'committed', 'highWatermark', 'lag'],
          group.offsets.map((o) => [o.topic, o.partition, o.committedOffset, o.highWatermark, o.lag]),
        );
      }),
    );

  groups
    .command('reset')
    .description("move a group's committed offsets (only while the group has no live member)")
    .argument('<group>', 'group name')
    .requiredOption('--to <target>', 'earliest, latest, an offset, or @TIMESTAMP_MS')
    .option(
      '--topic <topic>',
      'only this topic, repeatable (default: every topic the group has offsets for)',
      collect,
    )
    .addHelpText(
      'after',
      `
Examples:
  $ sluice groups reset billing --to earliest
  $ sluice groups reset billing --to @1767225600000 --topic orders
  $ sluice groups reset billing --to 100 --topic orders   # every partition, clamped to its log`,
    )
    .action(
      withContext(io, async (ctx, name: string, options: { to: string; topic?: string[] }) => {
        const target = parseResetTarget(options.to);
        const offsets = await ctx.sluice.groups.reset(name, {
          ...target,
          ...(options.topic !== undefined ? { topics: options.topic } : {}),
        });
        if (ctx.json) return printJson(ctx.io, { offsets });
        printTable(
          ctx.io,
          ['topic', 'partition', 'offset'],
          offsets.map((o) => [o.topic, o.partition, o.offset]),
        );
      }),
    );
}
