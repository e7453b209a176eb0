/**
 * The checkpointed form of a worker-backed step, a layer around {@link dispatch}: before an item
 * goes to the workers its input is looked up, and a recorded result is emitted in its place (the
 * input counts as resumed); every other item is dispatched, and its result recorded as its chunk
 * settles (the engine's `onSettled`). Ordered steps emit resumed and computed results in input
 * order; a fold (the two-tier reduceBy) is rebuilt from the recorded partials, input by input.
 *
 * @packageDocumentation
 */
import { dispatch } from '../engine/dispatch.js';
import type { DispatchSpec, SettledChunk } from '../engine/options.js';
import { MillraceError } from '../errors.js';
import { sharedPool } from '../pool.js';
import type { OperatorContext } from '../operator.js';
import type { AnyTaskRef } from '../tasks.js';
import type { Checkpoint } from './checkpoint.js';
import { inputId, taskIdentity, type InputId } from './identity.js';
import { openStore } from './store.js';

/** What the step is, for its task identity. */
export interface StepIdentity {
  /** How items reach the task (`'call'`, `'spread'`, `'fold'`): a record of one is no result of another. */
  readonly kind: string;
  /** Every task the step runs. */
  readonly tasks: readonly AnyTaskRef[];
  /** Anything else the step sends with the items (a fold's initial value). */
  readonly extra?: unknown;
}

/** An input's place in the output: its outputs once known. */
interface Slot<Out> {
  outputs: readonly Out[] | undefined;
}

/**
 * Runs `spec` over `source` with a checkpoint. `spec.request` must be `'call'` mode (one result per
 * item) or `'fold'` mode with one item per chunk (`chunkSize: 1`), so every record is one input's.
 */
