import { run } from './program.js';

// The `sluice` entry point (bin/sluice.mjs imports it): runs the command and sets the exit code. A command
// that streams (consume --follow) keeps the process alive until it ends or Ctrl-C.
process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  isTTY: process.stdout.isTTY === true,
});
