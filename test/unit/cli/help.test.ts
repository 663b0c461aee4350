import { PassThrough } from 'node:stream';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import type { Io } from '../../../cli/format.js';
import { buildProgram, run } from '../../../cli/program.js';

function capture(): { io: Io; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return { io: { stdout, stderr, isTTY: false }, out: () => out, err: () => err };
}

/** Every command path of the tree: ['topics'], ['topics', 'create'], … */
function paths(command: Command, prefix: string[] = []): string[][] {
  return command.commands.flatMap((c) => [[...prefix, c.name()], ...paths(c, [...prefix, c.name()])]);
}

const all = paths(buildProgram(capture().io));

describe('sluice --help', () => {
  it('covers the commands of the issue', () => {
    const names = all.map((p) => p.join(' '));
    for (const name of [
      'topics create',
      'topics list',
      'topics describe',
      'topics alter',
      'topics delete',
      'topics partitions',
      'produce',
      'consume',
      'groups list',
      'groups describe',
      'groups reset',
      'keys create',
      'keys list',
      'keys revoke',
      'webhooks set',
      'webhooks get',
      'webhooks list',
      'webhooks delete',
      'admin compact',
      'admin retention',
      'admin gc',
      'bench',
    ]) {
      expect(names).toContain(name);
    }
  });

  it.each([[[] as string[]], ...all.map((p) => [p])])(
    '"sluice %s --help" exits 0 with examples',
    async (path) => {
      const { io, out } = capture();
      expect(await run([...path, '--help'], io)).toBe(0);
      expect(out()).toMatch(/^Usage: sluice/);
      expect(out()).toMatch(/\nExamples:\n {2}\$ .*sluice /);
    },
  );

  it('an unknown command or option is a usage error (exit 2)', async () => {
    const { io, err } = capture();
    expect(await run(['topics', 'lst'], io)).toBe(2);
    expect(err()).toMatch(/unknown command 'lst'/);
  });
});
