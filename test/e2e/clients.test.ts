// The clients apps really use, pointed at the gateway on a real port: openai's `client.responses`, the
// Vercel AI SDK's default OpenAI provider (which calls /v1/responses) and Hugging Face's InferenceClient
// (which calls /v1/chat/completions). Each call is found in the ledger under the request id the client
// got, with its endpoint, tokens and cost; and the body each client sent reaches the upstream unchanged.
import { createOpenAI } from '@ai-sdk/openai';
import { InferenceClient } from '@huggingface/inference';
import { generateText, streamText } from 'ai';
import { HttpResponse, http } from 'msw';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixtureJson, fixtureText } from '../helpers/fixtures.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';

const MODEL = 'openai/gpt-oss-120b:groq';
const json = { 'content-type': 'application/json' };
const responsesSse = fixtureJson<Record<string, string>>(
  'responses/hf-groq-gpt-oss-120b.stream.headers.json',
);
const chatSse = fixtureJson<Record<string, string>>('stream/hf-groq-gpt-oss-120b.stream.headers.json');
const assembled = fixtureJson<{ assembled: { reasoning: string; text: string } }>(
  'responses/expected-usage.json',
).assembled;
const chatAssembled = fixtureJson<{ assembled: { content: string } }>('stream/expected-usage.json').assembled;

/** One call a client made through its fetch: the bytes it sent and the request id it got back. */
type Sent = { method: string; url: string; body: string; requestId: string | null };

