/**
 * A progress display for long work, as tqdm users expect: a live bar on a terminal; otherwise (a
 * log file, CI) a line every few seconds while the work runs and a summary line at the end.
 * Counting an item is a field increment; drawing happens on a timer, a few times a second at
 * most, so progress does not slow the work it measures. Several bars on one terminal (the stages
 * of a flow) share its lines: one line each, redrawn together as one block.
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from './errors.js';

/**
 * Where progress is drawn: `process.stderr`, or anything with `write` (and `isTTY`, `columns`
 * for a live bar).
 *
 * @example
 * ```ts
 * import { ProgressBar, type ProgressStream } from 'millrace';
 * const lines: string[] = [];
 * const stream: ProgressStream = { isTTY: false, write: (text: string) => lines.push(text) };
 * const bar = new ProgressBar({ stream });
 * ```
 * @category Progress
 */
export interface ProgressStream {
  /** Writes text. */
  write(text: string): unknown;
  /** Whether this is a terminal (a live bar is drawn only then). */
  readonly isTTY?: boolean;
  /** The terminal's width in columns. */
  readonly columns?: number;
}

/**
 * Options for {@link ProgressBar} and the {@link progress} operator.
 *
 * @example
 * ```ts
 * import { progress, type ProgressOptions } from 'millrace';
 * const options: ProgressOptions = { total: 8, label: 'analysing', unit: 'files' };
 * const step = progress<string>(options);
 * ```
 * @category Progress
 */
export interface ProgressOptions {
  /**
   * How many items are expected; with it the bar shows a fraction, a percentage and an ETA.
   * @defaultValue unknown: a count and a rate only
   */
  readonly total?: number | undefined;
  /**
   * Text before the bar; it names the line when several bars share a terminal, and starts each
   * progress line off a terminal.
   * @defaultValue `'progress'`
   */
  readonly label?: string | undefined;
  /**
   * What an item is called, e.g. `'files'`; `'bytes'` shows amounts and the rate in decimal units
   * (`1.8 GB/4.8 GB · 35.4 MB/s`).
   * @defaultValue `'items'`
   */
  readonly unit?: string | undefined;
  /**
   * Where to draw.
   * @defaultValue `process.stderr`
   */
  readonly stream?: ProgressStream | undefined;
  /**
   * Milliseconds between redraws of the live bar.
   * @defaultValue `250` (four times a second)
   */
  readonly intervalMs?: number | undefined;
  /**
   * When the stream is not a terminal, milliseconds between the progress lines printed while the
   * work runs (as tqdm does in logs), so a long run shows it is alive; `Infinity`: none, only the
   * summary line at the end.
   * @defaultValue `10_000` (every 10 seconds)
   */
  readonly logIntervalMs?: number | undefined;
  /**
   * When the stream is not a terminal, print one summary line when the work completes
   * (`false`: print nothing at all, neither the summary nor the lines every `logIntervalMs`).
   * @defaultValue `true`
   */
  readonly summary?: boolean | undefined;
  /**
   * What the {@link progress} operator counts: `'items'` passing by, or `'reported'`: the amounts
   * the tasks of the worker-backed step before it report with {@link reportProgress} (bytes read of
   * a big file, say), so the bar moves while a chunk runs, between items. Give `total` and `unit` in
   * the same measure (`{ total: bytes, unit: 'bytes' }`). A {@link ProgressBar} used directly counts
   * what it is ticked and ignores this.
   * @defaultValue `'items'`
   */
  readonly count?: 'items' | 'reported' | undefined;
  /**
   * A few words shown after the count, asked for at every redraw and in every log and summary line
   * (`16/16 files (12 resumed)`); `''` shows nothing. For what the count alone does not say, e.g.
   * how many items came from a {@link Checkpoint} rather than the workers.
   * @defaultValue none
   */
  readonly note?: (() => string) | undefined;
}

