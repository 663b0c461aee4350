import { mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { parseProfiles, profilePath, readTextIfExists, withProfile } from '../connection.js';
import { globals } from '../context.js';
import { UsageError } from '../errors.js';
import { type Io, printJson, printTable } from '../format.js';
import { examples } from '../help.js';

export function registerProfilesCommands(program: Command, io: Io): void {
  const path = () => profilePath(process.platform, process.env, homedir());
  const profiles = program
    .command('profiles')
    .description('named servers and tokens, kept in the profile file (used with --profile NAME)')
    .addHelpText(
      'after',
      `
The file is <config dir>/sluice/profiles.json: $XDG_CONFIG_HOME or ~/.config on Linux,
~/Library/Application Support on macOS, %APPDATA% on Windows. It is written readable by its owner only.
A profile named "default" is used when no --profile (or SLUICE_PROFILE) is given; flags and environment
variables still win over it.

Examples:
  $ sluice profiles set prod --url https://abc123.execute-api.eu-west-1.amazonaws.com --token sk_...
  $ sluice --profile prod topics list
  $ sluice profiles list`,
    );

  profiles
    .command('set')
    .description('create or replace a profile')
    .addHelpText(
      'after',
      examples(
        'sluice profiles set prod --url https://abc123.execute-api.eu-west-1.amazonaws.com --token sk_...',
        'sluice profiles set default --url http://127.0.0.1:8080',
      ),
    )
    .argument('<name>', 'profile name')
    .addHelpText('after', '\nTakes the global --url (required) and --token.')
    .action((name: string, _options: unknown, command: Command) => {
      // --url and --token are the program's options (they may come after the subcommand's name).
      const { url, token } = globals(command);
      if (url === undefined) throw new UsageError('profiles set needs --url (and usually --token)');
      const file = path();
      const text = withProfile(readTextIfExists(file), file, name, {
        ...(url !== undefined ? { url } : {}),
        ...(token !== undefined ? { token } : {}),
      });
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, text, { mode: 0o600 });
      io.stdout.write(`saved profile ${name} in ${file}\n`);
    });

  profiles
    .command('list')
    .description('list profiles (never their tokens)')
    .addHelpText('after', examples('sluice profiles list'))
    .action((_options: unknown, command: Command) => {
      const file = path();
      const text = readTextIfExists(file);
      const entries = text === undefined ? [] : [...parseProfiles(text, file).entries()];
      if (globals(command).json) {
        printJson(
          io,
          entries.map(([name, p]) => ({ name, url: p.url ?? null, token: p.token !== undefined })),
        );
        return;
      }
      if (text === undefined) io.stderr.write(`no profile file yet (${file})\n`);
      printTable(
        io,
        ['profile', 'url', 'token'],
        entries.map(([name, p]) => [name, p.url ?? '-', p.token !== undefined ? 'yes' : 'no']),
      );
    });

  profiles
    .command('path')
    .description("print the profile file's path")
    .addHelpText('after', examples('sluice profiles path'))
    .action(() => {
      io.stdout.write(`${path()}\n`);
    });
}
