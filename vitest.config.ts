import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

// Files that end workers, count handles, listeners or warnings of the whole process, kill processes
// or hold Redis run each in a fresh process of their own. The others (operators, sources, the engine,
// most of lib/) share one process per vitest worker, one file after another: their modules load
// once, and a test process's start (vitest, tsx, the library: about 0.3 s of CPU a file) is not paid
// again for each of them; `vi.restoreAllMocks()` still runs between files.
const ISOLATED = [
  'test/reliability/**',
  'test/scale-out/**',
  'test/checkpoint/crash.test.ts',
  'test/examples/{big-file,examples,log-analysis}.test.ts',
  'test/testing/check-backend.test.ts',
  'test/lib/{exit,pool,write-lines-signals,worker-loading}.test.ts',
  // They count the fake clock's timers, which in a shared process also holds the timers of other
  // files' pools going idle (CI failed on that twice: 'expected 2 to be +0').
  'test/operators/{batch,throttle,progress}.test.ts',
];

export default defineConfig({
  resolve: {
    // Task modules and examples import 'millrace' as users do; from source it is lib/.
    alias: [
      { find: /^millrace\/testing$/, replacement: fileURLToPath(new URL('./lib/testing/index.ts', import.meta.url)) },
      { find: /^millrace$/, replacement: fileURLToPath(new URL('./lib/index.ts', import.meta.url)) },
    ],
  },
  test: {
    // The source tree compiled once for the workers the tests start (see the file).
    globalSetup: ['./test/setup/compiled-copy.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start real worker threads; two files at a time suits a 2-core machine.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'isolated',
          include: ISOLATED.map((glob) => (glob.endsWith('**') ? `${glob}/*.test.ts` : glob)),
        },
      },
      {
        extends: true,
        test: {
          name: 'shared',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...ISOLATED],
          isolate: false,
        },
      },
      {
        // The type tests (tsc; vitest's --typecheck flag does not reach projects, so it is on here).
        extends: true,
        test: {
          name: 'types',
          include: [],
          typecheck: {
            enabled: true,
            only: true,
            include: ['test/types/**/*.test-d.ts'],
            // The type tests and what they import; the whole project is `npm run typecheck`.
            tsconfig: './test/types/tsconfig.json',
          },
        },
      },
    ],
  },
});
