// A second upstream (issue 24): `local/` routes to another local mock with its own token, the prefix
// stripped from the body's `model` only; everything else still goes to the router. Each row has its
// upstream's provider and that provider's price, budgets reserve at that price, /v1/models lists both,
// and neither token reaches a client when either upstream echoes it. Also issue 23.5: a JSON request
// has a whole deadline (a dripping upstream gets a 504 and a row), while a stream is bounded only by
// its silences.
import { HttpResponse, http } from 'msw';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/databases.ts';
import { fixtureJson, fixtureText } from '../helpers/fixtures.ts';
import { gatewaySuite, HF_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';
import { chatRequest, json } from '../helpers/requests.ts';

const reply = fixtureJson<Record<string, unknown>>('nonstream/hf-groq-gpt-oss-120b.response.json');
const streamText = fixtureText('stream/hf-groq-gpt-oss-120b.include-usage.sse');
const LOCAL_TOKEN = 'local_SECRET_token_4242';
const encoder = new TextEncoder();

/** The upstream's local descriptor, pointing at `url`. */
const localUpstreams = (url: string) =>
  JSON.stringify([
    {
      name: 'local',
      base_url: url,
      token_env: 'LOCAL_TOKEN',
      provider: 'local',
      prefix: 'local/',
      endpoints: ['/chat/completions'],
    },
  ]);

describe.each(BACKENDS)('a second upstream routed by model prefix, on %s', (backend) => {
  let gw: TestGateway;
  let router: MockUpstream;
  let local: MockUpstream;
  const env: Record<string, string> = { LOCAL_TOKEN };

  beforeAll(async () => {
    local = await startMockUpstream();
    env.UPSTREAMS = localUpstreams(local.url);
  });
  afterAll(async () => {
    await local.close();
  });
  afterEach(() => {
    expect(local.unhandled).toEqual([]);
    local.reset();
  });
  gatewaySuite({ backend, env }, (suite) => {
    gw = suite.gw;
    router = suite.upstream;
  });

  const answerJson = (on: MockUpstream, extra: (auth: string) => Record<string, unknown> = () => ({})) => {
    on.use(
      http.post(`${on.url}/chat/completions`, ({ request }) =>
        HttpResponse.json({ ...reply, ...extra(request.headers.get('authorization') ?? '') }),
      ),
    );
  };
  const chat = (body: string, key?: string) =>
    gw.call('/v1/chat/completions', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
      ...(key ? { key } : {}),
    });
  const setPrice = (provider: string, model: string, input: string, output: string) =>
    gw.call('/admin/pricing', {
      method: 'PUT',
      json: { provider, model_name: model, input_token_cost: input, output_token_cost: output },
    });

  it('sends local/qwen to its upstream with the prefix stripped and its own token, priced by its provider', async () => {
    expect((await setPrice('local', 'qwen', '0.00001', '0.00002')).status).toBeLessThan(300);
    answerJson(local);
    // every byte but the model's value as sent: spacing, order, an integer beyond 2^53
    const raw = `{ "seed": 12345678901234567890,\n  "model" : "local/qwen", "messages":[{"role":"user","content":"hi"}] }`;
    const res = await chat(raw);
    expect(res.status).toBe(200);
    expect(router.requests).toHaveLength(0);
    expect(local.requests).toHaveLength(1);
    const seen = local.requests[0];
    expect(seen?.path).toBe('/v1/chat/completions');
    expect(seen?.body).toBe(raw.replace('"local/qwen"', '"qwen"'));
    expect(seen?.headers.authorization).toBe(`Bearer ${LOCAL_TOKEN}`);
    const row = await gw.usageRow(res.headers.get('x-request-id'));
    // 81 prompt and 76 completion tokens at the local price: 81 × 0.00001 + 76 × 0.00002
    expect(row).toMatchObject({
      model: 'local/qwen',
      provider: 'local',
      status: 'ok',
      pricing_source: 'db:exact',
      cost_total: '0.00233',
    });
    expect(res.headers.get('x-usage-cost-usd')).toBe('0.00233');
  });

  it('still sends the router’s models to the router, with the HF token and the env price', async () => {
    answerJson(router);
    const raw = JSON.stringify({ ...chatRequest, model: 'openai/gpt-oss-120b:groq' });
    const res = await chat(raw);
    expect(res.status).toBe(200);
    expect(local.requests).toHaveLength(0);
    expect(router.requests[0]?.body).toBe(raw);
    expect(router.requests[0]?.headers.authorization).toBe(`Bearer ${HF_TOKEN}`);
    const row = await gw.usageRow(res.headers.get('x-request-id'));
    // 81 × 0.000001 + 76 × 0.000003
    expect(row).toMatchObject({
      model: 'openai/gpt-oss-120b:groq',
      provider: 'huggingface',
      cost_total: '0.000309',
    });
  });

  it('streams local/qwen from its upstream, stripped, with usage asked for and the row priced as local', async () => {
    local.use(
      http.post(
        `${local.url}/chat/completions`,
        () => new HttpResponse(streamText, { headers: { 'content-type': 'text/event-stream' } }),
      ),
    );
    const res = await chat(
      JSON.stringify({ model: 'local/qwen', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect(res.status).toBe(200);
    await res.text();
    const sent = JSON.parse(local.requests[0]?.body ?? '{}') as Record<string, unknown>;
    expect(sent).toMatchObject({ model: 'qwen', stream: true, stream_options: { include_usage: true } });
    expect(local.requests[0]?.headers.authorization).toBe(`Bearer ${LOCAL_TOKEN}`);
    const row = await gw.usageRow(res.headers.get('x-request-id'));
    expect(row).toMatchObject({
      model: 'local/qwen',
      provider: 'local',
      status: 'ok',
      usage_source: 'upstream',
      pricing_source: 'db:exact',
    });
  });

  it('reserves a budget at the price of the upstream that will serve', async () => {
    // $5 of output per 1,000 tokens at local: the 4,096-token worst case is $20.48, past a $1 budget
    expect((await setPrice('local', 'pricey', '0.000001', '0.005')).status).toBeLessThan(300);
    const created = await json<{ key: string }>(
      gw.call('/admin/keys', { method: 'POST', json: { name: 'budgeted', monthly_budget_usd: '1' } }),
    );
    const refused = await chat(
      JSON.stringify({ model: 'local/pricey', messages: [{ role: 'user', content: 'hi' }] }),
      created.key,
    );
    expect(refused.status).toBe(429);
    expect(local.requests).toHaveLength(0);
    answerJson(router);
    const admitted = await chat(
      JSON.stringify({ ...chatRequest, model: 'openai/gpt-oss-120b:groq' }),
      created.key,
    );
    expect(admitted.status).toBe(200);
  });

  it('refuses a model whose upstream does not serve the endpoint, before anything goes upstream', async () => {
    const res = await gw.call('/v1/responses', {
      method: 'POST',
      json: { model: 'local/qwen', input: 'hi' },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('model_not_supported');
    expect(local.requests).toHaveLength(0);
    expect(router.requests).toHaveLength(0);
  });

  it('lists both upstreams’ models in /v1/models, as clients must send them', async () => {
    const ids = (await json<{ data: Array<{ id: string }> }>(gw.call('/v1/models'))).data.map((m) => m.id);
    expect(ids).toContain('openai/gpt-oss-120b:groq');
    expect(ids).toContain('local/qwen');
    expect((await gw.call('/v1/models/local/qwen')).status).toBe(200);
  });

  describe.each(['router', 'local'] as const)('when the %s echoes both tokens', (which) => {
    const model = () => (which === 'local' ? 'local/qwen' : 'openai/gpt-oss-120b:groq');
    const target = () => (which === 'local' ? local : router);
    const echo = (auth: string) => `${auth} ${HF_TOKEN} ${LOCAL_TOKEN}`;

    async function expectNeither(res: Response) {
      const headers = [...res.headers].map(([name, value]) => `${name}: ${value}`).join('\n');
      const body = await res.text();
      const row = await gw.usageRow(res.headers.get('x-request-id'));
      expect(row).toBeDefined();
      for (const seen of [headers, body, JSON.stringify(row)]) {
        expect(seen).not.toContain(HF_TOKEN);
        expect(seen).not.toContain(LOCAL_TOKEN);
      }
      return body;
    }

    it('redacts them from a JSON reply and its headers', async () => {
      const on = target();
      on.use(
        http.post(`${on.url}/chat/completions`, ({ request }) => {
          const said = echo(request.headers.get('authorization') ?? '');
          return HttpResponse.json(
            { ...reply, system_fingerprint: said },
            { headers: { 'x-ratelimit-remaining-requests': said } },
          );
        }),
      );
      const res = await chat(JSON.stringify({ ...chatRequest, model: model() }));
      expect(res.status).toBe(200);
      expect(await expectNeither(res)).toContain('[redacted]');
    });

    it('redacts them from a stream, split across chunks', async () => {
      const on = target();
      on.use(
        http.post(`${on.url}/chat/completions`, ({ request }) => {
          const said = echo(request.headers.get('authorization') ?? '');
          const event = encoder.encode(`data: {"choices":[{"index":0,"delta":{"content":"${said}"}}]}\n\n`);
          const events = streamText.split(/(?<=\n\n)/);
          const stream = new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(encoder.encode(events.slice(0, 2).join('')));
              // the echo cut in the middle of each token
              for (let at = 0; at < event.length; at += 7) controller.enqueue(event.subarray(at, at + 7));
              controller.enqueue(encoder.encode(events.slice(2).join('')));
              controller.close();
            },
          });
          return new HttpResponse(stream, { headers: { 'content-type': 'text/event-stream' } });
        }),
      );
      const res = await chat(JSON.stringify({ ...chatRequest, model: model(), stream: true }));
      expect(res.status).toBe(200);
      expect(await expectNeither(res)).toContain('[redacted]');
    });
  });
});

describe.each(BACKENDS)('UPSTREAM_TIMEOUT_MS on %s', (backend) => {
  let gw: TestGateway;
  let upstream: MockUpstream;
  const DRIP_BYTES = 300; // one every 200 ms: a minute in all

  beforeAll(async () => {
    upstream = await startMockUpstream();
    gw = await startTestGateway({ backend, upstreamUrl: upstream.url, env: { UPSTREAM_TIMEOUT_MS: '1000' } });
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
  });

  /** A reply that sends `chunks` one every 200 ms; `sent` counts those that went out. */
  function drip(chunks: Uint8Array[], type: string) {
    const state = { sent: 0 };
    upstream.use(
      http.post(`${upstream.url}/chat/completions`, () => {
        const stream = new ReadableStream<Uint8Array>({
          async pull(controller) {
            const next = chunks[state.sent];
            if (next === undefined) return controller.close();
            if (state.sent > 0) await new Promise((r) => setTimeout(r, 200));
            state.sent += 1;
            controller.enqueue(next);
          },
        });
        return new HttpResponse(stream, { headers: { 'content-type': type } });
      }),
    );
    return state;
  }

  it('bounds a JSON request as a whole: a reply dripping a byte every 200 ms gets a 504 and a row', async () => {
    const body = encoder.encode(`${JSON.stringify(reply)}${' '.repeat(DRIP_BYTES)}`);
    const bytes = [...body.subarray(body.length - DRIP_BYTES)].map((b) => Uint8Array.of(b));
    const state = drip([body.subarray(0, body.length - DRIP_BYTES), ...bytes], 'application/json');
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: chatRequest });
    expect(res.status).toBe(504);
    const error = (await res.json()) as { error: Record<string, unknown> };
    expect(error.error).toMatchObject({ type: 'upstream_error', code: 'upstream_timeout' });
    // cut long before the drip would have ended (no silence ever reached the 1 s limit)
    expect(state.sent).toBeLessThan(DRIP_BYTES);
    const row = await gw.usageRow(res.headers.get('x-request-id'));
    expect(row).toMatchObject({ status: 'upstream_error', http_status: 504, usage_source: 'none' });
  });

  it('bounds a stream only by its silences: events 200 ms apart run past the deadline to the end', async () => {
    const all = streamText.split(/(?<=\n\n)/);
    // 7 chunks ≥ 200 ms apart: at least 1.2 s in all, past the 1 s a JSON request may take
    const size = Math.ceil(all.length / 7);
    const events = Array.from({ length: 7 }, (_, i) =>
      encoder.encode(all.slice(i * size, (i + 1) * size).join('')),
    );
    const state = drip(events, 'text/event-stream');
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      json: { ...chatRequest, stream: true },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('[DONE]');
    expect(state.sent).toBe(events.length);
    const row = await gw.usageRow(res.headers.get('x-request-id'));
    expect(row).toMatchObject({ status: 'ok', usage_source: 'upstream' });
  });
});