describe('client libraries through the gateway', { timeout: 60_000 }, () => {
  let upstream: MockUpstream;
  let gw: TestGateway;
  let base: string;
  let key: string;
  let keyId: string;
  const sent: Sent[] = [];

  /** A fetch that records what the client sent (as bytes) and the x-request-id it got. */
  const recordingFetch: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const body = request.body ? await request.clone().text() : '';
    const res = await fetch(request);
    sent.push({ method: request.method, url: request.url, body, requestId: res.headers.get('x-request-id') });
    return res;
  };

  beforeAll(async () => {
    upstream = await startMockUpstream(
      http.post('*/responses', async ({ request }) => {
        const body = (await request.json()) as { stream?: boolean };
        return body.stream
          ? new HttpResponse(fixtureText('responses/hf-groq-gpt-oss-120b.stream.sse'), {
              headers: responsesSse,
            })
          : new HttpResponse(fixtureText('responses/hf-groq-gpt-oss-120b.response.json'), { headers: json });
      }),
      http.post('*/chat/completions', async ({ request }) => {
        const body = (await request.json()) as { stream?: boolean };
        return body.stream
          ? new HttpResponse(fixtureText('stream/hf-groq-gpt-oss-120b.include-usage.sse'), {
              headers: chatSse,
            })
          : new HttpResponse(fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json'), { headers: json });
      }),
    );
    gw = await startTestGateway({ backend: 'pglite', upstreamUrl: upstream.url });
    const created = (await (
      await gw.call('/admin/keys', { method: 'POST', json: { name: 'client libraries' } })
    ).json()) as { id: string; key: string };
    key = created.key;
    keyId = created.id;
    base = await gw.listen();
  }, 120_000);
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });
  afterEach(() => {
    expect(upstream.unhandled).toEqual([]);
    upstream.reset();
    sent.length = 0;
  });

  /** The one call the client made in this test: its row, and the upstream got its exact bytes. */
  async function onlyCall(path: string, { usageAsked = false } = {}) {
    expect(sent.map((s) => `${s.method} ${new URL(s.url).pathname}`)).toEqual([`POST ${path}`]);
    const [call] = sent as [Sent];
    expect(upstream.requests).toHaveLength(1);
    if (usageAsked) {
      // a streamed chat completion: the one change is stream_options.include_usage
      expect(JSON.parse(upstream.requests[0]?.body ?? '')).toEqual({
        ...JSON.parse(call.body),
        stream_options: { include_usage: true },
      });
    } else expect(upstream.requests[0]?.body).toBe(call.body);
    const row = await gw.usageRow(call.requestId);
    expect(row).toMatchObject({ api_key_id: keyId, status: 'ok', model: MODEL });
    return { row: row as Record<string, unknown>, body: JSON.parse(call.body) as Record<string, unknown> };
  }

  describe('openai: client.responses', () => {
    const client = () =>
      new OpenAI({ apiKey: key, baseURL: `${base}/v1`, maxRetries: 0, fetch: recordingFetch });

    it('creates a response, whose usage is the row’s', async () => {
      const { data: response, request_id } = await client()
        .responses.create({
          model: MODEL,
          instructions: 'You are a helpful assistant.',
          input: 'Say hello to the world.',
          reasoning: { effort: 'low' },
        })
        .withResponse();
      expect(response.output_text).toBe('Hello, world! 👋');
      const { row } = await onlyCall('/v1/responses');
      expect(row.request_id).toBe(request_id);
      expect(row).toMatchObject({
        endpoint: 'responses',
        stream: false,
        prompt_tokens: response.usage?.input_tokens,
        completion_tokens: response.usage?.output_tokens,
        total_tokens: response.usage?.total_tokens,
        cached_tokens: response.usage?.input_tokens_details.cached_tokens,
        reasoning_tokens: response.usage?.output_tokens_details.reasoning_tokens,
        cost_total: '0.000266',
      });
    });

    it('streams a response event by event; the final response’s usage is the row’s', async () => {
      const { data: stream, request_id } = await client()
        .responses.create({ model: MODEL, input: 'What is the capital of France?', stream: true })
        .withResponse();
      const types: string[] = [];
      let text = '';
      let final: OpenAI.Responses.Response | undefined;
      for await (const event of stream) {
        types.push(event.type);
        if (event.type === 'response.output_text.delta') text += event.delta;
        if (event.type === 'response.completed') final = event.response;
      }
      expect(types[0]).toBe('response.created');
      expect(types.at(-1)).toBe('response.completed');
      expect(text).toBe(assembled.text);
      const { row } = await onlyCall('/v1/responses');
      expect(row.request_id).toBe(request_id);
      expect(row).toMatchObject({
        endpoint: 'responses',
        stream: true,
        prompt_tokens: final?.usage?.input_tokens,
        completion_tokens: final?.usage?.output_tokens,
        reasoning_tokens: final?.usage?.output_tokens_details.reasoning_tokens,
        cost_total: '0.000186',
      });
    });

    it('retrieves the model by its id (its slash percent-encoded), and a 404 for an unknown one', async () => {
      const model = await client().models.retrieve(MODEL);
      expect(model).toMatchObject({ id: MODEL, object: 'model' });
      // the client sends the id as one path segment (its slash encoded; the colon may stay)
      expect(new URL(sent[0]?.url ?? base).pathname).toBe('/v1/models/openai%2Fgpt-oss-120b:groq');
      const missing = await client()
        .models.retrieve('openai/gpt-oss-999b:groq')
        .catch((err: unknown) => err);
      expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
      expect((missing as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    });
  });

  it('openai: a budget refusal is not retried (x-should-retry: false), and nothing goes upstream', async () => {
    const tiny = (await (
      await gw.call('/admin/keys', { method: 'POST', json: { name: 'tiny', monthly_budget_usd: '0.000001' } })
    ).json()) as { key: string };
    // the client's default: 2 retries of a 429
    const client = new OpenAI({ apiKey: tiny.key, baseURL: `${base}/v1`, fetch: recordingFetch });
    const error = await client.responses
      .create({ model: MODEL, input: 'Say hello to the world.' })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect((error as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('budget_exceeded');
    expect(sent).toHaveLength(1);
    expect(upstream.requests).toHaveLength(0);
  });

  describe('the Vercel AI SDK’s default OpenAI provider (the Responses API)', () => {
    const provider = () => createOpenAI({ baseURL: `${base}/v1`, apiKey: key, fetch: recordingFetch });

    it('generateText: calls /v1/responses, and its usage is the row’s', async () => {
      const result = await generateText({
        model: provider()(MODEL),
        system: 'You are a helpful assistant.',
        prompt: 'Say hello to the world.',
      });
      expect(result.text).toBe('Hello, world! 👋');
      const { row, body } = await onlyCall('/v1/responses');
      // what the SDK sends, and the gateway passed on byte for byte: the system prompt as a message,
      // the prompt as input_text, no `stream`
      expect(body).toEqual({
        model: MODEL,
        input: [
          { role: 'system', content: 'You are a helpful assistant.' },
          { role: 'user', content: [{ type: 'input_text', text: 'Say hello to the world.' }] },
        ],
      });
      expect(row).toMatchObject({
        endpoint: 'responses',
        stream: false,
        prompt_tokens: result.usage.inputTokens,
        completion_tokens: result.usage.outputTokens,
        total_tokens: result.usage.totalTokens,
        cached_tokens: result.usage.inputTokenDetails.cacheReadTokens,
        reasoning_tokens: result.usage.outputTokenDetails.reasoningTokens,
        cost_total: '0.000266',
      });
    });

    it('streamText: streams from /v1/responses, and its usage is the row’s', async () => {
      const result = streamText({ model: provider()(MODEL), prompt: 'What is the capital of France?' });
      let text = '';
      for await (const delta of result.textStream) text += delta;
      expect(text).toBe(assembled.text);
      const usage = await result.usage;
      const { row, body } = await onlyCall('/v1/responses');
      expect(body).toEqual({
        model: MODEL,
        input: [{ role: 'user', content: [{ type: 'input_text', text: 'What is the capital of France?' }] }],
        stream: true,
      });
      expect(row).toMatchObject({
        endpoint: 'responses',
        stream: true,
        prompt_tokens: usage.inputTokens,
        completion_tokens: usage.outputTokens,
        reasoning_tokens: usage.outputTokenDetails.reasoningTokens,
        cost_total: '0.000186',
      });
    });
  });

  describe('Hugging Face’s InferenceClient with endpointUrl at the gateway', () => {
    const client = () => new InferenceClient(key, { endpointUrl: `${base}/v1`, fetch: recordingFetch });

    it('chatCompletion: its usage is the row’s', async () => {
      const out = await client().chatCompletion({
        model: MODEL,
        messages: [{ role: 'user', content: 'Explain in one sentence why the sky is blue.' }],
      });
      expect(out.choices[0]?.message.content).toMatch(/sky/i);
      const { row, body } = await onlyCall('/v1/chat/completions');
      expect(body).toMatchObject({ model: MODEL });
      expect(row).toMatchObject({
        endpoint: 'chat.completions',
        stream: false,
        prompt_tokens: out.usage.prompt_tokens,
        completion_tokens: out.usage.completion_tokens,
        cost_total: '0.000309',
      });
    });

    it('chatCompletionStream: the text arrives whole, and the stream is metered', async () => {
      let content = '';
      let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
      for await (const chunk of client().chatCompletionStream({
        model: MODEL,
        messages: [{ role: 'user', content: 'What is the capital of France?' }],
      })) {
        content += chunk.choices[0]?.delta.content ?? '';
        if (chunk.usage) usage = chunk.usage;
      }
      expect(content).toBe(chatAssembled.content);
      const { row, body } = await onlyCall('/v1/chat/completions', { usageAsked: true });
      expect(body).toMatchObject({ model: MODEL, stream: true });
      // the client did not ask for usage: it sees none, and the gateway meters the upstream's
      expect(usage).toBeUndefined();
      expect(row).toMatchObject({
        endpoint: 'chat.completions',
        stream: true,
        usage_source: 'upstream',
        prompt_tokens: 84,
        completion_tokens: 34,
        cost_total: '0.000186',
      });
    });
  });
});
