// TypeDoc plugin: Markdown links from the guides to the source file that declares an export, such as
// [`TaskError`](../../lib/errors.ts#L89 'TaskError'), become links to that export's API page in the site.
//
// Why: the guides are read in two places. On a Git host a `{@link millrace!TaskError}` tag shows as
// raw text, and in the site TypeDoc printed it as `millrace!TaskError`. A plain Markdown link reads
// well in both: on the Git host it opens the declaring source file at the declaration's line (`#L89`;
// a Git host ignores any other anchor in a source file and opens it at the top), where the TSDoc is;
// here it opens the API page. The link's title names the export (`'Flow.toArray'` for a member; Prettier writes titles in single quotes).
// TypeDoc 0.28 already rewrites relative links to project documents, the README and entry-point
// modules; this adds links to the other source files.
//
// Checked, so a link cannot rot: the title must name a documented export of an entry point (or a
// member of one), the linked file must be the one that declares it, and the line must be the one
// TypeDoc reports for the declaration ("Defined in"); `npm run docs:links` re-points drifted lines
// and moved files. A link to a source file without `#L<line> "Name"` is refused (TypeDoc would copy
// the .ts file into the site as media), and so is a `{@link}` tag in a Markdown document.
//
// Also, for the site as a whole:
// - headings keep their inline code in the page's table of contents ("1. `dedupe`: the simplest
//   shape", not "1. : the simplest shape"), and their anchors are the ones a Git host gives them;
// - "Defined in" links (typedoc.json's sourceLinkTemplate `millrace-source:///{path}#L{line}`) point
//   at the source file and line: relative to the page, into the clone the site was built in, or
//   under MILLRACE_SOURCE_URL when it is set (e.g. https://git.example/millrace/blob/main).
//
// Also: the README's leading `# <project name>` heading is dropped from the site's home page, where
// the theme already prints the project name (on the Git host the README keeps its title).
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Application, Converter, ReflectionKind, Renderer, Slugger } from 'typedoc';

/** The scheme typedoc.json's sourceLinkTemplate puts in front of `{path}#L{line}`. */
const SOURCE_SCHEME = 'millrace-source:///';

/**
 * Inline code in headings: markdown-it gives it as `code_inline` tokens, whose text TypeDoc leaves
 * out of the heading's table-of-contents entry and anchor. Marked as text that renders as code, it
 * is in both, and still renders as code.
 * @param {any} parser markdown-it
 */
function headingsKeepCode(parser) {
  parser.core.ruler.push('millrace_heading_code', (state) => {
    state.tokens.forEach((token, index) => {
      if (token.type !== 'heading_open') return;
      for (const child of state.tokens[index + 1]?.children ?? []) {
        if (child.type !== 'code_inline') continue;
        child.type = 'text';
        child.meta = { ...child.meta, millraceCode: true };
      }
    });
  });
  const text = parser.renderer.rules.text;
  parser.renderer.rules.text = (tokens, index, options, env, self) =>
    tokens[index].meta?.millraceCode
      ? `<code>${parser.utils.escapeHtml(tokens[index].content)}</code>`
      : text
        ? text(tokens, index, options, env, self)
        : parser.utils.escapeHtml(tokens[index].content);
}

/**
 * Anchors as a Git host makes them (GitHub's slugger: punctuation dropped, each space a hyphen), so
 * a guide's `#anchor` link works on the host and in the site. TypeDoc's own slugger differs when
 * punctuation stands between spaces ("x => x * 2"); this also names the anchors of API members,
 * where the two agree.
 */
Slugger.prototype.serialize = function serialize(value) {
  return (
    value
      .trim()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-') || '_'
  );
};

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.on(Application.EVENT_BOOTSTRAP_END, () => {
    const previous = app.options.getValue('markdownItLoader');
    app.options.setValue('markdownItLoader', (parser) => {
      previous?.(parser);
      headingsKeepCode(parser);
    });
  });

  app.renderer.on(Renderer.EVENT_END_PAGE, (page) => {
    if (!page.contents?.includes(SOURCE_SCHEME)) return;
    const hosted = process.env.MILLRACE_SOURCE_URL?.replace(/\/+$/, '');
    const out = resolve(app.options.getValue('out'));
    const local = relative(dirname(join(out, page.url)), process.cwd())
      .split(sep)
      .join('/');
    page.contents = page.contents.replaceAll(SOURCE_SCHEME, hosted ? `${hosted}/` : `${local}/`);
  });

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
      for (const [index, part] of parts.entries()) {
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
        // The export's name is the link's title: [`TaskError`](../../lib/errors.ts#L89 'TaskError').
        const next = parts[index + 1];
        const title = next?.kind === 'text' ? /^\s+(["'])([^"']+)\1\)/.exec(next.text)?.[2] : undefined;
        const line = /^L(\d+)$/.exec(part.targetAnchor ?? '')?.[1];
        if (!line || !title) {
          app.logger.error(
            `${where}: the link to ${shown}${part.targetAnchor ? `#${part.targetAnchor}` : ''} needs a line anchor and the export's name as its title, e.g. [\`TaskError\`](../../lib/errors.ts#L89 'TaskError') (npm run docs:links writes the line)`,
          );
          continue;
        }
        if (!existsSync(resolved)) {
          app.logger.error(`${where}: the link ${part.text} points at ${shown}, which does not exist`);
          continue;
        }
        const matches = find(title);
        if (matches.length !== 1) {
          const why = matches.length === 0 ? 'is not a documented export (or member of one)' : 'is ambiguous';
          app.logger.error(`${where}: the link ${part.text}: ${title} ${why}`);
          continue;
        }
        const [reflection] = matches;
        const declared = declaringFile(reflection);
        if (declared !== resolved) {
          const hint = declared
            ? `; it is declared in ${relative(root, declared).split(sep).join('/')} (npm run docs:links re-points it)`
            : '';
          app.logger.error(`${where}: the link ${part.text} names ${title}, which ${shown} does not declare${hint}`);
          continue;
        }
        const declaredLine = reflection.sources?.[0]?.line;
        if (declaredLine !== undefined && String(declaredLine) !== line) {
          app.logger.error(
            `${where}: the link ${part.text}#L${line} '${title}': ${title} is declared on line ${declaredLine} of ${shown}; run npm run docs:links to re-point the guides`,
          );
          continue;
        }
        // A path of its own for each export (TypeDoc maps one path to one reflection), and the
        // source file itself mapped to the project so that it is not copied into the site.
        files.registerReflectionPath(`${resolved}::${title}`, reflection);
        part.target = files.registerAbsolute(`${resolved}::${title}`).target;
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
