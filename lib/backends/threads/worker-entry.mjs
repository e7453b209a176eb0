// The file tinypool loads in each worker thread: the worker (worker.js built, worker.ts from source;
// see ../load-entry.mjs) and the exports tinypool calls.
import { loadEntry } from '../load-entry.mjs';

const worker = await loadEntry(import.meta.url, 'worker');
export default worker.default;
// tinypool runs this export (its `teardown` option) once before it ends the worker.
export const teardown = worker.teardown;
