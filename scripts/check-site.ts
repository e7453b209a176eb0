/**
 * Checks the built API site (docs/api/, from `npm run docs`) as a reader meets it:
 *
 * - every page parses, and every internal link and `#anchor` resolves (pages, assets, the sidebar's
 *   entries in assets/navigation.js); "Defined in" links point at a source file's line (`#L123`)
 *   that exists;
 * - a page's table of contents ("On This Page") shows each heading's whole text, inline code
 *   included, and the guides' headings have the anchors a Git host gives them;
 * - prose defaults (`@defaultValue the shared pool`) render as prose, not as code blocks;
 * - the sidebar is grouped by topic (categories), with `millrace/testing` as an entry of its own;
 * - the home page (the README) has the "Start here" path and links every guide;
 * - in a browser, when headless Chromium is there (found on PATH or in CHROME_PATH, or installed
 *   with apt-get when run as root on Debian/Ubuntu; MILLRACE_NO_INSTALL=1 skips the install): the
 *   home page and the first page of each kind load with their sidebar drawn, and a screenshot of the home page is written to
 *   .cache/docs-landing.png. Without Chromium that step is skipped, saying so; the rest runs in Node.
 *
 * Usage: npm run docs && npm run docs:site-check [-- SITE_DIR]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import { headingSlugger } from './heading-slug.js';

const root = fileURLToPath(new URL('..', import.meta.url));
// The site to check: docs/api, or a folder given as the argument (a site built elsewhere).
const site = resolve(process.argv[2] ?? join(root, 'docs', 'api'));
const screenshot = join(root, '.cache', 'docs-landing.png');

if (!existsSync(join(site, 'index.html'))) {
  console.error('docs/api/index.html is missing: run npm run docs first');
  process.exit(1);
}

const problems: string[] = [];
const complain = (where: string, what: string): void => {
  problems.push(`${where}: ${what}`);
};

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

const decode = (text: string) =>
  text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&amp;/g, '&');
/** The text of an HTML fragment, as a browser shows it. */
const textOf = (html: string) =>
  decode(
    html
      .replace(/<svg[\s\S]*?<\/svg>/g, '')
      .replace(/<[^>]+>/g, '')
      .replace(/\s+/g, ' '),
  ).trim();

