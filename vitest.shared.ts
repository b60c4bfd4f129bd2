// One vitest set-up for every package: a Node project (Dawn through the `webgpu` package)
// and, where a package asks for it, the same tests in headless Chromium driven by Playwright.
import path from 'node:path';
import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';

export const chromiumArgs = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--headless=new',
  '--disable-gpu-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
];

export interface HydraVitestOptions {
  /** Also run the suite in headless Chromium. */
  browser?: boolean;
  /** Test files excluded from the browser run (they need the file system, say). */
  nodeOnly?: string[];
  testTimeout?: number;
}

export function hydraVitestConfig(opts: HydraVitestOptions = {}) {
  const timeout = opts.testTimeout ?? 120_000;
  const projects: any[] = [
    {
      resolve: { conditions: ['source'] },
      ssr: { resolve: { conditions: ['source', 'node', 'import', 'default'], externalConditions: ['source'] } },
      test: {
        name: 'node',
        include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
        environment: 'node',
        testTimeout: timeout,
        hookTimeout: timeout,
        pool: 'forks',
        fileParallelism: false,
      },
    },
  ];
  if (opts.browser) {
    projects.push({
      resolve: { conditions: ['source', 'browser'] },
      optimizeDeps: { exclude: ['webgpu'] },
      test: {
        name: 'browser',
        include: ['src/**/*.test.ts'],
        exclude: opts.nodeOnly ?? [],
        testTimeout: timeout,
        hookTimeout: timeout,
        fileParallelism: false,
        browser: {
          enabled: true,
          headless: true,
          screenshotFailures: false,
          provider: playwright({
            launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: chromiumArgs },
          }),
          instances: [{ browser: 'chromium' }],
        },
      },
    });
  }
  const pkg = path.basename(process.cwd());
  const reportDir = path.resolve(process.cwd(), '../../artifacts/test-results');
  return defineConfig({
    test: {
      projects,
      passWithNoTests: true,
      reporters: ['default', ['json', { outputFile: path.join(reportDir, `${pkg}.json`) }]],
    },
  });
}
