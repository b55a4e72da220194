import { defineConfig } from 'vitest/config';
import { resolve } from 'node:path';

// Tests run against the TypeScript sources, so a change is tested without a rebuild;
// `npm test` still runs `tsc -b` first so type errors fail the suite.
export default defineConfig({
  resolve: {
    alias: {
      '@nagaya/allocator': resolve(__dirname, 'packages/allocator/src/index.ts'),
      '@nagaya/native': resolve(__dirname, 'packages/native/src/index.ts'),
      '@nagaya/migrations': resolve(__dirname, 'migrations/src/index.ts'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'migrations/test/**/*.test.ts', 'e2e/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Container and database tests share one 2-core machine; files run in parallel, tests in a file in order.
    pool: 'forks',
  },
});
