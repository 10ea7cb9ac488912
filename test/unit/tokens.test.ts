import { countTokens } from 'gpt-tokenizer/model/gpt-oss-120b';
import { describe, expect, it } from 'vitest';
import {
  estimateCompletionTokens,
  estimatePromptTokens,
  HARMONY_HEADER_TOKENS,
} from '../../src/metering/tokens.ts';

const QUESTION = 'What is 2+2? Reply with just the number.';
const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
];

describe('prompt token estimates', () => {
  it('estimates the one-message prompt at 84 tokens, as Groq reports it (19 encoded + 65 harmony header)', () => {
    expect(HARMONY_HEADER_TOKENS).toBe(65);
    expect(estimatePromptTokens({ messages: [{ role: 'user', content: QUESTION }] })).toBe(84);
  });

  it('reads the text parts of a content array and skips the others', () => {
    const parts = [
      { type: 'text', text: 'What is 2+2?' },
      { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
      { type: 'text', text: ' Reply with just the number.' },
    ];
    expect(estimatePromptTokens({ messages: [{ role: 'user', content: parts }] })).toBe(84);
  });

  it('counts every message', () => {
    const one = estimatePromptTokens({ messages: [{ role: 'user', content: QUESTION }] });
    const two = estimatePromptTokens({
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: QUESTION },
      ],
    });
    expect(two).toBeGreaterThan(one);
  });

  it('counts tool definitions', () => {
    const messages = [{ role: 'user', content: 'Weather in Paris?' }];
    const without = estimatePromptTokens({ messages });
    expect(estimatePromptTokens({ messages, tools: TOOLS })).toBe(
      without + countTokens(JSON.stringify(TOOLS)),
    );
  });

  it('counts the tool calls of earlier assistant turns', () => {
    const toolCalls = [
      { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
    ];
    const base = [{ role: 'user', content: 'Weather in Paris?' }];
    const without = estimatePromptTokens({ messages: [...base, { role: 'assistant', content: null }] });
    const withCalls = estimatePromptTokens({
      messages: [...base, { role: 'assistant', content: null, tool_calls: toolCalls }],
    });
    expect(withCalls).toBe(without + countTokens(JSON.stringify(toolCalls)));
  });

  it('still estimates messages with an unknown role or no content, and skips non-objects', () => {
    const asUser = estimatePromptTokens({ messages: [{ role: 'user', content: QUESTION }] });
    expect(estimatePromptTokens({ messages: [{ role: 'tool', content: QUESTION }] })).toBe(asUser);
    expect(estimatePromptTokens({ messages: [null, 'hello', { role: 'user', content: QUESTION }] })).toBe(
      asUser,
    );
    expect(estimatePromptTokens({ messages: [{ role: 'user' }] })).toBeGreaterThan(HARMONY_HEADER_TOKENS);
  });

  it('estimates the header alone when there are no messages', () => {
    expect(estimatePromptTokens({})).toBeGreaterThanOrEqual(HARMONY_HEADER_TOKENS);
    expect(estimatePromptTokens({ messages: 'not an array' })).toBe(estimatePromptTokens({}));
  });
});

describe('completion token estimates', () => {
  it('counts nothing for no text', () => {
    expect(estimateCompletionTokens('')).toBe(0);
  });

  it('counts generated text with the gpt-oss tokenizer', () => {
    const text = 'The capital of France is Paris.';
    expect(estimateCompletionTokens(text)).toBe(countTokens(text));
    expect(estimateCompletionTokens(text)).toBeGreaterThan(5);
  });
});
