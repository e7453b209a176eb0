// The convention by which npm run docs:check runs the documentation examples and holds them to
// what their comments promise (scripts/doc-promises.ts).
import { describe, expect, it } from 'vitest';
import { instrument, isDescription, keeps, literal, printed } from '../../scripts/doc-promises.js';

describe('doc promises: which comments promise a value', () => {
  it('a printing line or an awaited expression with a value comment is rewritten to report its value', () => {
    const code = [
      "import { flow } from 'millrace';",
      'console.log(await flow([1, 2, 3]).toArray()); // [1, 2, 3]',
      'await flow([1]).toArray(); // [1] (like Pool.map)',
      'for await (const x of flow([20, 40])) console.log(x); // 20, 40',
    ].join('\n');
    const { code: rewritten, promises } = instrument(code, 10);
    expect(promises).toEqual([
      { line: 11, comment: '[1, 2, 3]' },
      { line: 12, comment: '[1] (like Pool.map)' },
      { line: 13, comment: '20, 40' },
    ]);
    expect(rewritten.split('\n')).toEqual([
      "import { flow } from 'millrace';",
      '__docExpect(11, await flow([1, 2, 3]).toArray()); // [1, 2, 3]',
      '__docExpect(12, await flow([1]).toArray()); // [1] (like Pool.map)',
      'for await (const x of flow([20, 40])) __docExpect(13, x); // 20, 40',
    ]);
  });

  it('descriptions, declarations and comment lines are left alone', () => {
    const code = [
      'console.error(error.cause); // the RangeError thrown in the worker',
      'await using pool = createPool({ threads: 2 }); // [not a value]',
      '// console.log(x); // [1]',
      'const total = 6; // 6',
    ].join('\n');
    expect(instrument(code, 1)).toEqual({ code, promises: [] });
    expect(isDescription('the RangeError')).toBe(true);
    expect(isDescription('true; the flow ended')).toBe(false);
    expect(isDescription('Task math.tasks.js#sqrt failed')).toBe(false);
  });
});

describe('doc promises: how a printed value is written', () => {
  it('values as TypeScript literals; a string printed by itself is its text', () => {
    expect(
      literal([
        ['a', 2],
        ['b', 1],
      ]),
    ).toBe("[['a', 2], ['b', 1]]");
    expect(literal({ path: 'x', 'two words': -0 })).toBe("{ path: 'x', 'two words': -0 }");
    expect(literal(new Map([['a', 1]]))).toBe("Map(1) {'a' => 1}");
    expect(literal("it's")).toBe("'it\\'s'");
    expect(printed(['Task failed', 2, -1])).toBe('Task failed 2 -1');
  });
});

describe('doc promises: whether a print keeps its promise', () => {
  it('the value must match exactly, spacing aside', () => {
    expect(keeps('[1, 4, 9]', '[1, 4, 9]')).toBe(true);
    expect(keeps('[1, 4, 9]', '[ 1, 4, 9 ]')).toBe(true);
    expect(keeps('[1, 4, 9]', '[1, 4, 10]')).toBe(false);
    expect(keeps('[1, 4, 9]', '[1, 4, 9, 16]')).toBe(false);
    expect(keeps('2', '20')).toBe(false);
  });

  it('prose may follow the value, but not more values', () => {
    expect(keeps('[1, 4, 9], input order (Pool.imap)', '[1, 4, 9]')).toBe(true);
    expect(keeps('[3, 7] (Pool.starmap)', '[3, 7]')).toBe(true);
    expect(keeps('100; the order may differ', '100')).toBe(true);
    expect(keeps('[0, 1, 4, 9]: always input order', '[0, 1, 4, 9]')).toBe(true);
    expect(keeps('20, 40', '20')).toBe(false);
    expect(keeps("['a', 'b']", "['a']")).toBe(false);
  });

  it('... stands for the rest', () => {
    expect(keeps("[['a', 2], ...] first-seen key order", "[['a', 2], ['b', 1], ['c', 1]]")).toBe(true);
    expect(keeps("[['a', 2], ...] first-seen key order", "[['b', 1], ['a', 2]]")).toBe(false);
  });
});
