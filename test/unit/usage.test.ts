import { describe, expect, it } from 'vitest';
import { createSseSplitter, parseEventJson } from '../../src/metering/sse.ts';
import { parseUsage, type TokenUsage, usageOf } from '../../src/metering/usage.ts';
import { fixtureJson, fixtureText } from '../helpers/fixtures.ts';

const GROQ_USAGE = {
  queue_time: 0.046193562,
  prompt_tokens: 84,
  prompt_time: 0.003571204,
  completion_tokens: 34,
  completion_time: 0.069105691,
  total_tokens: 118,
  total_time: 0.072676895,
  completion_tokens_details: { reasoning_tokens: 17 },
};

/** The counts of a TokenUsage, without the raw object. */
const counts = (usage: TokenUsage | undefined) => {
  if (!usage) return undefined;
  const { raw: _raw, ...rest } = usage;
  return rest;
};

describe('usage extraction', () => {
  it('reads the top-level usage of a completion, keeping the raw object', () => {
    const usage = usageOf({ id: 'chatcmpl-1', choices: [], usage: GROQ_USAGE });
    expect(counts(usage)).toEqual({
      promptTokens: 84,
      completionTokens: 34,
      totalTokens: 118,
      cachedTokens: 0,
      reasoningTokens: 17,
      contradictions: [],
    });
    expect(usage?.raw).toBe(GROQ_USAGE);
  });

  it('records reasoning and cached tokens as details, never adding them to the totals', () => {
    const usage = parseUsage({
      prompt_tokens: 300,
      completion_tokens: 40,
      total_tokens: 340,
      prompt_tokens_details: { cached_tokens: 256 },
      completion_tokens_details: { reasoning_tokens: 30 },
    });
    expect(counts(usage)).toEqual({
      promptTokens: 300,
      completionTokens: 40,
      totalTokens: 340,
      cachedTokens: 256,
      reasoningTokens: 30,
      contradictions: [],
    });
  });

  it('derives a missing total from prompt + completion only', () => {
    const usage = parseUsage({
      prompt_tokens: 10,
      completion_tokens: 5,
      completion_tokens_details: { reasoning_tokens: 3 },
    });
    expect(usage?.totalTokens).toBe(15);
  });

  it('falls back to Groq’s x_groq.usage when there is no top-level usage', () => {
    const usage = usageOf({
      choices: [],
      x_groq: { id: 'req_1', usage: { ...GROQ_USAGE, total_tokens: 118 } },
    });
    expect(usage?.promptTokens).toBe(84);
    expect(usage?.completionTokens).toBe(34);
    expect(usageOf({ usage: null, x_groq: { usage: GROQ_USAGE } })?.promptTokens).toBe(84);
  });

  it('prefers the top-level usage when both are present', () => {
    const usage = usageOf({
      usage: { prompt_tokens: 1, completion_tokens: 2 },
      x_groq: { usage: { prompt_tokens: 84, completion_tokens: 34 } },
    });
    expect(usage?.promptTokens).toBe(1);
  });

  it('ignores x_groq without a usage that has prompt_tokens', () => {
    expect(usageOf({ x_groq: { id: 'req_1', seed: 918273645 } })).toBeUndefined();
    expect(usageOf({ x_groq: { usage: { completion_tokens: 34, total_tokens: 34 } } })).toBeUndefined();
    expect(usageOf({ x_groq: { usage: null } })).toBeUndefined();
    expect(usageOf({ x_groq: 'usage' })).toBeUndefined();
  });

  it('finds nothing in a chunk without usage, or in something that is not an object', () => {
    expect(usageOf({ choices: [{ delta: { content: 'Paris' } }] })).toBeUndefined();
    for (const value of [undefined, null, 42, 'usage', [GROQ_USAGE]]) expect(usageOf(value)).toBeUndefined();
  });

  it.each([
    ['a negative prompt count', { prompt_tokens: -1, completion_tokens: 5 }],
    ['a negative completion count', { prompt_tokens: 1, completion_tokens: -5 }],
    ['a fractional count', { prompt_tokens: 1.5, completion_tokens: 5 }],
    ['a count as a string', { prompt_tokens: '84', completion_tokens: 34 }],
    ['NaN', { prompt_tokens: Number.NaN, completion_tokens: 34 }],
    ['Infinity', { prompt_tokens: 84, completion_tokens: Number.POSITIVE_INFINITY }],
    ['an unsafe integer', { prompt_tokens: 2 ** 53, completion_tokens: 34 }],
    ['no completion count', { prompt_tokens: 84 }],
    ['null counts', { prompt_tokens: null, completion_tokens: null }],
  ])('rejects usage with %s', (_what, usage) => {
    expect(parseUsage(usage)).toBeUndefined();
    expect(usageOf({ usage })).toBeUndefined();
  });

  it('treats garbage totals and details as absent instead of trusting them', () => {
    const usage = parseUsage({
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: '15',
      prompt_tokens_details: { cached_tokens: -3 },
      completion_tokens_details: { reasoning_tokens: 2.5 },
    });
    expect(counts(usage)).toEqual({
      promptTokens: 10,
      completionTokens: 5,
      totalTokens: 15,
      cachedTokens: 0,
      reasoningTokens: 0,
      contradictions: [],
    });
  });
});

describe('usage of the recorded streams', () => {
  const expected = fixtureJson<Record<string, Record<string, unknown> | null>>('stream/expected-usage.json');
  const streams = Object.keys(expected).filter((name) => name.endsWith('.sse'));

  /** The usage of the stream's last chunk that carries one (usage snapshots are never summed). */
  function lastUsage(name: string): TokenUsage | undefined {
    const splitter = createSseSplitter();
    let last: TokenUsage | undefined;
    for (const event of splitter.push(new TextEncoder().encode(fixtureText(`stream/${name}`)))) {
      last = usageOf(parseEventJson(event)) ?? last;
    }
    return last;
  }

  it('covers every recorded stream', () => {
    expect(streams).toHaveLength(5);
  });

  it.each(streams)('extracts the expected usage from %s', (name) => {
    const want = expected[name];
    const usage = lastUsage(name);
    if (want === null || want === undefined) {
      expect(usage).toBeUndefined();
      return;
    }
    expect(usage?.raw).toEqual(want);
    const details = want.completion_tokens_details as { reasoning_tokens?: number } | undefined;
    expect(counts(usage)).toEqual({
      promptTokens: want.prompt_tokens,
      completionTokens: want.completion_tokens,
      totalTokens: want.total_tokens,
      cachedTokens: 0,
      reasoningTokens: details?.reasoning_tokens ?? 0,
      contradictions: [],
    });
  });
});
