// The one way texts are counted, on the worker thread (token-worker.ts) and, for small texts, on the
// event loop (token-counter.ts): same segments, same options, so both give the same count. The
// tokenizer is passed in, not imported: each thread loads its own copy, and only on first use.
import { bpeSegments } from './bpe-segments.ts';

/** The two functions of gpt-tokenizer/model/gpt-oss-120b used here. */
export type Tokenizer = {
  countTokens(text: string, options: { disallowedSpecial: Set<string> }): number;
  setMergeCacheSize(size: number): void;
};

/**
 * The merge cache is keyed by client text (a piece of up to one segment) and holds its token array:
 * at the default 100,000 entries, hostile pieces could fill hundreds of MB.
 */
export const MERGE_CACHE_ENTRIES = 10_000;

/** Client text is never read as special tokens: `<|start|>` in a prompt is plain text, not an error. */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/** o200k tokens of the texts, each tokenized alone, in segments (linear time: bpe-segments.ts). */
export function countTexts(tokenizer: Tokenizer, texts: readonly string[]): number {
  let tokens = 0;
  for (const text of texts) {
    for (const segment of bpeSegments(text)) tokens += tokenizer.countTokens(segment, PLAIN_TEXT);
  }
  return tokens;
}