export async function* checkpointed<In, Out, Result = Out>(
  source: AsyncIterable<In>,
  context: OperatorContext,
  spec: DispatchSpec<In, Out, Result>,
  // Any handle fits: its item type only shapes its key function (ParallelOptions carries a
  // Checkpoint<unknown> when the options were written for any item).
  checkpoint: Checkpoint<never>,
  step: StepIdentity,
): AsyncGenerator<Out> {
  const ckpt = checkpoint;
  const store = await openStore(ckpt);
  const fold = step.kind === 'fold';
  /** A record that could not be written: the step fails with it. */
  const state: { failure?: { error: unknown }; sourceDone: boolean } = { sourceDone: false };
  /** In input order; emitted from `head` (ordered) or as they fill (unordered, via `ready`). */
  const slots: (Slot<Out> | undefined)[] = [];
  let head = 0;
  const ready: Slot<Out>[] = [];
  /** Dispatched items by their index among dispatched items: their slot and input. */
  const sent = new Map<number, { slot: Slot<Out>; id: InputId }>();
  let sentCount = 0;
  const writes = new Set<Promise<void>>();
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  const fill = (slot: Slot<Out>, outputs: readonly Out[]): void => {
    slot.outputs = outputs;
    if (!spec.ordered) ready.push(slot);
  };

  try {
    const task = await taskIdentity(checkpoint.dir, step.kind, step.tasks, step.extra, checkpoint.options.codeVersion);
    const record = (id: InputId, outputs: readonly Out[]): void => {
      const write = store.append(task, id.key, id.fingerprint, outputs).then(
        () => {
          writes.delete(write);
          ckpt.count('computed');
          notify();
        },
        (error: unknown) => {
          writes.delete(write);
          state.failure ??= { error };
          notify();
        },
      );
      writes.add(write);
    };

    async function* unrecorded(): AsyncGenerator<In> {
      for await (const item of source) {
        const id = await inputId(item, checkpoint.options);
        const slot: Slot<Out> = { outputs: undefined };
        // Only an ordered step keeps the input order (an unordered one emits slots as they fill).
        if (spec.ordered) slots.push(slot);
        const recorded = store.lookup(task, id.key, id.fingerprint) as readonly Out[] | undefined;
        if (recorded !== undefined) {
          ckpt.count('resumed');
          fill(slot, recorded);
          notify();
          continue;
        }
        sent.set(sentCount++, { slot, id });
        yield item;
      }
      state.sourceDone = true;
      notify();
    }

    const onSettled = (chunk: SettledChunk<In, Out>): void => {
      if (fold && chunk.items.length !== 1) throw new MillraceError('a checkpointed fold runs one input a chunk');
      if (!fold && chunk.outputs.length !== chunk.kept.length) {
        throw new MillraceError(`a checkpointed step needs one output per item (${chunk.kept.length} items gave ${chunk.outputs.length})`);
      }
      // `kept` is a subsequence of `items` (failed items left out): walk both.
      let k = 0;
      chunk.items.forEach((item, i) => {
        const index = chunk.firstIndex + i;
        const entry = sent.get(index);
        if (entry === undefined) return;
        sent.delete(index);
        let outputs: readonly Out[] = [];
        if (k < chunk.kept.length && Object.is(chunk.kept[k], item)) {
          outputs = fold ? chunk.outputs : [chunk.outputs[k]!];
          k++;
          record(entry.id, outputs);
        }
        // A failed item (under an onError function) has no output and no record: a rerun runs it again.
        fill(entry.slot, outputs);
      });
      notify();
    };

    const { checkpoint: _ignored, ...rest } = spec as DispatchSpec<In, Out, Result> & { checkpoint?: unknown };
    // The spec is the operator's own, for these very items: its item type needs no second inference.
    const inner = dispatch<In, Out, Result>(unrecorded(), context, { ...rest, onSettled } as Parameters<
      typeof dispatch<In, Out, Result>
    >[2])[Symbol.asyncIterator]();
    const durableWindow = spec.maxInFlight ?? 2 * (spec.pool ?? sharedPool()).threads;
    let next: Promise<IteratorResult<Out>> | undefined;
    let innerDone = false;
    try {
      for (;;) {
        if (state.failure) throw state.failure.error;
        // Emit what is ready: in input order, or as it came.
        if (spec.ordered) {
          for (let slot = slots[head]; slot?.outputs !== undefined; slot = slots[head]) {
            slots[head++] = undefined;
            yield* slot.outputs;
          }
          if (head > 1024 && head * 2 > slots.length) {
            slots.splice(0, head);
            head = 0;
          }
        } else {
          while (ready.length > 0) yield* ready.shift()!.outputs!;
        }
        if (innerDone && state.sourceDone && sent.size === 0 && (spec.ordered ? head === slots.length : ready.length === 0)) break;
        const woken = new Promise<undefined>((resolve) => {
          wake = () => {
            resolve(undefined);
          };
        });
        // The engine's own outputs are what onSettled already placed: it is drained only to run.
        // Not while too many records wait to be durable: the engine then holds its chunks as
        // outstanding and starts no more, so a crash redoes at most the chunks in flight and the
        // records being written (a slow disk slows the step rather than widening that window).
        if (!innerDone && next === undefined && writes.size < durableWindow) next = inner.next();
        const result: IteratorResult<Out> | undefined = await (next === undefined ? woken : Promise.race([next, woken]));
        if (result !== undefined) {
          next = undefined;
          if (result.done === true) innerDone = true;
        }
      }
      // A finished run leaves every result durable.
      while (writes.size > 0) await Promise.all(writes);
      const failed = state.failure as { error: unknown } | undefined; // set by a write's rejection meanwhile
      if (failed) throw failed.error;
    } finally {
      // Announced before the first await: a consumer that stops early (take, break) has its flow
      // end before this teardown does, and a rerun started right then must wait for this close
      // rather than meet this process's own lock.
      store.closing();
      if (!innerDone) await inner.return?.();
    }
  } finally {
    store.closing();
    await Promise.allSettled([...writes]);
    await store.release();
  }
}
