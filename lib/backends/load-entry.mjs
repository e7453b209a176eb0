// How every thread or process millrace starts finds its code: built, the compiled module (NAME.js);
// from the source tree (tests, tsx), it registers tsx first and loads NAME.ts. Plain JavaScript, so
// it works in both places. The worker threads' entry (threads/worker-entry.mjs), the child
// processes' (process/child-entry.mjs) and the keyed owners' (keyed/owner-entry.mjs) all use it.
import { existsSync } from 'node:fs';

/** Loads module `name` beside the entry file at `base` (its `import.meta.url`), compiled or from source. */
export async function loadEntry(base, name) {
  const compiled = new URL(`./${name}.js`, base);
  if (existsSync(compiled)) return import(compiled.href);
  const tsx = await import('tsx/esm/api');
  tsx.register();
  // Read by task-modules.ts, so that it does not register tsx a second time.
  globalThis[Symbol.for('millrace.tsx')] = true;
  return import(new URL(`./${name}.ts`, base).href);
}
