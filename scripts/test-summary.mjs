// Prints one closing line over every suite `make test` ran:  "total: N passed, N failed, N skipped".
// Usage: node scripts/test-summary.mjs <ctest junit xml> <jest json>
// A missing report means that runner crashed before reporting; it counts as one failure.
import { existsSync, readFileSync } from 'node:fs';

const [junitPath, jestPath] = process.argv.slice(2);
const rows = [];

if (existsSync(junitPath)) {
  const xml = readFileSync(junitPath, 'utf8');
  const attr = (name) => Number((xml.match(new RegExp(`<testsuite[^>]*\\s${name}="(\\d+)"`)) ?? [])[1] ?? 0);
  const skipped = attr('skipped') + attr('disabled');
  rows.push(['ctest', attr('tests') - attr('failures') - skipped, attr('failures'), skipped]);
} else {
  rows.push(['ctest', 0, 1, 0]);
}

if (existsSync(jestPath)) {
  const jest = JSON.parse(readFileSync(jestPath, 'utf8'));
  // A suite that fails to load has no failed tests but still fails the run.
  const brokenSuites = jest.testResults.filter((s) => s.status === 'failed' && s.assertionResults.length === 0).length;
  rows.push(['jest', jest.numPassedTests, jest.numFailedTests + brokenSuites, jest.numPendingTests + jest.numTodoTests]);
} else {
  rows.push(['jest', 0, 1, 0]);
}

console.log('== summary ==');
for (const [name, passed, failed, skipped] of rows) console.log(`${name}: ${passed} passed, ${failed} failed, ${skipped} skipped`);
const sum = (i) => rows.reduce((total, row) => total + row[i], 0);
console.log(`total: ${sum(1)} passed, ${sum(2)} failed, ${sum(3)} skipped`);
