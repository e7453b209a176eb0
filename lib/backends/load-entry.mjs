// How every thread or process millrace starts finds its code: built, the compiled module (NAME.js);
// from the source tree (tests, tsx), it registers tsx first and loads NAME.ts. Plain JavaScript, so
// it works in both places. The worker threads' entry (threads/worker-entry.mjs), the child
// processes' (process/child-entry.mjs) and the keyed owners' (keyed/owner-entry.mjs) all use it.
//
// millrace's own test run compiles the source tree once into a copy (test/setup/compiled-copy.ts)
// and names it in MILLRACE_COMPILED_COPY: from the source tree, a worker then loads the copy's
// JavaScript, and task modules of the source tree too, instead of registering tsx. tsx costs each
// worker about 0.15 s of CPU (Node 20 runs its loader on a thread of its own, per worker), and the
// suite starts some 600 workers.
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const SOURCE_ROOT = new URL('../../', import.meta.url).href;
const COPY_OF = Symbol.for('millrace.compiledCopyOf');

/**
 * The compiled copy of a source-tree module (a file URL, `.ts` or `.js`, a query string kept), or
 * undefined when there is no copy of it. Only under MILLRACE_COMPILED_COPY and from the source tree.
 */
function compiledCopyOf(copyRoot) {
  const root = `${pathToFileURL(copyRoot).href.replace(/\/$/, '')}/`;
  return (url) => {
    if (!url.startsWith(SOURCE_ROOT)) return undefined;
    const parsed = new URL(url);
    const relative = parsed.pathname.slice(new URL(SOURCE_ROOT).pathname.length).replace(/\.(m?)(ts|js)$/, '.$1js');
    const copy = new URL(relative, root);
    if (!existsSync(copy)) return undefined;
    copy.search = parsed.search;
    return copy.href;
  };
}

/** Loads module `name` beside the entry file at `base` (its `import.meta.url`), compiled or from source. */
export async function loadEntry(base, name) {
  const compiled = new URL(`./${name}.js`, base);
  if (existsSync(compiled)) return import(compiled.href);
  const copyRoot = process.env.MILLRACE_COMPILED_COPY;
  if (copyRoot) {
    const copyOf = compiledCopyOf(copyRoot);
    const copy = copyOf(compiled.href);
    if (copy !== undefined) {
      // Read by task-modules.ts, which loads task modules of the source tree from the copy too.
      globalThis[COPY_OF] = copyOf;
      // The copy carries inline source maps: stacks name the .ts files and lines, as under tsx.
      process.setSourceMapsEnabled(true);
      return import(copy);
    }
  }
  const tsx = await import('tsx/esm/api');
  tsx.register();
  // Read by task-modules.ts, so that it does not register tsx a second time.
  globalThis[Symbol.for('millrace.tsx')] = true;
  return import(new URL(`./${name}.ts`, base).href);
}
