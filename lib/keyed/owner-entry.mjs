// The file each partition owner thread starts with. Built, it loads the compiled owner (owner.js);
// from the source tree (tests, tsx), it registers tsx first and loads owner.ts. Plain JavaScript,
// so it works in both places (as lib/backends/threads/worker-entry.mjs does for the pool's workers).
import { existsSync } from 'node:fs';

const compiled = new URL('./owner.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const tsx = await import('tsx/esm/api');
  tsx.register();
  globalThis[Symbol.for('millrace.tsx')] = true;
  await import(new URL('./owner.ts', import.meta.url).href);
}