/**
 * How the work ended, for {@link ProgressBar.stop}.
 *
 * @example
 * ```ts
 * import { ProgressBar, type ProgressOutcome } from 'millrace';
 * const outcome: ProgressOutcome = 'done';
 * new ProgressBar().stop(outcome);
 * ```
 * @category Progress
 */
export type ProgressOutcome = 'done' | 'stopped';

/**
 * Tracks items done and draws progress: a live bar (items done of the total when known, rate,
 * elapsed time, ETA) redrawn on a timer when the stream is a terminal, otherwise a progress line
 * every `logIntervalMs` and a summary line at the end. Used by the {@link progress} operator; use
 * it directly to count something other than a flow's items.
 *
 * @remarks
 * Live bars on one stream (the stages of a flow, each with its `progress()`) are drawn as one block
 * of lines, one a bar, in the order the bars were created (for `progress()`, the order of the
 * pipeline), redrawn together at the shortest `intervalMs` among them. A bar that stops keeps its
 * last line on the screen; the block ends on a fresh line when its last bar stops.
 *
 * While a live bar is drawn, Ctrl-C (SIGINT) ends its block first, so the shell prompt or the
 * next output starts on a fresh line. The signal then does what it would have done without
 * millrace: when nothing else listens for SIGINT the process is ended by it (exit status 130 in a
 * shell), otherwise the other listeners decide.
 *
 * @example
 * ```ts
 * import { ProgressBar } from 'millrace';
 * const bar = new ProgressBar({ total: 3, unit: 'files' });
 * bar.start();
 * for (let i = 0; i < 3; i++) bar.tick();
 * bar.stop('done'); // "progress: 3/3 files in 0.0 s (…/s)" when stderr is not a terminal
 * ```
 * @category Progress
 */
export class ProgressBar {
  /** Items counted so far. */
  done = 0;
  readonly #total: number | undefined;
  readonly #label: string;
  readonly #unit: string;
  readonly #stream: ProgressStream;
  readonly #intervalMs: number;
  readonly #logIntervalMs: number;
  readonly #summary: boolean;
  readonly #note: (() => string) | undefined;
  readonly #live: boolean;
  /** Where its line goes among the other live bars of its stream: bars line up in creation order. */
  readonly #order = created++;
  // undefined until started (not 0: a clock may read 0 at its start, as fake timers do).
  #started: number | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;
  /** Redraws of its line so far (for tests of the redraw bound). */
  draws = 0;

  /** The text before the bar (`options.label`). */
  get label(): string {
    return this.#label;
  }

  /**
   * @param options - see {@link ProgressOptions}
   * @throws {@link InvalidOptionError} when `total` is negative or `intervalMs` or `logIntervalMs` is not positive
   */
  constructor(options: ProgressOptions = {}) {
    if (options.total !== undefined && !(options.total >= 0)) throw new InvalidOptionError('total', options.total, 'a number >= 0');
    if (options.intervalMs !== undefined && !(options.intervalMs > 0))
      throw new InvalidOptionError('intervalMs', options.intervalMs, 'a number of milliseconds > 0');
    if (options.logIntervalMs !== undefined && !(options.logIntervalMs > 0)) {
      throw new InvalidOptionError('logIntervalMs', options.logIntervalMs, 'a number of milliseconds > 0, or Infinity');
    }
    this.#total = options.total;
    this.#label = options.label ?? 'progress';
    this.#unit = options.unit ?? 'items';
    this.#stream = options.stream ?? process.stderr;
    this.#intervalMs = options.intervalMs ?? 250;
    this.#logIntervalMs = options.logIntervalMs ?? 10_000;
    this.#summary = options.summary ?? true;
    this.#note = options.note;
    this.#live = this.#stream.isTTY === true;
  }

