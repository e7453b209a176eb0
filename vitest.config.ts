import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Task modules and examples import 'millrace' as users do; from source it is lib/.
    alias: [
      { find: /^millrace\/testing$/, replacement: fileURLToPath(new URL('./lib/testing/index.ts', import.meta.url)) },
      { find: /^millrace$/, replacement: fileURLToPath(new URL('./lib/index.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start real worker threads; two files at a time suits a 2-core machine.
    maxWorkers: 2,
    typecheck: {
      enabled: false,
      include: ['test/types/**/*.test-d.ts'],
      // The type tests and what they import; the whole project is `npm run typecheck`.
      tsconfig: './test/types/tsconfig.json',
    },
  },
});
