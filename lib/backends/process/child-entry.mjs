// The file each child process of the process backend starts with. Built, it loads the compiled
// child (child.js); from the source tree (tests, tsx), it registers tsx first and loads child.ts.
// Plain JavaScript, so it works in both places (as the thread backend's worker-entry.mjs does).
import { existsSync } from 'node:fs';

const compiled = new URL('./child.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const tsx = await import('tsx/esm/api');
  tsx.register();
  globalThis[Symbol.for('millrace.tsx')] = true;
  await import(new URL('./child.ts', import.meta.url).href);
}
