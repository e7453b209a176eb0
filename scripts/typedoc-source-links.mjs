// TypeDoc plugin: Markdown links from the guides to the source file that declares an export, such as
// [`TaskError`](../../lib/errors.ts#TaskError), become links to that export's API page in the site.
//
// Why: the guides are read in two places. On a Git host a `{@link millrace!TaskError}` tag shows as
// raw text, and in the site TypeDoc printed it as `millrace!TaskError`. A plain Markdown link reads
// well in both: on the Git host it opens the declaring source file, where the TSDoc is; here it
// opens the API page. TypeDoc 0.28 already rewrites relative links to project documents, the README
// and entry-point modules; this adds links to the other source files, named by the `#Name` anchor
// (`#Flow.toArray` for a member).
//
// Checked, so a link cannot rot: the anchor must name a documented export of an entry point (or a
// member of one), and the linked file must be the one that declares it; a link to a source file
// without an anchor is refused (TypeDoc would copy the .ts file into the site as media), and so is
// a `{@link}` tag in a Markdown document.
//
// Also: the README's leading `# <project name>` heading is dropped from the site's home page, where
// the theme already prints the project name (on the Git host the README keeps its title).
import { existsSync } from 'node:fs';
import { relative, resolve, sep } from 'node:path';
import { Converter, ReflectionKind } from 'typedoc';

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    const project = context.project;
    const root = process.cwd();
    const files = project.files;
    /** Source files mapped to the project here only to keep them out of the site's media. */
    const hidden = new Set();

    /** Resolves `Name` or `Name.member` among the entry-point modules' exports. */
    const find = (anchor) => {
      const path = anchor.split('.');
      const modules = project.children ?? [];
      const found = modules.map((module) => module.getChildByName(path)).filter((reflection) => reflection !== undefined);
      return [...new Set(found)];
    };
    /** The file that declares `reflection` (for a member, the file of its top-level export). */
    const declaringFile = (reflection) => {
      let top = reflection;
      while (top.parent && !top.parent.kindOf(ReflectionKind.Module | ReflectionKind.Project)) top = top.parent;
      const symbol = context.getSymbolFromReflection(top);
      const declaration = symbol?.declarations?.[0];
      return declaration ? resolve(declaration.getSourceFile().fileName) : undefined;
    };

    /** @param {string} where @param {import('typedoc').CommentDisplayPart[]} parts */
    const rewrite = (where, parts) => {
      for (const part of parts) {
        if (part.kind === 'inline-tag') {
          // What this plugin replaces: a Git host shows the tag as raw text.
          app.logger.error(
            `${where}: {${part.tag} ${part.text.trim()}} shows raw on a Git host; link the declaring file instead, e.g. [\`TaskError\`](../../lib/errors.ts#TaskError)`,
          );
          continue;
        }
        if (part.kind !== 'relative-link' || typeof part.target !== 'number') continue;
        const resolved = files.resolvePath(part.target);
        if (resolved === undefined || !/\.(ts|mts|mjs|js)$/.test(resolved)) continue;
        // Links TypeDoc resolves itself (an entry point's module page) are left alone.
        if (typeof files.resolve(part.target, project) === 'object' && !hidden.has(resolved) && !part.targetAnchor) continue;
        const shown = relative(root, resolved).split(sep).join('/');
        if (!part.targetAnchor) {
          app.logger.error(`${where}: the link to ${shown} needs an #ExportName anchor naming what it links to`);
          continue;
        }
        if (!existsSync(resolved)) {
          app.logger.error(`${where}: the link ${part.text} points at ${shown}, which does not exist`);
          continue;
        }
        const matches = find(part.targetAnchor);
        if (matches.length !== 1) {
          const why = matches.length === 0 ? 'is not a documented export (or member of one)' : 'is ambiguous';
          app.logger.error(`${where}: the link ${part.text}: ${part.targetAnchor} ${why}`);
          continue;
        }
        const [reflection] = matches;
        const declared = declaringFile(reflection);
        if (declared !== resolved) {
          const hint = declared ? `; it is declared in ${relative(root, declared).split(sep).join('/')}` : '';
          app.logger.error(`${where}: the link ${part.text} names ${part.targetAnchor}, which ${shown} does not declare${hint}`);
          continue;
        }
        // A path of its own for each export (TypeDoc maps one path to one reflection), and the
        // source file itself mapped to the project so that it is not copied into the site.
        files.registerReflectionPath(`${resolved}::${part.targetAnchor}`, reflection);
        part.target = files.registerAbsolute(`${resolved}::${part.targetAnchor}`).target;
        part.targetAnchor = undefined;
        if (typeof files.resolve(files.registerAbsolute(resolved).target, project) === 'string') {
          files.registerReflectionPath(resolved, project);
          hidden.add(resolved);
        }
      }
    };

    for (const document of project.getReflectionsByKind(ReflectionKind.Document)) {
      rewrite(document.name, document.content);
    }
    if (project.readme) {
      rewrite('README', project.readme);
      const [first] = project.readme;
      const title = `# ${project.name}\n`;
      if (first?.kind === 'text' && first.text.startsWith(title)) first.text = first.text.slice(title.length).trimStart();
    }
  });
}
