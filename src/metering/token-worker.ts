// The tokenizer's thread: counts o200k tokens of texts posted by src/metering/token-counter.ts (all
// but the small ones, which it counts on the event loop). Loaded as a file of its own: from source
// (token-worker.ts, Node strips the types), from tsc's output (.js), or from the bundle (dist/token-worker.mjs).
import { parentPort } from 'node:worker_threads';
import * as tokenizer from 'gpt-tokenizer/model/gpt-oss-120b';
import { countTexts, MERGE_CACHE_ENTRIES } from './o200k-count.ts';

export type CountRequest = { id: number; texts: readonly string[] };
export type CountReply = { id: number; tokens: number } | { id: number; error: string };

tokenizer.setMergeCacheSize(MERGE_CACHE_ENTRIES);

parentPort?.on('message', (request: CountRequest) => {
  let reply: CountReply;
  try {
    reply = { id: request.id, tokens: countTexts(tokenizer, request.texts) };
  } catch (err) {
    reply = { id: request.id, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort?.postMessage(reply);
});
