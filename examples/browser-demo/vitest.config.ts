// The end-to-end test runs in Node: it builds the site, serves dist/ and drives Chromium.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 240_000,
    hookTimeout: 240_000,
    // Same report as every package's, so scripts/test-summary.mjs counts these tests too.
    reporters: ['default', ['json', { outputFile: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../artifacts/test-results/browser-demo.json') }]],
  },
});
