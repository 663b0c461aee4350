import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { registerAdminCommands } from './commands/admin.js';
import { registerBenchCommand } from './commands/bench.js';
import { registerConsumeCommand } from './commands/consume.js';
import { registerGroupsCommands } from './commands/groups.js';
import { registerKeysCommands } from './commands/keys.js';
import { registerProduceCommand } from './commands/produce.js';
import { registerProfilesCommands } from './commands/profiles.js';
import { registerTopicsCommands } from './commands/topics.js';
import { registerWebhooksCommands } from './commands/webhooks.js';
import { describeFailure } from './context.js';
import { EXIT, UsageError } from './errors.js';
import type { Io } from './format.js';

/** The project's version, from package.json (the CLI runs from the clone's sources). */
function packageVersion(): string {
  const manifest: unknown = createRequire(import.meta.url)('../package.json');
  const version = (manifest as { version?: unknown }).version;
  return typeof version === 'string' ? version : 'unknown';
}

/** The whole `sluice` command tree. Every command writes through `io`, so tests can run it in-process. */
export function buildProgram(io: Io): Command {
  const program = new Command('sluice')
    .description('Command-line client for Sluice, a serverless Kafka-style event log')
    .version(packageVersion())
    .addOption(
      new Option('--url <url>', 'server URL (else $SLUICE_URL, a profile, or http://127.0.0.1:8080)'),
    )
    .addOption(
      new Option(
        '--token <token>',
        'bearer token (else $SLUICE_TOKEN, $SLUICE_ADMIN_TOKEN, .sluice/admin-token for the local server, or a profile)',
      ),
    )
    .addOption(
      new Option('--profile <name>', 'a named url and token from the profile file (see `sluice profiles`)'),
    )
    .addOption(
      new Option('--json', 'machine-readable output: JSON on stdout (one line per record when streaming)'),
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .addHelpText(
      'after',
      `
Connection: --url/--token, else SLUICE_URL (default http://127.0.0.1:8080) and SLUICE_TOKEN (else
SLUICE_ADMIN_TOKEN, else the local server's .sluice/admin-token), else a profile (--profile NAME).

Examples:
  $ sluice topics create orders --partitions 4
  $ sluice produce orders --key-separator : --file orders.txt
  $ sluice consume orders --group billing --from beginning -e
  $ sluice consume orders --partition 0 --from beginning -e --format '%p %o %k %v\\n'
  $ sluice groups describe billing
  $ sluice --json topics list

Exit codes: 0 success, 1 the server refused or could not be reached, 2 a usage error.`,
    );
  registerTopicsCommands(program, io);
  registerProduceCommand(program, io);
  registerConsumeCommand(program, io);
  registerGroupsCommands(program, io);
  registerKeysCommands(program, io);
  registerWebhooksCommands(program, io);
  registerAdminCommands(program, io);
  registerBenchCommand(program, io);
  registerProfilesCommands(program, io);
  return program;
}

/** Runs `sluice` with `argv` (without node and the script) and answers the exit code. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end by "throwing" with exit code 0; everything else commander reports (an unknown
      // option, a missing argument, a bad option value) is a usage error, already printed.
      if (error.exitCode === 0) return EXIT.ok;
      return EXIT.usage;
    }
    if (error instanceof UsageError) {
      io.stderr.write(`sluice: ${error.message}\n`);
      return EXIT.usage;
    }
    io.stderr.write(`sluice: ${describeFailure(error)}\n`);
    return EXIT.serverError;
  }
}
