import { describe, expect, it } from 'vitest';
import { chatCompletions } from '../../src/endpoints/chat-completions.ts';
import { embeddings } from '../../src/endpoints/embeddings.ts';
import { responses } from '../../src/endpoints/responses.ts';
import { GatewayError } from '../../src/errors.ts';
import { messagesPrompt } from '../../src/metering/prompt-text.ts';
import { estimatePromptTokens, estimateTextTokens } from '../../src/metering/tokens.ts';
import {
  outputTokenBound,
  promptTokenBound,
  requestBounds,
} from '../../src/services/admission/request-bounds.ts';

/** the prompt bound of a chat or Responses body, as their adapters read it */
const bound = (body: Record<string, unknown>) => promptTokenBound(messagesPrompt(body));

const messages = [{ role: 'user', content: 'hi' }];

const refusal = (body: Record<string, unknown>) => {
  try {
    outputTokenBound(body, 4096);
  } catch (err) {
    return err;
  }
  return undefined;
};

describe('the output a request may generate', () => {
  it('is n times the bound: n=5 reserves five completions', () => {
    expect(outputTokenBound({ messages, max_tokens: 100 }, 4096)).toBe(100);
    expect(outputTokenBound({ messages, max_tokens: 100, n: 5 }, 4096)).toBe(500);
    expect(outputTokenBound({ messages, n: 3 }, 4096)).toBe(3 * 4096);
  });

  it('takes the largest of max_tokens, max_completion_tokens and max_output_tokens', () => {
    expect(outputTokenBound({ max_completion_tokens: 1, max_tokens: 900 }, 4096)).toBe(900);
    expect(outputTokenBound({ max_completion_tokens: 700, max_tokens: 10 }, 4096)).toBe(700);
    expect(outputTokenBound({ input: 'hi', max_output_tokens: 300 }, 4096)).toBe(300);
  });

  it('reads null as absent, as OpenAI does', () => {
    expect(outputTokenBound({ max_tokens: null, max_completion_tokens: 20 }, 4096)).toBe(20);
    expect(outputTokenBound({ max_tokens: null, n: null }, 4096)).toBe(4096);
  });

  it.each([
    ['max_tokens', '100'],
    ['max_tokens', -1],
    ['max_completion_tokens', 1.5],
    ['max_output_tokens', 2 ** 40],
    ['n', 0],
    ['n', '2'],
  ])('refuses %s = %j with a 400 naming the field', (field, value) => {
    const err = refusal({ messages, [field]: value });
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ status: 400, param: field, type: 'invalid_request_error' });
  });
});

describe('the prompt a request sends', () => {
  it('counts an image part by its bytes, not as nothing', async () => {
    const image = { type: 'image_url', image_url: { url: `data:image/png;base64,${'A'.repeat(4000)}` } };
    const withImage = await bound({
      messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, image] }],
    });
    const textOnly = await bound({
      messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }] }],
    });
    expect(withImage - textOnly).toBe(Buffer.byteLength(JSON.stringify(image)));
  });

  it('counts a chat body as the estimator does when it is all text', async () => {
    const body = { messages: [{ role: 'system', content: 'be brief' }, ...messages] };
    expect(await bound(body)).toBe(await estimatePromptTokens(body));
  });

  it('reads a Responses body: instructions, input as a string or as items', async () => {
    const asString = await bound({ instructions: 'be brief', input: 'hi' });
    const asMessages = await bound({
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hi' },
      ],
    });
    expect(asString).toBe(asMessages);
    const call = { type: 'function_call_output', call_id: 'c1', output: 'x'.repeat(500) };
    const withItems = await bound({
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'hi' }] }, call],
    });
    expect(withItems - (await bound({ input: 'hi' }))).toBe(Buffer.byteLength(JSON.stringify(call)));
  });
});

describe('the bounds an endpoint’s adapter reads', () => {
  it('reserves no output for embeddings, and the default for a chat body without a bound', () => {
    const embeddingsBody = { model: 'e', input: ['a', 'b'] };
    expect(requestBounds(embeddings, embeddingsBody, 4096)).toMatchObject({
      outputTokens: 0,
      floorTokens: 0,
    });
    const chatBody = { model: 'm', messages, n: 2 };
    expect(requestBounds(chatCompletions, chatBody, 4096)).toMatchObject({
      outputTokens: 8192,
      floorTokens: 8192,
    });
  });

  it('reads only its own bound fields: max_output_tokens bounds Responses, not chat', () => {
    const body = { model: 'm', input: 'hi', messages, max_output_tokens: 10 };
    expect(requestBounds(responses, body, 4096).outputTokens).toBe(10);
    expect(requestBounds(chatCompletions, body, 4096).outputTokens).toBe(4096);
  });

  it('counts an embeddings input of token ids as its ids, and its texts with no chat frame', async () => {
    expect(
      await requestBounds(embeddings, { model: 'e', input: [[1, 2, 3], [4]] }, 4096).promptTokens(),
    ).toBe(4);
    expect(await requestBounds(embeddings, { model: 'e', input: 'hi' }, 4096).promptTokens()).toBe(
      await estimateTextTokens(['hi']),
    );
  });
});
