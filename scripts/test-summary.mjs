#!/usr/bin/env node
// Prints one plain line `N passed, N failed` (plus `, N skipped` when some were skipped) from one or more
// vitest JSON reports (summed), as the last line of output. Exits 1 when a report is missing or unreadable,
// when anything failed, or when no test ran.
// Usage: node scripts/test-summary.mjs .tmp/test-results.json [.tmp/fault-results.json …]
import { readFileSync } from 'node:fs';

const reportPaths = process.argv.length > 2 ? process.argv.slice(2) : ['.tmp/test-results.json'];

function finish(passed, failed, skipped, ok, notes) {
  for (const note of notes) process.stderr.write(`${note}\n`);
  const line = `${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`;
  process.stdout.write(`${line}\n`);
  process.exitCode = ok ? 0 : 1;
}

function count(value) {
  return Number.isInteger(value) && value > 0 ? value : 0;
}

const total = { passed: 0, failed: 0, skipped: 0, ok: true, notes: [] };
for (const reportPath of reportPaths) {
  const r = summarize(reportPath);
  total.passed += r.passed;
  total.failed += r.failed;
  total.skipped += r.skipped;
  total.ok &&= r.ok;
  total.notes.push(...r.notes);
}
finish(total.passed, total.failed, total.skipped, total.ok && total.passed > 0, total.notes);

/** One report's counts; a missing report counts as one failure. */
function summarize(reportPath) {
  let report;
  try {
    report = JSON.parse(readFileSync(reportPath, 'utf8'));
  } catch (err) {
    // No report: the typecheck, the lint or the runner itself failed before any test ran. Count that as a
    // failure so the line agrees with the exit code.
    return {
      passed: 0,
      failed: 1,
      skipped: 0,
      ok: false,
      notes: [
        `test-summary: no usable test report at ${reportPath} (${String(err.message).replace(/\s+/g, ' ')})`,
      ],
    };
  }
  const notes = [];
  const passed = count(report.numPassedTests);
  let failed = count(report.numFailedTests);
  const skipped = count(report.numPendingTests) + count(report.numTodoTests);

  // A test file that failed as a whole (did not load, or a hook threw) may contain no failed test:
  // count each such file as one failure so the line matches the exit code.
  for (const file of Array.isArray(report.testResults) ? report.testResults : []) {
    const assertions = Array.isArray(file.assertionResults) ? file.assertionResults : [];
    if (file.status === 'failed' && !assertions.some((a) => a.status === 'failed')) {
      failed += 1;
      const message =
        typeof file.message === 'string' && file.message !== '' ? file.message.split('\n')[0] : '';
      notes.push(
        `test-summary: test file failed outside any test: ${file.name}${message ? ` (${message})` : ''}`,
      );
    }
  }
  if (passed + failed === 0) notes.push(`test-summary: no test ran (${reportPath})`);
  if (report.success === false && failed === 0) {
    notes.push(`test-summary: vitest reported the run as failed (unhandled errors?) (${reportPath})`);
  }
  return { passed, failed, skipped, ok: failed === 0 && passed > 0 && report.success !== false, notes };
}
