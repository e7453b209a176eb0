// The refused-job log of `millrace worker` keeps to a budget: a flood of bad jobs must not flood the log.
import { describe, expect, it } from 'vitest';
import { budgetedLog } from '../../lib/backends/bullmq/log-budget.js';

describe('budgetedLog', () => {
  const setup = (perWindow: number) => {
    const lines: string[] = [];
    let clock = 0;
    const log = budgetedLog((line) => lines.push(line), { perWindow, windowMs: 60_000, kind: 'refused jobs', now: () => clock });
    return { lines, log, advance: (ms: number) => (clock += ms) };
  };

  it('says the first lines of a window, then one line that the rest are counted, then the count when the window is over', () => {
    const { lines, log, advance } = setup(3);
    for (let i = 0; i < 1_000; i++) log(`refused job ${i}`);
    expect(lines).toEqual([
      'refused job 0',
      'refused job 1',
      'refused job 2',
      'millrace worker: more than 3 refused jobs in 60 s: the rest are counted, not shown',
    ]);
    advance(60_000);
    log('refused job 1000');
    expect(lines.slice(4)).toEqual(['millrace worker: 997 more refused jobs not shown (over 3 in 60 s)', 'refused job 1000']);
  });

  it('says everything under the budget, and flush() says only what was held back', () => {
    const { lines, log } = setup(5);
    for (let i = 0; i < 5; i++) log(`line ${i}`);
    log.flush();
    expect(lines).toEqual(['line 0', 'line 1', 'line 2', 'line 3', 'line 4']);
    log('line 5');
    log.flush();
    expect(lines.slice(5)).toEqual([
      'millrace worker: more than 5 refused jobs in 60 s: the rest are counted, not shown',
      'millrace worker: 1 more refused jobs not shown (over 5 in 60 s)',
    ]);
  });
});
