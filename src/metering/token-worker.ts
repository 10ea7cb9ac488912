// The tokenizer's thread: counts o200k tokens of texts posted by src/metering/token-counter.ts, so no
// tokenizing ever runs on the gateway's event loop. Loaded as a file of its own: from source
// (token-worker.ts, Node strips the types), from tsc's output (.js), or from the bundle (dist/token-worker.mjs).
import { parentPort } from 'node:worker_threads';
import { countTokens, setMergeCacheSize } from 'gpt-tokenizer/model/gpt-oss-120b';
import { bpeSegments } from './bpe-segments.ts';

export type CountRequest = { id: number; texts: readonly string[] };
export type CountReply = { id: number; tokens: number } | { id: number; error: string };

// The merge cache is keyed by client text (a piece of up to one segment) and holds its token array:
// at the default 100,000 entries, hostile pieces could fill hundreds of MB
setMergeCacheSize(10_000);

/** Client text is never read as special tokens: `<|start|>` in a prompt is plain text, not an error. */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

function count(texts: readonly string[]): number {
  let tokens = 0;
  for (const text of texts) {
    for (const segment of bpeSegments(text)) tokens += countTokens(segment, PLAIN_TEXT);
  }
  return tokens;
}

parentPort?.on('message', (request: CountRequest) => {
  let reply: CountReply;
  try {
    reply = { id: request.id, tokens: count(request.texts) };
  } catch (err) {
    reply = { id: request.id, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort?.postMessage(reply);
});
