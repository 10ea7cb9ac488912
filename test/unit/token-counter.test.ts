// Token counting never blocks the event loop: hostile runs of text are counted in the worker thread,
// in linear time (bpeSegments), and a worker that cannot answer gives the byte upper bound instead.
import { countTokens } from 'gpt-tokenizer/model/gpt-oss-120b';
import { describe, expect, it } from 'vitest';
import { bpeSegments } from '../../src/metering/bpe-segments.ts';
import { createTokenCounter } from '../../src/metering/token-counter.ts';
import {
  estimateCompletionTokens,
  estimatePromptTokens,
  promptTokenUpperBound,
} from '../../src/metering/tokens.ts';

const PROSE =
  "It's 9:30 a.m.  The café's API returned 1,234 rows (see https://example.com/a/b?c=d).\n\n" +
  'Reply\twith "JSON" only — no prose; 😀 emoji,   spaces   and\r\nnew lines.  ';

/** Longest stall of the event loop while `work` runs, in ms, sampled every 10 ms. */
async function longestStallMs(work: Promise<unknown>): Promise<number> {
  let longest = 0;
  let last = performance.now();
  const probe = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 10);
  await work;
  clearInterval(probe);
  return Math.max(longest, performance.now() - last);
}

describe('bpeSegments', () => {
  it('cuts prose only where the count is unchanged', () => {
    const text = PROSE.repeat(40);
    const segments = [...bpeSegments(text, 32)];
    expect(segments.join('')).toBe(text);
    expect(Math.max(...segments.map((s) => s.length))).toBeLessThanOrEqual(32);
    const plain = { disallowedSpecial: new Set<string>() };
    expect(segments.reduce((n, s) => n + countTokens(s, plain), 0)).toBe(countTokens(text, plain));
  });

  it('cuts a run without spaces at its length, never inside a surrogate pair', () => {
    const text = `a${'😀'.repeat(100)}`;
    const segments = [...bpeSegments(text, 16)];
    expect(segments.join('')).toBe(text);
    for (const segment of segments) expect(segment.isWellFormed()).toBe(true);
  });
});

describe('token counts off the event loop', () => {
  it('estimates hostile runs of text without stalling the event loop, and sanely', async () => {
    // with the tokenizer on the event loop, 'x' × 100,000 took 7.5 s and 'q' × 200,000 took 20 s
    let letters = '';
    for (let i = 0; i < 100_000; i++) letters += String.fromCharCode(97 + ((i * 7919) % 26));
    const prompts = ['x'.repeat(100_000), 'q'.repeat(200_000), letters].map((content) => ({
      messages: [{ role: 'user', content }],
    }));
    const estimates = Promise.all([
      ...prompts.map((body) => estimatePromptTokens(body)),
      estimateCompletionTokens('z'.repeat(150_000)),
    ]);
    expect(await longestStallMs(estimates)).toBeLessThan(500);
    const [x, q, mixed, completion] = await estimates;
    const framing = promptTokenUpperBound({ messages: [{ role: 'user', content: '' }] });
    // o200k has 'qq' but no longer q-run: exactly one token per two
    expect(q).toBe(framing + 100_000);
    for (const [tokens, body] of [
      [x, prompts[0]],
      [mixed, prompts[2]],
    ] as const) {
      expect(tokens).toBeGreaterThan(framing + 10_000);
      expect(tokens).toBeLessThan(promptTokenUpperBound(body ?? {}));
    }
    expect(completion).toBeGreaterThan(10_000);
    expect(completion).toBeLessThan(150_000);
  }, 60_000);

  it('falls back to UTF-8 bytes when the worker cannot start', async () => {
    const counter = createTokenCounter({
      workerUrl: new URL('./no-such-worker.mjs', import.meta.url),
      inlineMaxBytes: 0,
    });
    expect(await counter.count(['héllo', 'world'])).toBe(11);
    await counter.close();
  });

  it('falls back to UTF-8 bytes when the worker takes too long, and answers again later', async () => {
    const counter = createTokenCounter({ timeoutMs: 1, inlineMaxBytes: 0 });
    // the first count waits for the tokenizer to load (~0.4 s): far beyond 1 ms
    expect(await counter.count(['hello world'])).toBe(11);
    await counter.close();
    const patient = createTokenCounter({ timeoutMs: 30_000, inlineMaxBytes: 0 });
    expect(await patient.count(['hello world'])).toBe(2);
    await patient.close();
  });

  it('falls back at once when the queue holds too many bytes', async () => {
    const counter = createTokenCounter({ maxQueuedBytes: 10, inlineMaxBytes: 0 });
    expect(await counter.count(['x'.repeat(11)])).toBe(11);
    await counter.close();
  });
});

describe('small counts on the event loop', () => {
  const nowhere = new URL('./no-such-worker.mjs', import.meta.url);

  it('counts small texts here exactly as the worker does, and large ones in the worker', async () => {
    const texts = [PROSE, 'hello world', '<|start|>user<|message|>hi', '😀'.repeat(20)];
    const here = createTokenCounter({ workerUrl: nowhere });
    const worker = createTokenCounter({ inlineMaxBytes: 0, timeoutMs: 30_000 });
    expect(await here.count(texts)).toBe(await worker.count(texts));
    // beyond the inline limit the count goes to the (missing) worker: the byte fallback
    const large = 'word '.repeat(1_000);
    const limited = createTokenCounter({ workerUrl: nowhere, inlineMaxBytes: 4_000 });
    expect(await limited.count([large])).toBe(5_000);
    expect(await here.count([large.slice(0, 1_000)])).toBe(await worker.count([large.slice(0, 1_000)]));
    await Promise.all([here.close(), worker.close(), limited.close()]);
  });

  it('sends small texts to the worker when the tokenizer cannot load here', async () => {
    const counter = createTokenCounter({
      loadTokenizer: () => Promise.reject(new Error('no tokenizer')),
      timeoutMs: 30_000,
    });
    expect(await counter.count(['hello world'])).toBe(2);
    expect(await counter.count(['hello world'])).toBe(2);
    await counter.close();
  });
});
