/**
 * `millrace/testing`: tools for authors of custom operators. {@link checkOperator} checks that an
 * operator keeps the contract the built-ins keep (lazy, closes its source when stopped early,
 * passes errors through, obeys abort); it throws on failure and imports no test framework, so it
 * works under any runner.
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
export { checkOperator, ConformanceError, type ConformanceCheck, type ConformanceOptions, type ConformanceResult } from './conformance.js';
export { probeSource, type ProbeSource, type ProbeSourceOptions } from './probe-source.js';
