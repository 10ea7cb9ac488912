// Exact token counts that never stall the event loop for long. Small texts (a few KB, the common
// prompt) are counted right here: ~2 µs for a short prompt, where a round trip to a worker thread
// cost ~140 µs of this thread's CPU (messages, clones, wake-ups). Larger ones go to one worker thread
// that owns its own tokenizer, each count bounded in time and queue. Each thread loads the tokenizer
// (~65 MB of tables) on its first count only. When the worker cannot answer in time (crashed,
// overloaded, missing), the count falls back to the texts' UTF-8 bytes, an upper bound
// (src/metering/prompt-text.ts): a request is over-metered, never unmetered.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { countTexts, MERGE_CACHE_ENTRIES, type Tokenizer } from './o200k-count.ts';
import { textBytes } from './prompt-text.ts';
import type { CountReply, CountRequest } from './token-worker.ts';

export type TokenCounter = {
  /** o200k tokens of the texts (each tokenized alone), or their UTF-8 bytes if the worker fails */
  count(texts: readonly string[]): Promise<number>;
  /** stops the worker; later counts start a new one */
  close(): Promise<void>;
};

export type TokenCounterOptions = {
  /** the worker's module; default: token-worker beside this module, in this module's flavour */
  workerUrl?: URL;
  /** longest wait for one count, queueing and the first load of the tokenizer (~0.4 s) included */
  timeoutMs?: number;
  /** UTF-8 bytes of text waiting for the worker; a count beyond it falls back at once */
  maxQueuedBytes?: number;
  /** heap of the worker thread: a pathological count kills the worker, not the gateway */
  maxWorkerHeapMb?: number;
  /** UTF-8 bytes of text up to which a count runs on this thread (0: every count goes to the worker) */
  inlineMaxBytes?: number;
  /** the tokenizer for counts on this thread; default: gpt-tokenizer's gpt-oss model, imported on first use */
  loadTokenizer?: () => Promise<Tokenizer>;
};

/**
 * token-worker.ts from source (vitest, node --experimental-strip-types), token-worker.js from tsc's
 * output, dist/token-worker.mjs beside the bundle (dist/server.mjs): scripts/bundle.mjs builds it.
 */
export function defaultWorkerUrl(moduleUrl = import.meta.url): URL {
  return new URL(`./token-worker${extname(fileURLToPath(moduleUrl))}`, moduleUrl);
}

/** After the worker fails, counts fall back for this long before a new worker is tried. */
const RESTART_BACKOFF_MS = 1_000;

/**
 * The most text counted on the event loop. Hostile text (random letters, no merge cache hits) costs
 * ~1 ms a KB here, so a count stalls the loop ~2 ms at worst; prose costs a tenth of that.
 */
export const INLINE_MAX_BYTES = 2048;

async function importTokenizer(): Promise<Tokenizer> {
  const tokenizer = await import('gpt-tokenizer/model/gpt-oss-120b');
  tokenizer.setMergeCacheSize(MERGE_CACHE_ENTRIES);
  return tokenizer;
}

type Job = { resolve(tokens: number): void; fallback: number; timer: NodeJS.Timeout };

export function createTokenCounter({
  workerUrl = defaultWorkerUrl(),
  timeoutMs = 5_000,
  maxQueuedBytes = 64 * 1024 * 1024,
  maxWorkerHeapMb = 256,
  inlineMaxBytes = INLINE_MAX_BYTES,
  loadTokenizer = importTokenizer,
}: TokenCounterOptions = {}): TokenCounter {
  /** this thread's tokenizer once loaded; null when it failed to load (every count goes to the worker) */
  let local: Tokenizer | null | undefined;
  let loading: Promise<void> | undefined;
  let worker: Worker | undefined;
  let nextId = 0;
  let queuedBytes = 0;
  let retryAfter = 0;
  const jobs = new Map<number, Job>();

  function settle(id: number, tokens?: number) {
    const job = jobs.get(id);
    if (!job) return;
    jobs.delete(id);
    clearTimeout(job.timer);
    queuedBytes -= job.fallback;
    job.resolve(tokens ?? job.fallback);
  }

  /** The worker is gone or stuck: every waiting count takes its fallback, and the thread is stopped. */
  function fail(failed: Worker) {
    if (worker !== failed) return;
    worker = undefined;
    retryAfter = Date.now() + RESTART_BACKOFF_MS;
    for (const id of [...jobs.keys()]) settle(id);
    void failed.terminate();
  }

  function running(): Worker | undefined {
    if (worker || Date.now() < retryAfter) return worker;
    let started: Worker;
    try {
      started = new Worker(workerUrl, { resourceLimits: { maxOldGenerationSizeMb: maxWorkerHeapMb } });
    } catch {
      retryAfter = Date.now() + RESTART_BACKOFF_MS;
      return undefined;
    }
    // an idle worker never keeps the process alive; a pending count's timer does
    started.unref();
    started.on('message', (reply: CountReply) =>
      settle(reply.id, 'tokens' in reply ? reply.tokens : undefined),
    );
    started.on('error', () => fail(started));
    started.on('exit', () => fail(started));
    worker = started;
    return started;
  }

  function countHere(tokenizer: Tokenizer, texts: readonly string[], fallback: number): number {
    try {
      return countTexts(tokenizer, texts);
    } catch {
      return fallback;
    }
  }

  function loadLocal(): Promise<void> {
    loading ??= loadTokenizer().then(
      (tokenizer) => {
        local = tokenizer;
      },
      () => {
        local = null;
      },
    );
    return loading;
  }

  function countInWorker(texts: readonly string[], fallback: number): Promise<number> {
    const target = queuedBytes + fallback > maxQueuedBytes ? undefined : running();
    if (!target) return Promise.resolve(fallback);
    const id = nextId++;
    return new Promise<number>((resolve) => {
      const timer = setTimeout(() => fail(target), timeoutMs);
      jobs.set(id, { resolve, fallback, timer });
      queuedBytes += fallback;
      target.postMessage({ id, texts } satisfies CountRequest);
    });
  }

  return {
    count(texts) {
      const fallback = textBytes(texts);
      if (fallback === 0) return Promise.resolve(0);
      if (fallback > inlineMaxBytes || local === null) return countInWorker(texts, fallback);
      if (local) return Promise.resolve(countHere(local, texts, fallback));
      return loadLocal().then(() =>
        local ? countHere(local, texts, fallback) : countInWorker(texts, fallback),
      );
    },
    async close() {
      const current = worker;
      if (current) fail(current);
      retryAfter = 0;
    },
  };
}
