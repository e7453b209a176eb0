/** The shape every benchmark scenario shares with the runner. */
import type { Machine } from './machine.js';

/** What the runner gives a scenario. */
export interface Context {
  /** CI mode: smaller inputs, shorter runs. */
  readonly quick: boolean;
  /** Measured repeats per variant (after one warm-up). */
  readonly repeats: number;
  readonly machine: Machine;
  /** The built package's root (`dist/`'s parent), for child scripts. */
  readonly root: string;
  /** A scratch directory for generated data. */
  readonly workDir: string;
  /** Progress output. */
  readonly log: (message: string) => void;
}

/** One line of a result table. */
export type Row = Readonly<Record<string, string | number | undefined>>;

/** A target from the issue and whether this run met it. */
export interface Target {
  readonly name: string;
  readonly goal: string;
  readonly measured: string;
  /** `undefined` when it could not be measured (a peer is missing). */
  readonly met: boolean | undefined;
}

/** A series of the speedup-vs-threads chart. */
export interface Series {
  readonly label: string;
  readonly points: readonly { readonly threads: number; readonly speedup: number }[];
}

/** What a scenario returns. */
export interface ScenarioResult {
  readonly id: string;
  readonly title: string;
  /** The columns of `rows`, in order. */
  readonly columns: readonly string[];
  readonly rows: readonly Row[];
  readonly targets: readonly Target[];
  readonly notes: readonly string[];
  readonly series?: readonly Series[];
  /** Raw samples, for the JSON. */
  readonly raw?: unknown;
}

/** A benchmark scenario. */
export interface Scenario {
  readonly id: string;
  readonly title: string;
  run(context: Context): Promise<ScenarioResult>;
}
