// A usage is checked before it is billed: all-zero is a placeholder, a later smaller snapshot never
// erases a real one, and a usage that contradicts itself is named, its total recomputed.
import { describe, expect, it } from 'vitest';
import {
  billedUsage,
  laterUsage,
  parseResponsesUsage,
  parseUsage,
  type TokenUsage,
  usageOf,
} from '../../src/metering/usage.ts';

const usage = (value: Record<string, unknown>) => parseUsage(value) as TokenUsage;

describe('a usage that contradicts itself', () => {
  it('is consistent when the counts agree', () => {
    expect(
      usage({
        prompt_tokens: 100,
        completion_tokens: 10,
        total_tokens: 110,
        prompt_tokens_details: { cached_tokens: 40 },
        completion_tokens_details: { reasoning_tokens: 4 },
      }),
    ).toMatchObject({ totalTokens: 110, cachedTokens: 40, reasoningTokens: 4, contradictions: [] });
  });

  it('takes prompt + completion as the total when the reported total disagrees, and says so', () => {
    const u = usage({ prompt_tokens: 100, completion_tokens: 10, total_tokens: 2_000_000_000 });
    expect(u.totalTokens).toBe(110);
    expect(u.contradictions).toEqual(['total_tokens 2000000000 ≠ prompt_tokens + completion_tokens 110']);
    // the object as received is kept for audit
    expect(u.raw.total_tokens).toBe(2_000_000_000);
  });

  it('names cached > prompt and caps the cached count at the prompt', () => {
    const u = usage({
      prompt_tokens: 100,
      completion_tokens: 10,
      prompt_tokens_details: { cached_tokens: 500 },
    });
    expect(u).toMatchObject({ cachedTokens: 100, contradictions: ['cached_tokens 500 > prompt_tokens 100'] });
  });

  it('names reasoning > completion and caps the reasoning count at the completion', () => {
    const u = usage({
      prompt_tokens: 100,
      completion_tokens: 10,
      completion_tokens_details: { reasoning_tokens: 11 },
    });
    expect(u).toMatchObject({
      reasoningTokens: 10,
      contradictions: ['reasoning_tokens 11 > completion_tokens 10'],
    });
  });

  it('names the Responses API’s fields in its own words', () => {
    const u = parseResponsesUsage({
      input_tokens: 5,
      output_tokens: 5,
      total_tokens: 11,
      input_tokens_details: { cached_tokens: 6 },
    });
    expect(u?.contradictions).toEqual([
      'cached_tokens 6 > input_tokens 5',
      'total_tokens 11 ≠ input_tokens + output_tokens 10',
    ]);
  });

  it('treats a missing total as missing, not as a contradiction', () => {
    expect(usage({ prompt_tokens: 1, completion_tokens: 2 })).toMatchObject({
      totalTokens: 3,
      contradictions: [],
    });
  });
});

describe('billedUsage', () => {
  it('drops an all-zero usage: a placeholder, never a $0 bill', () => {
    expect(billedUsage(usage({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }))).toBeUndefined();
    expect(billedUsage(undefined)).toBeUndefined();
  });

  it('keeps a usage that counts something', () => {
    const u = usage({ prompt_tokens: 12, completion_tokens: 0 });
    expect(billedUsage(u)).toBe(u);
  });
});

describe('laterUsage', () => {
  const real = usage({ prompt_tokens: 84, completion_tokens: 34 });
  const zero = usage({ prompt_tokens: 0, completion_tokens: 0 });

  it('takes the first snapshot as it is', () => {
    expect(laterUsage(undefined, zero)).toBe(zero);
  });

  it('never lets a later zero snapshot erase a real one', () => {
    expect(laterUsage(real, zero)).toBe(real);
  });

  it('never lets a later smaller snapshot erase a real one', () => {
    expect(laterUsage(real, usage({ prompt_tokens: 84, completion_tokens: 1 }))).toBe(real);
    expect(laterUsage(real, usage({ prompt_tokens: 10, completion_tokens: 90 }))).toBe(real);
  });

  it('moves to a later snapshot that counts at least as much (cumulative, never summed)', () => {
    const more = usage({ prompt_tokens: 84, completion_tokens: 40 });
    expect(laterUsage(real, more)).toBe(more);
    expect(laterUsage(zero, real)).toBe(real);
  });

  it('reads Groq’s x_groq.usage the same way', () => {
    expect(
      usageOf({ x_groq: { usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 9 } } }),
    ).toMatchObject({
      totalTokens: 7,
      contradictions: ['total_tokens 9 ≠ prompt_tokens + completion_tokens 7'],
    });
  });
});
