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
  it('estimates the one-message prompt at 84 tokens, as Groq reports it (19 encoded + 65 harmony header)', async () => {
    expect(HARMONY_HEADER_TOKENS).toBe(65);
    expect(await estimatePromptTokens({ messages: [{ role: 'user', content: QUESTION }] })).toBe(84);
  });

  it('reads the text parts of a content array and skips the others', async () => {
    const parts = [
      { type: 'text', text: 'What is 2+2?' },
      { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
      { type: 'text', text: ' Reply with just the number.' },
    ];
    expect(await estimatePromptTokens({ messages: [{ role: 'user', content: parts }] })).toBe(84);
  });

  it('counts every message', async () => {
    const one = await estimatePromptTokens({ messages: [{ role: 'user', content: QUESTION }] });
    const two = await estimatePromptTokens({
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: QUESTION },
      ],
    });
    expect(two).toBeGreaterThan(one);
  });

  it('counts tool definitions', async () => {
    const messages = [{ role: 'user', content: 'Weather in Paris?' }];
    const without = await estimatePromptTokens({ messages });
    expect(await estimatePromptTokens({ messages, tools: TOOLS })).toBe(
      without + countTokens(JSON.stringify(TOOLS)),
    );
  });

  it('counts the tool calls of earlier assistant turns', async () => {
    const toolCalls = [
      { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
    ];
    const base = [{ role: 'user', content: 'Weather in Paris?' }];
    const without = await estimatePromptTokens({ messages: [...base, { role: 'assistant', content: null }] });
    const withCalls = await estimatePromptTokens({
      messages: [...base, { role: 'assistant', content: null, tool_calls: toolCalls }],
    });
    expect(withCalls).toBe(without + countTokens(JSON.stringify(toolCalls)));
  });

  it('still estimates messages with an unknown role or no content, and skips non-objects', async () => {
    const asUser = await estimatePromptTokens({ messages: [{ role: 'user', content: QUESTION }] });
    expect(await estimatePromptTokens({ messages: [{ role: 'tool', content: QUESTION }] })).toBe(asUser);
    expect(
      await estimatePromptTokens({ messages: [null, 'hello', { role: 'user', content: QUESTION }] }),
    ).toBe(asUser);
    expect(await estimatePromptTokens({ messages: [{ role: 'user' }] })).toBeGreaterThan(
      HARMONY_HEADER_TOKENS,
    );
  });

  it('estimates the header alone when there are no messages', async () => {
    expect(await estimatePromptTokens({})).toBeGreaterThanOrEqual(HARMONY_HEADER_TOKENS);
    expect(await estimatePromptTokens({ messages: 'not an array' })).toBe(await estimatePromptTokens({}));
  });
});

describe('completion token estimates', () => {
  it('counts nothing for no text', async () => {
    expect(await estimateCompletionTokens('')).toBe(0);
  });

  it('counts generated text with the gpt-oss tokenizer', async () => {
    const text = 'The capital of France is Paris.';
    expect(await estimateCompletionTokens(text)).toBe(countTokens(text));
    expect(await estimateCompletionTokens(text)).toBeGreaterThan(5);
  });
});
