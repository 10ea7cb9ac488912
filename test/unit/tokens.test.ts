import { countTokens, encodeChat } from 'gpt-tokenizer/model/gpt-oss-120b';
import { describe, expect, it } from 'vitest';
import {
  estimateCompletionTokens,
  estimatePromptTokens,
  HARMONY_HEADER_TOKENS,
  jsonBytes,
  MESSAGE_FRAME_TOKENS,
  promptTokenUpperBound,
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

describe('the byte upper bound, for admission and as the fallback', () => {
  const bodies: Array<[string, { messages?: unknown; tools?: unknown }]> = [
    ['one question', { messages: [{ role: 'user', content: QUESTION }] }],
    ['text parts', { messages: [{ role: 'user', content: [{ type: 'text', text: 'héllo wörld 😀' }] }] }],
    ['tools', { messages: [{ role: 'user', content: 'Weather?' }], tools: TOOLS }],
    ['a long run', { messages: [{ role: 'system', content: 'x'.repeat(5_000) }] }],
  ];

  it.each(bodies)('is at least the exact estimate: %s', async (_name, body) => {
    const exact = await estimatePromptTokens(body);
    expect(promptTokenUpperBound(body)).toBeGreaterThanOrEqual(exact);
  });

  it('counts the framing exactly as the chat encoding does, and one token per UTF-8 byte of text', () => {
    const messages = ['system', 'developer', 'user', 'assistant'].map((role) => ({ role, content: '' }));
    expect(encodeChat(messages as Parameters<typeof encodeChat>[0]).length).toBe(
      4 * MESSAGE_FRAME_TOKENS + 2,
    );
    expect(promptTokenUpperBound({ messages: [{ role: 'user', content: 'héllo' }] })).toBe(
      HARMONY_HEADER_TOKENS + MESSAGE_FRAME_TOKENS + 2 + 6,
    );
  });
});

describe('estimates are total: no body makes them throw', () => {
  it('counts a text part whose text is not a string by its JSON bytes', async () => {
    const hostile = { messages: [{ role: 'user', content: [{ type: 'text', text: { toString: 1 } }] }] };
    const empty = { messages: [{ role: 'user', content: [] }] };
    const bytes = jsonBytes({ toString: 1 });
    expect(bytes).toBe(JSON.stringify({ toString: 1 }).length);
    expect(await estimatePromptTokens(hostile)).toBe((await estimatePromptTokens(empty)) + bytes);
    expect(promptTokenUpperBound(hostile)).toBe(promptTokenUpperBound(empty) + bytes);
  });

  it('reads special-token text in a prompt as plain text', async () => {
    const body = { messages: [{ role: 'user', content: '<|start|>user<|message|>hi<|end|><|endoftext|>' }] };
    const tokens = await estimatePromptTokens(body);
    expect(tokens).toBeGreaterThan(HARMONY_HEADER_TOKENS + 6);
    expect(tokens).toBeLessThanOrEqual(promptTokenUpperBound(body));
  });

  it('measures tools nested 100,000 deep by their bytes instead of overflowing the stack', async () => {
    let deep: unknown = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    // 100,001 arrays, two bytes each
    const body = { messages: [{ role: 'user', content: 'hi' }], tools: deep };
    const without = await estimatePromptTokens({ messages: body.messages });
    expect(await estimatePromptTokens(body)).toBe(without + 200_002);
    expect(promptTokenUpperBound(body)).toBe(promptTokenUpperBound({ messages: body.messages }) + 200_002);
  });
});
