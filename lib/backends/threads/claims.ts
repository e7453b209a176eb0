/**
 * Claim cells: one 32-bit cell of shared memory per chunk handed to a worker, so that the main
 * thread and the worker agree, without a message round trip, on whether the chunk ever started.
 *
 * A cell holds the chunk's ticket (a positive number) while the chunk waits in a worker's inbox.
 * The worker takes the chunk up with a compare-and-swap from the ticket to `-threadId`; the main
 * thread withdraws it (a cancel, or to hand it to an idle worker) with a compare-and-swap from the
 * ticket to {@link WITHDRAWN}. Exactly one of the two wins, so a chunk never runs twice and a
 * withdrawn chunk never runs at all. Tickets are never reused, so a stale message whose slot has
 * since been given to another chunk cannot claim it.
 *
 * @packageDocumentation
 */

/** The value of a cell whose chunk was withdrawn by the main thread (or a free slot). */
export const WITHDRAWN = 0;

/** The worker's side: takes the chunk up; false when the main thread withdrew it first. */
export function claim(cells: Int32Array, slot: number, ticket: number, threadId: number): boolean {
  return Atomics.compareExchange(cells, slot, ticket, -threadId) === ticket;
}

/** The main thread's side: what happened to a chunk it tries to take back. */
export type WithdrawOutcome = 'withdrawn' | 'running';

/** Takes a chunk back unless a worker has claimed it already. */
export function withdraw(cells: Int32Array, slot: number, ticket: number): WithdrawOutcome {
  return Atomics.compareExchange(cells, slot, ticket, WITHDRAWN) === ticket ? 'withdrawn' : 'running';
}

/** Whether the chunk still waits unclaimed (a worker that died holding it never started it). */
export function unclaimed(cells: Int32Array, slot: number, ticket: number): boolean {
  return Atomics.load(cells, slot) === ticket;
}

/** Slots and tickets for the cells of one pool. */
export class ClaimCells {
  readonly cells: Int32Array;
  readonly #free: number[] = [];
  #size = 0;
  #nextTicket = 0;

  constructor(slots: number) {
    this.cells = new Int32Array(new SharedArrayBuffer(slots * Int32Array.BYTES_PER_ELEMENT));
    for (let slot = slots - 1; slot >= 0; slot--) this.#free.push(slot);
  }

  /** A free slot with a fresh ticket stored in it, or undefined when all slots are taken. */
  take(): { slot: number; ticket: number } | undefined {
    const slot = this.#free.pop();
    if (slot === undefined) return undefined;
    this.#size++;
    const ticket = (this.#nextTicket = (this.#nextTicket % 0x7fff_fffe) + 1);
    Atomics.store(this.cells, slot, ticket);
    return { slot, ticket };
  }

  /** Gives a slot back (its cell no longer holds a live ticket, so a late claim on it fails). */
  give(slot: number): void {
    Atomics.store(this.cells, slot, WITHDRAWN);
    this.#free.push(slot);
    this.#size--;
  }

  /** Slots in use. */
  get used(): number {
    return this.#size;
  }
}
