// Prints one closing line over every suite `make test` ran:  "total: N passed, N failed, N skipped".
// Usage: node scripts/test-summary.mjs <report>...   (ctest JUnit *.xml or Jest --json *.json)
// A missing report means that runner crashed before reporting; it counts as one failure.
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

function ctest(xml) {
  const attr = (name) => Number((xml.match(new RegExp(`<testsuite[^>]*\\s${name}="(\\d+)"`)) ?? [])[1] ?? 0);
  const skipped = attr('skipped') + attr('disabled');
  return [attr('tests') - attr('failures') - skipped, attr('failures'), skipped];
}

function jest(json) {
  // A suite that fails to load has no failed tests but still fails the run.
  const broken = json.testResults.filter((s) => s.status === 'failed' && s.assertionResults.length === 0).length;
  return [json.numPassedTests, json.numFailedTests + broken, json.numPendingTests + json.numTodoTests];
}

const rows = process.argv.slice(2).map((report) => {
  const name = basename(report).replace(/\.(xml|json)$/, '');
  if (!existsSync(report)) return [name, 0, 1, 0];
  const text = readFileSync(report, 'utf8');
  return [name, ...(report.endsWith('.xml') ? ctest(text) : jest(JSON.parse(text)))];
});

console.log('== summary ==');
for (const [name, passed, failed, skipped] of rows) console.log(`${name}: ${passed} passed, ${failed} failed, ${skipped} skipped`);
const sum = (i) => rows.reduce((total, row) => total + row[i], 0);
console.log(`total: ${sum(1)} passed, ${sum(2)} failed, ${sum(3)} skipped`);
