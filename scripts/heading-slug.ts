/**
 * The anchor a Git host (GitHub's slugger) gives a heading: lowercased, punctuation dropped, each
 * space a hyphen, `-1`, `-2` ... after repeats. Shared by the guide check (links to headings) and
 * the site check (the site's heading anchors must be the same, so one link works in both).
 */
export function headingSlugger(): (text: string) => string {
  const seen = new Map<string, number>();
  return (text) => {
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base);
    seen.set(base, (count ?? -1) + 1);
    return count === undefined ? base : `${base}-${count + 1}`;
  };
}

/** A Markdown heading's text as rendered: links to their text, code and emphasis marks dropped. */
export function headingText(markdown: string): string {
  return markdown
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[`*]/g, '')
    .trim();
}
