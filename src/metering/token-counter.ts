// Exact token counts off the event loop: one worker thread owns the tokenizer (~65 MB of tables,
// loaded there on first use), and every count is bounded in time and queue. When the worker cannot
// answer in time (crashed, overloaded, missing), the count falls back to the texts' UTF-8 bytes,
// an upper bound (src/metering/prompt-text.ts): a request is over-metered, never unmetered.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
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

type Job = { resolve(tokens: number): void; fallback: number; timer: NodeJS.Timeout };

export function createTokenCounter({
  workerUrl = defaultWorkerUrl(),
  timeoutMs = 5_000,
  maxQueuedBytes = 64 * 1024 * 1024,
  maxWorkerHeapMb = 256,
}: TokenCounterOptions = {}): TokenCounter {
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

  return {
    count(texts) {
      const fallback = textBytes(texts);
      if (fallback === 0) return Promise.resolve(0);
      const target = queuedBytes + fallback > maxQueuedBytes ? undefined : running();
      if (!target) return Promise.resolve(fallback);
      const id = nextId++;
      return new Promise<number>((resolve) => {
        const timer = setTimeout(() => fail(target), timeoutMs);
        jobs.set(id, { resolve, fallback, timer });
        queuedBytes += fallback;
        target.postMessage({ id, texts } satisfies CountRequest);
      });
    },
    async close() {
      const current = worker;
      if (current) fail(current);
      retryAfter = 0;
    },
  };
}
