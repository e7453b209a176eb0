// Task module of the zero-copy benchmark: payload-sized results, copied back or moved back.
import { transferResult } from 'millrace';

/** A payload-sized result (the input's first byte, inverted, everywhere), copied back. */
export function invert(data: ArrayBuffer): ArrayBuffer {
  const out = new Uint8Array(data.byteLength).fill(255 - new Uint8Array(data)[0]!);
  return out.buffer;
}

/** {@link invert}, with the result moved back instead of copied. */
export function invertMoved(data: ArrayBuffer): ArrayBuffer {
  return transferResult(invert(data));
}
