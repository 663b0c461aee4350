import type { Command } from 'commander';
import { withContext } from '../context.js';
import { bytes, type Io, printJson, printTable } from '../format.js';
import { examples } from '../help.js';
import { integerOption } from '../parse.js';

const JOBS = [
  ['compact', 'merge small segments and, on compacted topics, keep the latest record per key'],
  ['retention', 'remove batches older than retentionMs or beyond retentionBytes'],
  ['gc', 'delete S3 objects nothing references any more (after a grace period)'],
] as const;

export function registerAdminCommands(program: Command, io: Io): void {
  const admin = program
    .command('admin')
    .description('run one maintenance pass now (admin token only)')
    .addHelpText(
      'after',
      `
Examples:
  $ sluice admin compact --min-age-ms 0
  $ sluice admin retention
  $ sluice --json admin gc`,
    );
  for (const [job, description] of JOBS) {
    const command = admin
      .command(job)
      .description(`${description}: one pass`)
      .addHelpText(
        'after',
        examples(
          `sluice admin ${job}${job === 'compact' ? ' --min-age-ms 0' : ''}`,
          `sluice --json admin ${job}`,
        ),
      );
    if (job === 'compact') {
      command.option(
        '--min-age-ms <ms>',
        "override the compactor's minimum batch age for this pass",
        integerOption('--min-age-ms'),
      );
    }
    command.action(
      withContext(io, async (ctx, options: { minAgeMs?: number }) => {
        const report = await ctx.sluice.maintenance.run(
          job,
          options.minAgeMs !== undefined ? { minAgeMs: options.minAgeMs } : {},
        );
        if (ctx.json) return printJson(ctx.io, report);
        ctx.io.stdout.write(
          `${job}: ${report.complete ? 'complete' : 'stopped early (the next pass resumes)'} in ${report.durationMs} ms, ${report.partitions} partition(s)\n`,
        );
        printTable(
          ctx.io,
          ['', 'read', 'written', 'deleted'],
          [
            ['batches', report.batches.read, report.batches.written, report.batches.deleted],
            ['objects', report.objects.read, report.objects.written, report.objects.deleted],
            ['bytes', bytes(report.bytes.read), bytes(report.bytes.written), bytes(report.bytes.deleted)],
          ],
        );
      }),
    );
  }
}
