// ESLint: typescript-eslint's strict, type-aware rules (they include no-floating-promises and
// no-misused-promises, which catch a flow's sink that is not awaited). Formatting is Prettier's job
// (.prettierrc.json), so there are no stylistic rules here. Run: npm run lint.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['dist/', 'docs/api/', '.cache/', 'coverage/', 'bench/results/']),
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: {
        projectService: {
          allowDefaultProject: ['*.js', 'scripts/*.mjs', 'lib/backends/threads/worker-entry.mjs', 'lib/backends/process/child-entry.mjs'],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Prettier decides where lines break (a chain ending in `[Symbol.asyncIterator]()` goes on its
      // own line); this rule would flag its output, so it is off, as eslint-config-prettier does.
      'no-unexpected-multiline': 'off',
      // Numbers and booleans read fine in a message; objects, nullish values and `any` are still flagged.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // `() => resolve()` and `(x) => void work(x)` are the house idiom for callbacks.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true, ignoreVoidOperator: true }],
      // A leading underscore marks a parameter a signature needs but the body does not (task modules,
      // reducers); tsc's noUnusedLocals/noUnusedParameters check the rest.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // An abort rejects with `signal.reason` (typed `any`) and a caught error is `unknown`: the house
      // rule is to pass them on as they are, not to wrap them.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      // Async iterator methods (`async return()`), async generators over in-memory data and async
      // callbacks given to operators are async by contract, with or without an `await` inside.
      '@typescript-eslint/require-await': 'off',
      // With noUncheckedIndexedAccess every indexed read is `T | undefined`, so `xs[i]!` after a
      // bounds-checked index is the idiom: the alternatives (a runtime check or `?? fallback` per
      // read) are slower in hot loops or noisier, and tests' `rows[0]!` says what is expected.
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // Plain JavaScript files are not type-checked by tsc (no checkJs), so type-aware rules would
    // only see `any` there.
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
