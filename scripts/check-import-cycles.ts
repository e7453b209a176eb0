/**
 * Fails when the sources import in a cycle (type-only imports count: they tie the files' meaning
 * together just the same) and lists each cycle. Usage: `npm run check:cycles` (lib, operators, bin).
 *
 * A relative `import`/`export ... from` or `import()` is an edge; Tarjan's algorithm finds the
 * strongly connected components, and any with more than one file (or a file importing itself) is a cycle.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const folders = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['lib', 'operators', 'bin'];
const edgePattern = /(?:import|export)\s[^'";]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/gs;

function sourceFiles(folder: string): string[] {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.m?ts$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

const files = folders.flatMap((folder) => sourceFiles(join(root, folder)));
const known = new Set(files);
const graph = new Map<string, string[]>();
for (const file of files) {
  const edges = new Set<string>();
  for (const match of readFileSync(file, 'utf8').matchAll(edgePattern)) {
    const target = normalize(join(dirname(file), match[1] ?? match[2] ?? ''));
    const candidate = [target.replace(/\.m?js$/, '.ts'), target.replace(/\.mjs$/, '.mts'), `${target}.ts`, join(target, 'index.ts')].find(
      (c) => known.has(c),
    );
    if (candidate !== undefined) edges.add(candidate);
  }
  graph.set(file, [...edges]);
}

// Tarjan's strongly connected components (iterative: deep import chains never overflow the stack).
const index = new Map<string, number>();
const low = new Map<string, number>();
const onStack = new Set<string>();
const stack: string[] = [];
const cycles: string[][] = [];
let counter = 0;
for (const start of files) {
  if (index.has(start)) continue;
  const work: { node: string; next: number }[] = [{ node: start, next: 0 }];
  index.set(start, counter);
  low.set(start, counter++);
  stack.push(start);
  onStack.add(start);
  while (work.length > 0) {
    const frame = work[work.length - 1]!;
    const edges = graph.get(frame.node) ?? [];
    if (frame.next < edges.length) {
      const to = edges[frame.next++]!;
      if (!index.has(to)) {
        index.set(to, counter);
        low.set(to, counter++);
        stack.push(to);
        onStack.add(to);
        work.push({ node: to, next: 0 });
      } else if (onStack.has(to)) {
        low.set(frame.node, Math.min(low.get(frame.node)!, index.get(to)!));
      }
      continue;
    }
    work.pop();
    const parent = work[work.length - 1];
    if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
    if (low.get(frame.node) === index.get(frame.node)) {
      const component: string[] = [];
      for (;;) {
        const member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
        if (member === frame.node) break;
      }
      if (component.length > 1 || edges.includes(frame.node)) cycles.push(component);
    }
  }
}

for (const cycle of cycles)
  console.log(
    `cycle: ${cycle
      .map((file) => relative(root, file))
      .sort()
      .join(', ')}`,
  );
console.log(`${cycles.length} import cycle(s) among ${files.length} files in ${folders.join(', ')}`);
process.exitCode = cycles.length > 0 ? 1 : 0;
