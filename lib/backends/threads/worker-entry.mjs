// The file tinypool loads in each worker thread. Built, it loads the compiled worker (worker.js);
// from the source tree (tests, tsx), it registers tsx first and loads worker.ts. Plain JavaScript,
// so it works in both places.
import { existsSync } from 'node:fs';

const compiled = new URL('./worker.js', import.meta.url);
let worker;
if (existsSync(compiled)) {
  worker = await import(compiled.href);
} else {
  const tsx = await import('tsx/esm/api');
  tsx.register();
  globalThis[Symbol.for('millrace.tsx')] = true;
  worker = await import(new URL('./worker.ts', import.meta.url).href);
}
export default worker.default;
// tinypool runs this export (its `teardown` option) once before it ends the worker.
export const teardown = worker.teardown;
