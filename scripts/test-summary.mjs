// Totals the JSON reports every package's vitest run wrote and prints one closing line.
import fs from 'node:fs';
import path from 'node:path';
const dir = process.argv[2] ?? 'artifacts/test-results';
let passed = 0, failed = 0, skipped = 0, files = 0;
for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
  if (!f.endsWith('.json')) continue;
  const r = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  passed += r.numPassedTests ?? 0;
  failed += (r.numFailedTests ?? 0) + (r.numFailedTestSuites && !r.numFailedTests ? r.numFailedTestSuites : 0);
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  files++;
}
if (files === 0 || passed === 0) {
  console.log('tests: no test reports found');
  process.exit(1);
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
