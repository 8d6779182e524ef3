// Prints one plain line "tests: N passed, N failed, N skipped" from forge's summary lines in the
// `npm test` log and vitest's JSON report, so CI can read what ran.
import { existsSync, readFileSync } from 'node:fs';

const [logPath, vitestPath] = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
if (logPath && existsSync(logPath)) {
  const log = readFileSync(logPath, 'utf8');
  for (const m of log.matchAll(
    /Ran \d+ test suites? in .*?: (\d+) tests passed, (\d+) failed, (\d+) skipped/g,
  )) {
    passed += Number(m[1]);
    failed += Number(m[2]);
    skipped += Number(m[3]);
  }
}
if (vitestPath && existsSync(vitestPath)) {
  const report = JSON.parse(readFileSync(vitestPath, 'utf8'));
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
