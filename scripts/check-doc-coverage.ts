/**
 * Checks the house rules for API docs that typedoc's own validation does not: every export of
 * `millrace` and `millrace/testing` has a summary, an `@example`, a category; every function
 * parameter is described and every non-void function says what it `@returns`; every optional field
 * of an `...Options` interface is `readonly` and has a `@defaultValue`.
 *
 * Usage: npm run docs:check (after the example check)
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Comment, DeclarationReflection, ProjectReflection, SignatureReflection, SomeType } from 'typedoc';

// Loaded by path: under tsx the bare name 'typedoc' resolves through tsconfig's baseUrl to ./typedoc.json.
const typedocRoot = dirname(createRequire(import.meta.url).resolve('typedoc/package.json'));
const typedocEntry = pathToFileURL(join(typedocRoot, 'dist', 'index.js')).href;
const { Application, ReflectionKind } = (await import(typedocEntry)) as typeof import('typedoc');

const app = await Application.bootstrap({
  // The type check is CI's typecheck step; here only the comments matter.
  skipErrorChecking: true,
  // Inherit typedoc.json (entry points, categories, exclusions) but never fail on its warnings here.
  treatWarningsAsErrors: false,
  treatValidationWarningsAsErrors: false,
  logLevel: 'Error',
});
const project: ProjectReflection | undefined = await app.convert();
if (!project) {
  console.error('typedoc could not convert the project');
  process.exit(1);
}

const problems: string[] = [];
const complain = (where: string, what: string) => problems.push(`${where}: ${what}`);

function hasText(comment: Comment | undefined): boolean {
  return comment !== undefined && comment.summary.some((part) => part.text.trim().length > 0);
}

function isVoid(type: SomeType | undefined): boolean {
  if (!type) return true;
  const text = type.toString();
  return text === 'void' || text === 'Promise<void>' || text === 'undefined';
}

/** The comments that document a declaration: its own, or its signatures'. */
function commentsOf(reflection: DeclarationReflection): Comment[] {
  const comments: Comment[] = [];
  if (reflection.comment) comments.push(reflection.comment);
  for (const signature of reflection.signatures ?? []) if (signature.comment) comments.push(signature.comment);
  return comments;
}

function checkSignature(where: string, signature: SignatureReflection): void {
  // pipe's overloads (one per arity) share one comment, and typedoc warns about a @param that an
  // overload lacks; their `opN` parameters are described together in the `op1` text instead.
  const shared = signature.name === 'pipe' ? (signature.parameters ?? []).slice(1) : [];
  for (const parameter of signature.parameters ?? []) {
    if (shared.includes(parameter)) continue;
    if (!hasText(parameter.comment)) complain(where, `parameter \`${parameter.name}\` has no @param description`);
  }
  if (!isVoid(signature.type) && !signature.comment?.getTag('@returns')) complain(where, 'no @returns');
}

for (const module of project.children ?? []) {
  const categorized = new Set<number>();
  for (const category of module.categories ?? []) {
    if (category.title === 'Other') continue;
    for (const child of category.children) categorized.add(child.id);
  }
  for (const child of module.children ?? []) {
    const where = `${module.name}: ${child.name}`;
    const comments = commentsOf(child);
    if (!comments.some(hasText)) complain(where, 'no summary');
    if (!comments.some((comment) => comment.getTag('@example'))) complain(where, 'no @example');
    if (!categorized.has(child.id)) complain(where, 'no @category');
    if (child.kind === ReflectionKind.Function) {
      // Overloads share the first one's comment; check the signatures that carry one.
      const documented = (child.signatures ?? []).filter((signature) => signature.comment);
      for (const signature of documented.length > 0 ? documented : (child.signatures ?? []).slice(0, 1)) checkSignature(where, signature);
    }
    if (child.kind === ReflectionKind.Class) {
      for (const member of child.children ?? []) {
        if (member.kind !== ReflectionKind.Method || member.inheritedFrom || member.flags.isPrivate) continue;
        const documented = (member.signatures ?? []).filter((signature) => signature.comment);
        for (const signature of documented.length > 0 ? documented : (member.signatures ?? []).slice(0, 1)) {
          checkSignature(`${where}.${member.name}`, signature);
        }
      }
    }
    if (child.kind === ReflectionKind.Interface && child.name.endsWith('Options')) {
      for (const field of child.children ?? []) {
        if (field.inheritedFrom || !field.flags.isOptional) continue;
        if (!field.flags.isReadonly) complain(`${where}.${field.name}`, 'option is not readonly');
        if (!field.comment?.getTag('@defaultValue')) complain(`${where}.${field.name}`, 'option has no @defaultValue');
      }
    }
  }
}

if (problems.length > 0) {
  console.error(problems.join('\n'));
  console.error(`\n${problems.length} API documentation problem(s).`);
  process.exit(1);
}
const exports = (project.children ?? []).reduce((sum, module) => sum + (module.children?.length ?? 0), 0);
console.log(`${exports} exports documented (summary, @example, @category, @param/@returns, option defaults).`);
