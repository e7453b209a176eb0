/**
 * The process run-doc-examples.ts starts for one source file: receives that file's examples over
 * IPC, runs them one after the other (each is imported as a module, so top-level await works), and
 * reports for each whether it ran and kept the promises of its comments (scripts/doc-promises.ts).
 */
import { pathToFileURL } from 'node:url';
import { format } from 'node:util';
import { keeps, printed, type RunItem, type RunResult } from './doc-promises.js';

/** How long an example may take to print what it promised after its module has finished. */
const SETTLE_MS = 5_000;
/** How long one example may run at all. */
const EXAMPLE_TIMEOUT_MS = 60_000;

interface Current {
  output: string[];
  /** Source line → what each print of that line showed. */
  prints: Map<number, string[]>;
  errors: string[];
}
let current: Current | undefined;

// What the examples print is kept for the report, not shown: a run that passes prints one line.
for (const method of ['log', 'error', 'warn', 'info'] as const) {
  console[method] = (...args: unknown[]) => current?.output.push(format(...args));
}
(globalThis as { __docExpect?: unknown }).__docExpect = (line: number, ...values: unknown[]) => {
  current?.output.push(format(...values));
  const prints = current?.prints.get(line) ?? [];
  prints.push(printed(values));
  current?.prints.set(line, prints);
};
// An example's stray failure (a rejected promise nobody awaited, an error in a callback) is its own.
const stray = (error: unknown) =>
  current?.errors.push(`uncaught: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
process.on('uncaughtException', stray);
process.on('unhandledRejection', stray);

const waitFor = async (done: () => boolean, ms: number) => {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
};

async function run(item: RunItem): Promise<RunResult> {
  const state: Current = { output: [], prints: new Map(), errors: [] };
  current = state;
  const problems: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still running after ${EXAMPLE_TIMEOUT_MS} ms`)), EXAMPLE_TIMEOUT_MS);
    });
    await Promise.race([import(pathToFileURL(item.file).href), timeout]);
  } catch (error) {
    problems.push(`threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    clearTimeout(timer);
  }
  // A callback (highland's toArray, a timer) may print after the module has finished.
  await waitFor(() => item.promises.every((promise) => state.prints.has(promise.line)), SETTLE_MS);
  for (const promise of item.promises) {
    const prints = state.prints.get(promise.line);
    if (!prints) problems.push(`line ${promise.line} promised ${promise.comment} but printed nothing`);
    else if (!keeps(promise.comment, prints.join(', '))) {
      problems.push(`line ${promise.line} promised ${promise.comment} but printed ${prints.join(', ')}`);
    }
  }
  problems.push(...state.errors);
  current = undefined;
  return { source: item.source, line: item.line, problems, output: state.output.join('\n'), checked: item.promises.length };
}

process.once('message', (items: RunItem[]) => {
  void (async () => {
    for (const item of items) {
      const result = await run(item);
      await new Promise<void>((resolve) => process.send?.(result, () => resolve()));
    }
    // Each example ends its own work; a handle one leaves open must not hold up the others' report.
    process.exit(0);
  })();
});
