import type { Command } from 'commander';
import { withContext } from '../context.js';
import { bytes, type Io, isoTime, printJson, printTable } from '../format.js';
import { examples } from '../help.js';
import { collect, parseTopicConfig, positiveIntegerOption } from '../parse.js';

interface TopicOptions {
  partitions?: number;
  config?: string[];
}

export function registerTopicsCommands(program: Command, io: Io): void {
  const topics = program
    .command('topics')
    .description('create, list, describe, alter and delete topics')
    .addHelpText(
      'after',
      `
Examples:
  $ sluice topics create orders --partitions 4 --config retentionMs=86400000
  $ sluice topics list
  $ sluice topics describe orders
  $ sluice topics alter orders --partitions 8 --config cleanupPolicy=compact
  $ sluice topics partitions orders
  $ sluice topics delete orders`,
    );

  topics
    .command('create')
    .description('create a topic')
    .argument('<name>', 'topic name: 1–249 of [a-zA-Z0-9._-]')
    .option('-p, --partitions <n>', 'number of partitions (default 1)', positiveIntegerOption('--partitions'))
    .option(
      '--config <key=value>',
      'topic config, repeatable: retentionMs, retentionBytes, cleanupPolicy, maxRecordBytes, deleteRetentionMs, minCompactionLagMs',
      collect,
    )
    .addHelpText(
      'after',
      `
Examples:
  $ sluice topics create orders
  $ sluice topics create clicks --partitions 12 --config retentionMs=3600000 --config cleanupPolicy=delete`,
    )
    .action(
      withContext(io, async (ctx, name: string, options: TopicOptions) => {
        const config = parseTopicConfig(options.config ?? []);
        const topic = await ctx.sluice.topics.create({
          name,
          ...(options.partitions !== undefined ? { partitions: options.partitions } : {}),
          ...(Object.keys(config).length > 0 ? { config } : {}),
        });
        if (ctx.json) return printJson(ctx.io, topic);
        ctx.io.stdout.write(`created topic ${topic.name} with ${topic.partitions} partition(s)\n`);
      }),
    );

  topics
    .command('list')
    .description('list the topics the token may see')
    .addHelpText(
      'after',
      examples('sluice topics list', "sluice --json topics list | jq -r '.topics[].name'"),
    )
    .action(
      withContext(io, async (ctx) => {
        const list = await ctx.sluice.topics.list();
        if (ctx.json) return printJson(ctx.io, { topics: list });
        printTable(
          ctx.io,
          ['topic', 'partitions'],
          list.map((t) => [t.name, t.partitions]),
        );
      }),
    );

  topics
    .command('describe')
    .description("show a topic's partitions count, config and creation time")
    .addHelpText(
      'after',
      examples('sluice topics describe orders', 'sluice --json topics describe orders | jq .config'),
    )
    .argument('<name>', 'topic name')
    .action(
      withContext(io, async (ctx, name: string) => {
        const topic = await ctx.sluice.topics.get(name);
        if (ctx.json) return printJson(ctx.io, topic);
        printTable(
          ctx.io,
          ['field', 'value'],
          [
            ['name', topic.name],
            ['partitions', topic.partitions],
            ['createdAt', isoTime(topic.createdAt)],
            ...Object.entries(topic.config).map(([k, v]): [string, string] => [k, String(v)]),
          ],
        );
      }),
    );

  topics
    .command('alter')
    .description("add partitions or change a topic's config (fields not given keep their value)")
    .argument('<name>', 'topic name')
    .option(
      '-p, --partitions <n>',
      'the new number of partitions (may only grow)',
      positiveIntegerOption('--partitions'),
    )
    .option('--config <key=value>', 'topic config to change, repeatable', collect)
    .addHelpText(
      'after',
      `
Examples:
  $ sluice topics alter orders --partitions 8
  $ sluice topics alter orders --config retentionMs=-1 --config cleanupPolicy=compact`,
    )
    .action(
      withContext(io, async (ctx, name: string, options: TopicOptions) => {
        const config = parseTopicConfig(options.config ?? []);
        const topic = await ctx.sluice.topics.alter(name, {
          ...(options.partitions !== undefined ? { partitions: options.partitions } : {}),
          ...(Object.keys(config).length > 0 ? { config } : {}),
        });
        if (ctx.json) return printJson(ctx.io, topic);
        ctx.io.stdout.write(`altered topic ${topic.name}: ${topic.partitions} partition(s)\n`);
      }),
    );

  topics
    .command('delete')
    .description('delete a topic (its data is removed in the background)')
    .addHelpText('after', examples('sluice topics delete orders'))
    .argument('<name>', 'topic name')
    .action(
      withContext(io, async (ctx, name: string) => {
        await ctx.sluice.topics.delete(name);
        if (ctx.json) return printJson(ctx.io, { deleted: name });
        ctx.io.stdout.write(`deleted topic ${name}\n`);
      }),
    );

  topics
    .command('partitions')
    .description("show each partition's log start, high watermark, segments and size")
    .addHelpText(
      'after',
      examples(
        'sluice topics partitions orders',
        "sluice --json topics partitions orders | jq '.partitions[].highWatermark'",
      ),
    )
    .argument('<name>', 'topic name')
    .action(
      withContext(io, async (ctx, name: string) => {
        const partitions = await ctx.sluice.topics.partitions(name);
        if (ctx.json) return printJson(ctx.io, { partitions });
        printTable(
          ctx.io,
          ['partition', 'logStartOffset', 'highWatermark', 'segments', 'size'],
          partitions.map((p) => [
            p.partition,
            p.logStartOffset,
            p.highWatermark,
            p.segments,
            bytes(p.sizeBytes),
          ]),
        );
      }),
    );
}
