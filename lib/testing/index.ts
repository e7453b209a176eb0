/**
 * `millrace/testing`: tools for authors of custom operators and backends. {@link checkOperator}
 * checks that an operator keeps the contract the built-ins keep (lazy, closes its source when
 * stopped early, passes errors through, obeys abort); {@link checkBackend} checks the same of a
 * {@link millrace!PoolBackend} (results, task failures, abort, capacity, close); {@link scriptedBackend} is a
 * backend in the same thread whose chunks a test settles by hand, to test engine behaviour without
 * threads. They throw on failure and import no test framework, so they work under any runner.
 *
 * @example
 * ```ts
 * import { defineOperator } from 'millrace';
 * import { checkOperator } from 'millrace/testing';
 * const double = () =>
 *   defineOperator<number, number>('double', async function* (source) {
 *     for await (const x of source) yield x * 2;
 *   });
 * await checkOperator(double, { input: [1, 2, 3], expected: [2, 4, 6] });
 * ```
 * @packageDocumentation
 * @module millrace/testing
 */
export {
  checkOperator,
  ConformanceError,
  type BackendCheck,
  type ConformanceCheck,
  type ConformanceOptions,
  type ConformanceResult,
} from './conformance.js';
export { probeSource, type ProbeSource, type ProbeSourceOptions } from './probe-source.js';
export { checkBackend, type CheckBackendOptions, type CheckBackendResult } from './check-backend.js';
export {
  scriptedBackend,
  type ScriptedBackend,
  type ScriptedBackendOptions,
  type ScriptedChunk,
  type ScriptedChunkState,
  type ScriptedResults,
} from './scripted-backend.js';