const pages = walk(site).filter((file) => file.endsWith('.html'));
const html = new Map(pages.map((page) => [page, readFileSync(page, 'utf8')]));
const idsCache = new Map<string, Set<string>>();
/** The anchors a file offers: `id` and `name` attributes (HTML and SVG). */
function idsOf(file: string): Set<string> {
  let ids = idsCache.get(file);
  if (!ids) {
    const text = html.get(file) ?? readFileSync(file, 'utf8');
    ids = new Set([...text.matchAll(/\s(?:id|name)="([^"]+)"/g)].map((match) => decode(match[1] ?? '')));
    idsCache.set(file, ids);
  }
  return ids;
}

let links = 0;
let definedIn = 0;
let sourceLinks = 0;
/** Checks one link from `from` (a page, or the site root for the sidebar). */
function checkLink(where: string, from: string, href: string): void {
  if (/^(https?:|mailto:|data:|javascript:)/.test(href)) return;
  links++;
  const [path = '', anchor] = decode(href).split('#', 2);
  const target = path === '' ? from : resolve(dirname(from), decodeURI(path.split('?')[0] ?? ''));
  if (!target.startsWith(site)) {
    // A "Defined in" link into the clone: the file must exist and have the line.
    sourceLinks++;
    const line = /^L(\d+)$/.exec(anchor ?? '')?.[1];
    if (!existsSync(target)) complain(where, `${href}: no such file ${relative(root, target)}`);
    else if (!line) complain(where, `${href}: a link to source must name its line (#L123)`);
    else {
      const lines = readFileSync(target, 'utf8').split('\n').length;
      if (Number(line) > lines) complain(where, `${href}: ${relative(root, target)} has only ${lines} lines`);
    }
    return;
  }
  if (!existsSync(target)) complain(where, `${href}: no such page ${relative(site, target)}`);
  else if (anchor && !idsOf(target).has(anchor)) complain(where, `${href}: ${relative(site, target)} has no #${anchor}`);
}

for (const [page, text] of html) {
  const where = relative(root, page);
  if (!/<title>[^<]+<\/title>/.test(text) || !text.trimEnd().endsWith('</html>')) complain(where, 'not a whole HTML page');
  for (const match of text.matchAll(/\s(?:href|src)="([^"]*)"/g)) checkLink(where, page, match[1] ?? '');

  // "Defined in" links: to a line, always.
  for (const match of text.matchAll(/Defined in (<a href="([^"]*)">)?(?:lib|operators|bin)\//g)) {
    definedIn++;
    if (!match[1]) complain(where, '"Defined in" without a link to the source');
    else if (!/#L\d+$/.test(match[2] ?? '')) complain(where, `"Defined in" link ${match[2] ?? ''} does not point at a line`);
  }

  // The table of contents shows each heading's whole text.
  const headings = new Map<string, string>();
  for (const match of text.matchAll(/<h([1-6])[^>]*\sid="([^"]+)"[^>]*>([\s\S]*?)<\/h\1>/g)) {
    // Without the flags a member's heading shows before its name (Optional, Readonly).
    headings.set(decode(match[2] ?? ''), textOf((match[3] ?? '').replace(/<code class="tsd-tag">[^<]*<\/code>/g, '')));
  }
  const toc = /<details[^>]*tsd-page-navigation[\s\S]*?<\/details>/.exec(text)?.[0] ?? '';
  for (const match of toc.matchAll(/<a href="#([^"]+)"[^>]*>([\s\S]*?)<\/a>/g)) {
    const id = decode(match[1] ?? '');
    const shown = textOf(match[2] ?? '');
    const heading = headings.get(id);
    if (heading !== undefined && heading !== shown) complain(where, `"On This Page" shows "${shown}" for the heading "${heading}"`);
  }

  // The guides' headings (the README's and every document's) have the anchors a Git host gives.
  if (page === join(site, 'index.html') || page.startsWith(join(site, 'documents'))) {
    const slug = headingSlugger();
    const body = /<div class="tsd-panel tsd-typography">([\s\S]*?)<\/div>\s*<\/div>\s*<div class="col-sidebar">/.exec(text)?.[1] ?? text;
    for (const match of body.matchAll(/<h([1-6]) id="([^"]+)" class="tsd-anchor-link">([\s\S]*?)<\/h\1>/g)) {
      const expected = slug(textOf(match[3] ?? ''));
      if (decode(match[2] ?? '') !== expected) {
        complain(where, `the heading "${textOf(match[3] ?? '')}" has the anchor #${match[2] ?? ''}; a Git host gives it #${expected}`);
      }
    }
  }

  // Defaults render as written: prose as prose, `code` as inline code, never as a code block with
  // a Copy button (TypeDoc's default for a @defaultValue without backticks).
  for (const match of text.matchAll(/Default Value<a [^>]*>[\s\S]*?<\/h4>\s*<pre>([\s\S]*?)<\/pre>/g)) {
    complain(where, `a default value renders as a code block: "${textOf(match[1] ?? '').replace(/\s*Copy\s*$/, '')}"`);
  }
}

if (definedIn === 0) complain('site', 'no page says where an export is "Defined in" (typedoc.json: disableSources must be false)');

// The sidebar: topics, and millrace/testing on its own.
interface NavEntry {
  readonly text: string;
  readonly path?: string;
  readonly kind?: number;
  readonly children?: readonly NavEntry[];
}
const navigationScript = readFileSync(join(site, 'assets', 'navigation.js'), 'utf8');
const navigationData = /"([A-Za-z0-9+/=]+)"/.exec(navigationScript)?.[1] ?? '';
const navigation = JSON.parse(inflateSync(Buffer.from(navigationData, 'base64')).toString('utf8')) as NavEntry[];
const visit = (entries: readonly NavEntry[]) => {
  for (const entry of entries) {
    if (entry.path) checkLink(`sidebar entry ${entry.text}`, join(site, 'index.html'), entry.path);
    visit(entry.children ?? []);
  }
};
visit(navigation);
const millrace = navigation.find((entry) => entry.text === 'millrace');
const testing = navigation.find((entry) => entry.text === 'millrace/testing');
if (!testing) complain('sidebar', 'millrace/testing is not an entry of its own at the top level');
const topics = (millrace?.children ?? []).filter((entry) => entry.path === undefined && (entry.children?.length ?? 0) > 0);
if (!millrace || topics.length < 5 || topics.length !== millrace.children?.length) {
  complain(
    'sidebar',
    `millrace's exports are not grouped by topic (${topics.length} topic groups of ${millrace?.children?.length ?? 0} entries)`,
  );
}

