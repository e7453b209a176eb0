/**
 * A key as UTF-16 code units, the form keys travel and are held in without a JS string per pair:
 * a string is its code units; a number is the four 16-bit words of its float64 (with `-0` as `0`
 * and every NaN as one, as a `Map` treats them), told apart from a string by a flag beside it.
 *
 * @packageDocumentation
 */
import type { PartitionKey } from './partitioning.js';

const NUMBER = new Float64Array(1);
/** A number key's units, written by {@link numberUnits} (valid until its next call). */
const NUMBER_UNITS = new Uint16Array(NUMBER.buffer);

/** How many units a number key takes. */
export const NUMBER_KEY_UNITS = 4;

/** The units of a number key, in a shared scratch array (copy them before the next call). */
export function numberUnits(key: number): Uint16Array {
  NUMBER[0] = key === 0 ? 0 : Number.isNaN(key) ? NaN : key;
  return NUMBER_UNITS;
}

/** The key held in `units[start..end)`: a string's code units, or a number's words (`isNumber`). */
export function decodeKey(units: Uint16Array, start: number, end: number, isNumber: boolean): PartitionKey {
  if (isNumber) {
    for (let i = 0; i < NUMBER_KEY_UNITS; i++) NUMBER_UNITS[i] = units[start + i]!;
    return NUMBER[0]!;
  }
  // Short keys (most) are quickest concatenated: V8 makes a flat string of under 13 characters.
  if (end - start <= 12) {
    let key = '';
    for (let i = start; i < end; i++) key += String.fromCharCode(units[i]!);
    return key;
  }
  return String.fromCharCode.apply(null, units.subarray(start, end) as unknown as number[]);
}
