// The official openai client against the gateway on a real port: what an app pointing its base URL here sees.
import { HttpResponse, http } from 'msw';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureJson, fixtureText } from '../helpers/fixtures.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';

const SSE_HEADERS = fixtureJson<Record<string, string>>('stream/hf-groq-gpt-oss-120b.stream.headers.json');
const nonstream = fixtureJson<{ choices: Array<{ message: { content: string } }> }>(
  'nonstream/hf-groq-gpt-oss-120b.response.json',
);
const assembled = fixtureJson<{ assembled: { content: string } }>('stream/expected-usage.json').assembled;

type UsageList = { data: Array<Record<string, unknown>>; totals: Record<string, unknown> };

describe('the openai npm client through the gateway', () => {
  let upstream: MockUpstream;
  let gw: TestGateway;
  let client: OpenAI;
  let keyId: string;

  beforeAll(async () => {
    upstream = await startMockUpstream(
      http.post('*/chat/completions', async ({ request }) => {
        const body = (await request.json()) as { stream?: boolean; messages: Array<{ content: string }> };
        if (body.messages[0]?.content === 'fail') {
          return HttpResponse.json(
            JSON.parse(fixtureText('errors/400.hf-router.model-not-supported.json')) as Record<
              string,
              unknown
            >,
            { status: 400 },
          );
        }
        return body.stream
          ? new HttpResponse(fixtureText('stream/hf-groq-gpt-oss-120b.include-usage.sse'), {
              headers: SSE_HEADERS,
            })
          : new HttpResponse(fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json'), {
              headers: { 'content-type': 'application/json' },
            });
      }),
    );
    gw = await startTestGateway({ backend: 'pglite', upstreamUrl: upstream.url });
    const created = (await (
      await gw.call('/admin/keys', { method: 'POST', json: { name: 'e2e app' } })
    ).json()) as {
      id: string;
      key: string;
    };
    keyId = created.id;
    client = new OpenAI({ apiKey: created.key, baseURL: `${await gw.listen()}/v1`, maxRetries: 0 });
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
  });

  async function usageRow(requestId: string | null | undefined) {
    const list = (await (await gw.call('/usage?limit=1000')).json()) as UsageList;
    return list.data.find((row) => row.request_id === requestId);
  }

  it('gets a completion, and finds it priced in /usage under its request id', async () => {
    const completion = await client.chat.completions.create({
      model: 'openai/gpt-oss-120b:groq',
      messages: [{ role: 'user', content: 'Why is the sky blue? One sentence.' }],
    });
    expect(completion.choices[0]?.message.content).toBe(nonstream.choices[0]?.message.content);
    expect(completion.usage).toMatchObject({ prompt_tokens: 81, completion_tokens: 76 });
    const row = await usageRow(completion._request_id);
    expect(row).toMatchObject({ api_key_id: keyId, status: 'ok', cost_total: '0.000309', stream: false });
  });

  it('streams with include_usage: the last chunk carries usage, and the row matches it', async () => {
    const { data: stream, request_id } = await client.chat.completions
      .create({
        model: 'openai/gpt-oss-120b:groq',
        messages: [{ role: 'user', content: 'What is the capital of France?' }],
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse();
    let content = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(content).toBe(assembled.content);
    expect(usage).toMatchObject({ prompt_tokens: 84, completion_tokens: 34, total_tokens: 118 });
    expect(await usageRow(request_id)).toMatchObject({
      stream: true,
      prompt_tokens: 84,
      cost_total: '0.000186',
    });
  });

  it('streams without include_usage: no chunk carries usage, and the gateway still meters it', async () => {
    const { data: stream, request_id } = await client.chat.completions
      .create({
        model: 'openai/gpt-oss-120b:groq',
        messages: [{ role: 'user', content: 'What is the capital of France?' }],
        stream: true,
      })
      .withResponse();
    let content = '';
    let chunksWithUsage = 0;
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) chunksWithUsage += 1;
    }
    expect(content).toBe(assembled.content);
    expect(chunksWithUsage).toBe(0);
    expect(await usageRow(request_id)).toMatchObject({ usage_source: 'upstream', completion_tokens: 34 });
  });

  it('lists the default model', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toContain('openai/gpt-oss-120b:groq');
  });

  it('surfaces an upstream 400 as the client’s BadRequestError with the upstream message', async () => {
    const error = await client.chat.completions
      .create({
        model: 'openai/gpt-oss-120b:nonexistent-provider',
        messages: [{ role: 'user', content: 'fail' }],
      })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(
      /not supported by any provider/,
    );
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('model_not_supported');
  });

  it('refuses a wrong key with the client’s AuthenticationError', async () => {
    const stranger = new OpenAI({ apiKey: 'tg-not-a-real-key', baseURL: client.baseURL, maxRetries: 0 });
    const error = await stranger.models.list().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
  });
});
