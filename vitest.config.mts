import { configDefaults, defineConfig } from 'vitest/config';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));

const allTests = ['packages/*/test/**/*.test.ts', 'migrations/test/**/*.test.ts', 'e2e/test/**/*.test.ts'];
// The fast tier: pure logic, named *.unit.test.ts. It runs without root, Postgres, Redis or the
// native addon; the guard makes any attempt to reach them fail the test.
const unitTests = ['packages/*/test/**/*.unit.test.ts', 'migrations/test/**/*.unit.test.ts'];

// Tests run against the TypeScript sources, so a change is tested without a rebuild;
// `npm test` still runs `tsc -b` first so type errors fail the suite.
// `vitest run` runs both projects (every test once); `--project unit` runs the fast tier alone.
export default defineConfig({
  resolve: {
    alias: {
      '@nagaya/contract/schemas': resolve(root, 'packages/contract/src/schemas.ts'),
      '@nagaya/contract': resolve(root, 'packages/contract/src/index.ts'),
      '@nagaya/allocator': resolve(root, 'packages/allocator/src/index.ts'),
      '@nagaya/native': resolve(root, 'packages/native/src/index.ts'),
      '@nagaya/migrations': resolve(root, 'migrations/src/index.ts'),
      '@nagaya/server': resolve(root, 'packages/server/src/index.ts'),
    },
  },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Container and database tests share one 2-core machine. Two files run at once, tests in a
    // file in order: most of a test's time is waiting (a container's start, a worker's lock, a
    // browser), so two overlap well. vitest's own default on 2 cores is one file at a time, and
    // the suite took 848 s that way against 586 s with two.
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: unitTests,
          setupFiles: [resolve(root, 'vitest.unit-guard.ts')],
          // pure modules: one module graph shared by every file in a worker thread costs a fraction of a fork per file
          pool: 'threads',
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: allTests,
          exclude: [...configDefaults.exclude, ...unitTests],
          setupFiles: [resolve(root, 'vitest.signal-guard.ts')],
        },
      },
    ],
  },
});
