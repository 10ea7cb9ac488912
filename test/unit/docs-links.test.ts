// Every relative link in README.md and docs/*.md points to a file that exists, and README links every
// docs file (a doc nobody can reach from the README is a doc nobody reads).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const DOCS = join(ROOT, 'docs');
const FILES = [
  join(ROOT, 'README.md'),
  ...readdirSync(DOCS)
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(DOCS, name)),
];

/** The targets of `[text](target)` links outside fenced code blocks, without their `#anchor`. */
function relativeLinks(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '');
  const targets: string[] = [];
  for (const match of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = match[1] as string;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue; // URL or same-file anchor
    targets.push(decodeURIComponent(target.split('#')[0] as string));
  }
  return targets;
}

describe('docs links', () => {
  it('finds links, skips URLs, anchors and code blocks', () => {
    expect(
      relativeLinks('[a](docs/x.md#y) [b](https://e.com/z.md) [c](#here)\n```\n[d](nope.md)\n```\n'),
    ).toEqual(['docs/x.md']);
  });

  it.each(FILES.map((file) => [relative(ROOT, file), file]))(
    'every relative link in %s points to an existing file',
    (_name, file) => {
      const missing = relativeLinks(readFileSync(file, 'utf8')).filter(
        (target) => !existsSync(join(dirname(file), target)),
      );
      expect(missing).toEqual([]);
    },
  );

  it('README.md links every docs/*.md file', () => {
    const linked = new Set(
      relativeLinks(readFileSync(join(ROOT, 'README.md'), 'utf8')).map((target) => join(ROOT, target)),
    );
    const unlinked = FILES.slice(1).filter((file) => !linked.has(file));
    expect(unlinked.map((file) => relative(ROOT, file))).toEqual([]);
  });
});