  /**
   * Starts the clock; on a terminal adds the bar's line to its stream's block of live bars (redrawn
   * on a timer), otherwise starts the progress-line timer (neither timer keeps the process alive).
   */
  start(): void {
    if (this.#started !== undefined) return;
    this.#started = performance.now();
    if (this.#live) {
      liveBlockOf(this.#stream).add(this, this.#order, this.#intervalMs);
    } else if (this.#summary) {
      this.#timer = repeat(() => this.#stream.write(`${this.#logLine()}\n`), this.#logIntervalMs);
    }
  }

  /**
   * Counts `n` more items done; drawing is left to the timer.
   *
   * @param n - how many items finished
   */
  tick(n = 1): void {
    this.done += n;
  }

  /**
   * Stops the timer and leaves the display final: on a terminal the bar is drawn once more and left
   * on the screen (the block of live bars ends on a fresh line once its last bar stops); otherwise a
   * summary line is printed when the work completed (`'done'`) and `summary` is on. Safe to call twice.
   *
   * @param outcome - `'done'` when the work completed, `'stopped'` when it failed or was cut short
   */
  stop(outcome: ProgressOutcome): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#started ??= performance.now();
    if (this.#live) {
      liveBlocks.get(this.#stream)?.finish(this);
    } else if (outcome === 'done' && this.#summary) {
      this.#stream.write(`${this.summaryLine()}\n`);
    }
  }

  /**
   * The one-line summary printed when the stream is not a terminal.
   *
   * @returns e.g. `"analysing: 8/8 files in 1.2 s (6.7 files/s)"`
   */
  summaryLine(): string {
    const seconds = this.#elapsedSeconds();
    return `${this.#label}: ${this.#count()} in ${seconds.toFixed(1)} s (${this.#rate(seconds)})`;
  }

  /**
   * The live bar's text for a terminal `columns` wide (without control characters).
   *
   * @param columns - the width to fit
   * @param labelWidth - pad the label to this many characters (the lines of several bars line up)
   * @returns e.g. `"analysing ████████░░░░ 4/8 files 50% · 3.9 files/s · 0:01 · ETA 0:01"`
   */
  barLine(columns = 80, labelWidth = 0): string {
    const seconds = this.#elapsedSeconds();
    const rate = this.#rate(seconds);
    const elapsed = formatClock(seconds);
    const label = this.#label.padEnd(labelWidth);
    if (this.#total === undefined) {
      return fit(`${label} ${this.#count()} · ${rate} · ${elapsed}`, columns);
    }
    const total = this.#total;
    const fraction = total === 0 ? 1 : Math.min(1, this.done / total);
    const remaining = this.done === 0 || seconds === 0 ? undefined : ((total - this.done) * seconds) / this.done;
    const eta = remaining === undefined ? '?' : formatClock(Math.max(0, remaining));
    const tail = ` ${this.#count()} ${Math.floor(fraction * 100)}% · ${rate} · ${elapsed} · ETA ${eta}`;
    const width = Math.max(0, Math.min(30, columns - 1 - label.length - 1 - tail.length));
    const filled = Math.round(fraction * width);
    const bar = width > 0 ? ` ${'█'.repeat(filled)}${'░'.repeat(width - filled)}` : '';
    return fit(`${label}${bar}${tail}`, columns);
  }

  /** What is done (of the total when known), with its unit: `4/8 files`, or `1.8 GB/4.8 GB` for bytes; then the note. */
  #count(): string {
    const note = this.#note?.() ?? '';
    const suffix = note === '' ? '' : ` (${note})`;
    if (this.#unit === 'bytes') {
      return `${this.#total === undefined ? formatBytes(this.done) : `${formatBytes(this.done)}/${formatBytes(this.#total)}`}${suffix}`;
    }
    return `${this.#total === undefined ? this.done : `${this.done}/${this.#total}`} ${this.#unit}${suffix}`;
  }

  /** The rate so far: `3.9 files/s`, or `35.4 MB/s` for bytes. */
  #rate(seconds: number): string {
    if (this.#unit === 'bytes') return `${seconds <= 0 ? '… B' : formatBytes(this.done / seconds)}/s`;
    return `${formatRate(this.done, seconds)} ${this.#unit}/s`;
  }

  /** A line printed every `logIntervalMs` off a terminal: the summary so far, with the ETA when the total is known. */
  #logLine(): string {
    if (this.#total === undefined) return this.summaryLine();
    const seconds = this.#elapsedSeconds();
    const percent = this.#total === 0 ? 100 : Math.floor((Math.min(this.done, this.#total) / this.#total) * 100);
    const remaining = this.done === 0 || seconds === 0 ? undefined : ((this.#total - this.done) * seconds) / this.done;
    const eta = remaining === undefined ? '?' : formatClock(Math.max(0, remaining));
    return `${this.summaryLine()} ${percent}% · ETA ${eta}`;
  }

  #elapsedSeconds(): number {
    return this.#started === undefined ? 0 : (performance.now() - this.#started) / 1000;
  }
}

/** Bars created so far: a bar's number orders its line among the live bars of its stream. */
let created = 0;

/** A line of a {@link LiveBlock}: a bar, and its last text once it has stopped. */
interface BlockLine {
  readonly bar: ProgressBar;
  readonly order: number;
  final: string | undefined;
}

/**
 * The live bars drawn on one terminal stream, as one block of lines redrawn together: each redraw
 * moves the cursor up to the block's first line and rewrites every line (carriage return and
 * erase-line), in one write, so bars never fight over one line. Stopped bars at the top of the block
 * are left on the screen as they are and leave the block; one stopped below a running bar keeps its
 * last text until then. When no bar is left the block ends its last line, and the next bar on the
 * stream starts a new block below. (Lines that scroll off the top of the terminal cannot be reached
 * by moving the cursor up: a block is meant to hold a few stages, not more than the terminal's rows.)
 */
class LiveBlock {
  readonly #stream: ProgressStream;
  /** In bar creation order. */
  readonly #lines: BlockLine[] = [];
  /** Lines of the block on the screen now; the cursor is at the end of the last one. */
  #drawn = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #intervalMs = Number.POSITIVE_INFINITY;
  /** On Ctrl-C: end the block's last line; the next redraw (if the program goes on) starts below it. */
  readonly #endLine = (): void => {
    this.#drawn = 0;
    this.#stream.write('\n');
  };

  constructor(stream: ProgressStream) {
    this.#stream = stream;
  }

  /** Adds a started bar's line, in creation order, and draws the block at once. */
  add(bar: ProgressBar, order: number, intervalMs: number): void {
    if (this.#lines.length === 0) endLineOnSigint(this.#endLine);
    let at = this.#lines.length;
    while (at > 0 && this.#lines[at - 1]!.order > order) at--;
    this.#lines.splice(at, 0, { bar, order, final: undefined });
    if (intervalMs < this.#intervalMs) {
      this.#intervalMs = intervalMs;
      if (this.#timer) clearInterval(this.#timer);
      this.#timer = repeat(() => this.#draw(), intervalMs);
    }
    this.#draw();
  }

  /** A bar stopped: its line is drawn a last time and kept as it is. */
  finish(bar: ProgressBar): void {
    const line = this.#lines.find((candidate) => candidate.bar === bar);
    if (line === undefined) return;
    line.final = this.#text(bar);
    this.#draw();
  }

  #text(bar: ProgressBar): string {
    bar.draws++;
    // One column short of the width, so the cursor never wraps; some terminals report 0 columns.
    const columns = this.#stream.columns !== undefined && this.#stream.columns > 1 ? this.#stream.columns : 80;
    // Labels padded to the longest in the block, so the bars line up.
    let labelWidth = 0;
    for (const line of this.#lines) labelWidth = Math.max(labelWidth, line.bar.label.length);
    return bar.barLine(columns - 1, labelWidth);
  }

  #draw(): void {
    let out = this.#drawn > 1 ? `\x1b[${this.#drawn - 1}A` : '';
    for (let i = 0; i < this.#lines.length; i++) {
      const line = this.#lines[i]!;
      out += `${i > 0 ? '\n' : ''}\r\x1b[2K${line.final ?? this.#text(line.bar)}`;
    }
    this.#drawn = this.#lines.length;
    // Stopped bars at the top stay on the screen as drawn; the block now starts below them.
    let settled = 0;
    while (settled < this.#lines.length && this.#lines[settled]!.final !== undefined) settled++;
    this.#lines.splice(0, settled);
    this.#drawn -= settled;
    if (this.#lines.length === 0) {
      out += '\n';
      this.#close();
    }
    this.#stream.write(out);
  }

  #close(): void {
    this.#drawn = 0;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#intervalMs = Number.POSITIVE_INFINITY;
    stopEndingLineOnSigint(this.#endLine);
    liveBlocks.delete(this.#stream);
  }
}

/** The block of live bars of each terminal stream that has one. */
const liveBlocks = new Map<ProgressStream, LiveBlock>();

function liveBlockOf(stream: ProgressStream): LiveBlock {
  let block = liveBlocks.get(stream);
  if (block === undefined) {
    block = new LiveBlock(stream);
    liveBlocks.set(stream, block);
  }
  return block;
}

/** The longest delay a Node timer takes; a longer one would fire after 1 ms, with a warning. */
const MAX_TIMER_MS = 2_147_483_647;

/** Calls `fn` every `ms` on a timer that never keeps the process alive; none for a delay too long to ever fire. */
function repeat(fn: () => void, ms: number): ReturnType<typeof setInterval> | undefined {
  if (ms > MAX_TIMER_MS) return undefined;
  const timer = setInterval(fn, ms);
  timer.unref();
  return timer;
}

/** What each block of live bars does on SIGINT: end its last line. One process listener serves them all. */
const endLines = new Set<() => void>();

function endLineOnSigint(endLine: () => void): void {
  // First in line, so the program's own SIGINT handler prints on a fresh line too.
  if (endLines.size === 0) process.prependListener('SIGINT', onSigint);
  endLines.add(endLine);
}

function stopEndingLineOnSigint(endLine: () => void): void {
  if (endLines.delete(endLine) && endLines.size === 0) process.removeListener('SIGINT', onSigint);
}

/**
 * Ends the blocks of live bars, then lets the signal do what it would have done without millrace.
 * Listening for SIGINT turns off Node's default (ending the process by the signal), so when no one
 * else listens this removes itself and raises SIGINT again, as signal-exit (behind ora, listr and
 * restore-cursor) does: the process ends by SIGINT, status 130 in a shell. Listeners that are
 * signal-exit's own defer to the last one in the same way, so they count as absent here.
 */
function onSigint(): void {
  for (const endLine of endLines) {
    try {
      endLine();
    } catch {
      // A stream that cannot be written (closed, EPIPE) must not turn Ctrl-C into a crash report.
    }
  }
  const signalExit = (globalThis as { [key: symbol]: { count?: unknown } | undefined })[Symbol.for('signal-exit emitter')];
  const deferring = typeof signalExit?.count === 'number' ? signalExit.count : 0;
  if (process.listenerCount('SIGINT') - 1 > deferring) return;
  endLines.clear();
  process.removeListener('SIGINT', onSigint);
  process.kill(process.pid, 'SIGINT');
}

function fit(text: string, columns: number): string {
  return text.length <= columns ? text : text.slice(0, Math.max(0, columns));
}

/** Bytes in decimal units, as `ls -h --si` and download managers show them: `512 B`, `74.9 MB`. */
function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(1)} ${BYTE_UNITS[unit]!}`;
}

const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'] as const;

function formatRate(done: number, seconds: number): string {
  if (seconds <= 0) return '…';
  const rate = done / seconds;
  return rate >= 100 ? rate.toFixed(0) : rate.toFixed(1);
}

function formatClock(seconds: number): string {
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = `${total % 60}`.padStart(2, '0');
  return h > 0 ? `${h}:${`${m}`.padStart(2, '0')}:${s}` : `${m}:${s}`;
}
