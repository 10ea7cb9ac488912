// Cuts text into segments of bounded length before BPE, so tokenizing stays linear in the text.
// gpt-tokenizer's merge step is quadratic in the length of one pre-tokenized piece: one run of
// 100,000 letters (no space to split it) took 7.5 s, 200,000 took 20 s.

/**
 * Longest segment, in UTF-16 code units. Measured on random letters, tokenizing costs ~1.3 µs a
 * character from 128 to 2,048 (lookups dominate); longer pieces grow quadratically.
 */
export const SEGMENT_CHARS = 512;

/**
 * Segments whose token counts add up to the text's. A segment ends, where it can, just before a space
 * that follows a non-space: o200k's pre-tokenizer always starts a piece there (no piece ends in a
 * space unless it is all whitespace), and it has no lookbehind, so the pieces, and the count, are
 * unchanged. A window with no such space (a long word, a blob, a run of whitespace) is cut at its
 * end, never inside a surrogate pair: at most one extra token per cut.
 */
export function* bpeSegments(text: string, maxChars = SEGMENT_CHARS): Generator<string> {
  let start = 0;
  while (text.length - start > maxChars) {
    const end = cutPoint(text, start, start + maxChars);
    yield text.slice(start, end);
    start = end;
  }
  if (start === 0) yield text;
  else if (start < text.length) yield text.slice(start);
}

/** Where to end the segment that starts at `start` and may reach `limit` (exclusive). */
function cutPoint(text: string, start: number, limit: number): number {
  for (let i = text.lastIndexOf(' ', limit); i > start; i = text.lastIndexOf(' ', i - 1)) {
    if (!isSpace(text.charCodeAt(i - 1))) return i;
  }
  const last = text.charCodeAt(limit - 1);
  const highSurrogate = last >= 0xd800 && last <= 0xdbff;
  return highSurrogate && limit - 1 > start ? limit - 1 : limit;
}

const SPACE = /\s/;

/** What the pre-tokenizer's `\s` matches. */
function isSpace(code: number): boolean {
  if (code === 0x20 || (code >= 0x09 && code <= 0x0d)) return true;
  return code > 0x7f && SPACE.test(String.fromCharCode(code));
}