// The home page: the start path, and every guide linked.
const landing = html.get(join(site, 'index.html')) ?? '';
if (!/<h2[^>]*id="start-here"/.test(landing)) complain('index.html', 'no "Start here" heading');
for (const document of readdirSync(join(site, 'documents'))) {
  if (!landing.includes(`href="documents/${document}`)) complain('index.html', `does not link the guide documents/${document}`);
}
for (const match of landing.matchAll(/<code>(docs\/[\w./-]+\.md)<\/code>/g))
  complain('index.html', `${match[1] ?? ''} is code, not a link`);

// In a browser: the home page loads and draws its sidebar; a screenshot for review.
const browser = findChromium();
let browserReport = '';
if (browser) {
  const url = pathToFileURL(join(site, 'index.html')).href;
  const flags = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--hide-scrollbars',
    '--disable-dev-shm-usage',
    '--virtual-time-budget=5000',
  ];
  // The home page and the first page of each kind: each loads and its script draws the sidebar
  // (the HTML holds an empty one; "millrace/testing" is in it only once navigation.js has loaded).
  const kinds = ['documents', 'modules', 'classes', 'interfaces', 'functions', 'types'].filter((kind) => existsSync(join(site, kind)));
  const sample = [join(site, 'index.html'), ...kinds.map((kind) => join(site, kind, readdirSync(join(site, kind)).sort()[0] ?? ''))];
  for (const page of sample) {
    const dom = spawnSync(browser, [...flags, '--dump-dom', pathToFileURL(page).href], { encoding: 'utf8', timeout: 60_000 });
    const where = `browser: ${relative(site, page)}`;
    if (dom.status !== 0) complain(where, `${browser} could not load it: ${dom.stderr.slice(-500)}`);
    else if (!/id="tsd-nav-container"><li>/.test(dom.stdout) || !dom.stdout.includes('millrace/testing')) {
      complain(where, 'loaded without its sidebar (navigation.js did not run)');
    }
  }
  if (!spawnSync(browser, [...flags, '--dump-dom', url], { encoding: 'utf8', timeout: 60_000 }).stdout.includes('Start here')) {
    complain('browser: index.html', 'no "Start here" on the home page');
  }
  mkdirSync(dirname(screenshot), { recursive: true });
  const shot = spawnSync(browser, [...flags, '--window-size=1280,1800', `--screenshot=${screenshot}`, url], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (shot.status !== 0 || !existsSync(screenshot)) complain('browser', `no screenshot: ${shot.stderr.slice(-500)}`);
  else
    browserReport = `; ${sample.length} pages loaded in ${browser} with their sidebar, screenshot of the home page in ${relative(root, screenshot)}`;
} else {
  browserReport = '; SKIPPED the browser step (no Chromium: apt-get install chromium, or set CHROME_PATH): no screenshot';
}

if (problems.length > 0) {
  console.error(problems.join('\n'));
  console.error(`\n${problems.length} problem(s) in the built site.`);
  process.exit(1);
}
console.log(`${pages.length} pages, ${links} internal links (${sourceLinks} to source lines), 0 broken${browserReport}.`);

/** Headless Chromium: on PATH, in CHROME_PATH, or installed with apt-get when root. */
function findChromium(): string | undefined {
  const candidates = [process.env.CHROME_PATH, 'chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
  const find = () => {
    for (const candidate of candidates) {
      if (!candidate) continue;
      const found = spawnSync('sh', ['-c', `command -v "${candidate}"`], { encoding: 'utf8' }).stdout.trim();
      if (found) return found;
    }
    return undefined;
  };
  const found = find();
  if (found || process.env.MILLRACE_NO_INSTALL === '1') return found;
  const root = process.getuid?.() === 0;
  const apt = spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' }).stdout.trim();
  if (!root || !apt) return undefined;
  console.log('Installing chromium with apt-get for the browser step (MILLRACE_NO_INSTALL=1 skips this)...');
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], { stdio: 'inherit', env });
  } catch {
    console.log('apt-get could not install chromium.');
  }
  return find();
}
