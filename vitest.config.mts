import { defineConfig } from 'vitest/config';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));

// Tests run against the TypeScript sources, so a change is tested without a rebuild;
// `npm test` still runs `tsc -b` first so type errors fail the suite.
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
    include: ['packages/*/test/**/*.test.ts', 'migrations/test/**/*.test.ts', 'e2e/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Container and database tests share one 2-core machine; files run in parallel, tests in a file in order.
    pool: 'forks',
  },
});
