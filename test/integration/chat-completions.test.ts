import { HttpResponse, http } from 'msw';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/databases.ts';
import { errorFixture, fixtureJson, fixtureText } from '../helpers/fixtures.ts';
import { ADMIN_KEY, gatewaySuite, HF_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';

const responseText = fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json');
const responseHeaders = fixtureJson<Record<string, string>>(
  'nonstream/hf-groq-gpt-oss-120b.response.headers.json',
);
const request = fixtureJson<Record<string, unknown>>('nonstream/hf-groq-gpt-oss-120b.request.json');

describe.each(BACKENDS)('POST /v1/chat/completions (non-streaming) on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;

  gatewaySuite({ backend }, (suite) => ({ gw, upstream } = suite));

  const answer = (body = responseText, init: ResponseInit = { headers: responseHeaders }) =>
    upstream.use(http.post(`${upstream.url}/chat/completions`, () => new HttpResponse(body, init)));

  const rowFor = (requestId: string | null) => gw.usageRow(requestId);

  it('refuses a body over MAX_BODY_BYTES over HTTP, declared or chunked, before calling upstream', async () => {
    const base = await gw.listen();
    const big = JSON.stringify({ ...request, pad: 'x'.repeat(4_194_304) });
    const post = (body: string | ReadableStream<Uint8Array>, extra: RequestInit = {}) =>
      fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body,
        ...extra,
      });
    // with a Content-Length: refused on the declared length
    const declared = await post(big);
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    // chunked: counted as it streams
    const bytes = new TextEncoder().encode(big);
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < bytes.length; at += 65_536) controller.enqueue(bytes.subarray(at, at + 65_536));
        controller.close();
      },
    });
    const streamed = await post(chunked, { duplex: 'half' } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(((await streamed.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    // a chunked body under the limit is read whole and answered
    answer();
    const small = new TextEncoder().encode(JSON.stringify(request));
    const ok = await post(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(small.subarray(0, 10));
          controller.enqueue(small.subarray(10));
          controller.close();
        },
      }),
      { duplex: 'half' } as RequestInit,
    );
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe(responseText);
  });

  it('returns the upstream bytes unchanged and commits a priced row before answering', async () => {
    answer();
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: request });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(responseText);
    const requestId = res.headers.get('x-request-id');
    expect(requestId).toMatch(/^req_[0-9a-f]{32}$/);
    // 81 prompt × 0.000001 + 76 completion × 0.000003 = 0.000309
    expect(res.headers.get('x-usage-cost-usd')).toBe('0.000309');
    expect(res.headers.get('server-timing')).toMatch(/^upstream;dur=\d+\.\d+, gateway;dur=\d+\.\d+$/);
    expect(res.headers.get('x-ratelimit-remaining-tokens')).toBe('299870');
    expect(res.headers.get('x-upstream-request-id')).toBe('req_01kx3v9q7gfs2b8m4d6tzn0c5h');
    expect(res.headers.get('x-powered-by')).toBeNull();

    const row = await rowFor(requestId);
    expect(row).toMatchObject({
      status: 'ok',
      http_status: 200,
      model: 'openai/gpt-oss-120b:groq',
      upstream_model: 'openai/gpt-oss-120b',
      stream: false,
      prompt_tokens: 81,
      completion_tokens: 76,
      total_tokens: 157,
      reasoning_tokens: 30,
      cached_tokens: 0,
      usage_source: 'upstream',
      pricing_source: 'db:exact',
      input_token_cost: '0.000001',
      output_token_cost: '0.000003',
      cost_input: '0.000081',
      cost_output: '0.000228',
      cost_total: '0.000309',
      upstream_request_id: 'req_01kx3v9q7gfs2b8m4d6tzn0c5h',
      api_key_id: null,
    });
    expect(row?.pricing_id).not.toBeNull();
    expect((row?.usage_raw as { queue_time?: number } | undefined)?.queue_time).toBe(0.081352904);
  });

  it('sends the gateway token upstream, never the client key, and forwards the body untouched', async () => {
    answer();
    const body = JSON.stringify({ ...request, temperature: 0.2, reasoning_effort: 'low', seed: 7 });
    await gw.call('/v1/chat/completions', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    const seen = upstream.requests[0];
    expect(seen?.path).toBe('/v1/chat/completions');
    expect(seen?.headers.authorization).toBe(`Bearer ${HF_TOKEN}`);
    expect(seen?.body).toBe(body);
  });

  it('records cached tokens from a cache hit without counting them twice', async () => {
    answer(fixtureText('nonstream/hf-groq-gpt-oss-120b.cache-hit.response.json'));
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: request });
    const row = await rowFor(res.headers.get('x-request-id'));
    expect(row?.cached_tokens).toBeGreaterThan(0);
    expect(row?.total_tokens).toBe(Number(row?.prompt_tokens) + Number(row?.completion_tokens));
  });

  it('estimates usage with the gpt-oss tokenizer when the reply has none', async () => {
    const { usage: _drop, ...withoutUsage } = JSON.parse(responseText) as Record<string, unknown>;
    answer(JSON.stringify(withoutUsage));
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      json: {
        model: 'openai/gpt-oss-120b:groq',
        messages: [{ role: 'user', content: 'What is 2+2? Reply with just the number.' }],
      },
    });
    expect(res.status).toBe(200);
    const row = await rowFor(res.headers.get('x-request-id'));
    // 19 tokens of encoded chat + 65 of gpt-oss's implicit harmony header (Groq reports 84 for this prompt)
    expect(row).toMatchObject({ usage_source: 'estimated', prompt_tokens: 84 });
    expect(Number(row?.completion_tokens)).toBeGreaterThan(30);
  });

  it.each([
    ['400.hf-router.model-not-supported', 400],
    ['404.groq-direct.model-not-found', 404],
    ['400.groq.tool-use-failed', 400],
  ])('passes an OpenAI-shaped upstream %s through byte for byte', async (name, status) => {
    const fixture = errorFixture(name);
    answer(fixture.body, { status: fixture.status, headers: fixture.headers });
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: request });
    expect(res.status).toBe(status);
    expect(await res.text()).toBe(fixture.body);
    const row = await rowFor(res.headers.get('x-request-id'));
    expect(row).toMatchObject({ status: 'upstream_error', http_status: status, cost_total: '0' });
  });

  it('puts an HF string error (402) into OpenAI’s shape with its status', async () => {
    const fixture = errorFixture('402.hf-router.credits-exhausted');
    answer(fixture.body, { status: fixture.status, headers: fixture.headers });
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: request });
    expect(res.status).toBe(402);
    const body = (await res.json()) as { error: { message: string; type: string; code: string } };
    expect(body.error.message).toMatch(/exceeded your monthly included credits/);
    expect(body.error).toMatchObject({
      type: 'invalid_request_error',
      code: 'insufficient_quota',
      param: null,
    });
  });

  it('passes a 429 through with its retry-after and rate-limit headers', async () => {
    const fixture = errorFixture('429.hf-router.groq-rate-limit');
    answer(fixture.body, { status: fixture.status, headers: fixture.headers });
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: request });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.headers.get('x-ratelimit-remaining-tokens')).toBe('580');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('rate_limit_exceeded');
  });

  it.each([
    ['401.hf-router.invalid-token', /refused the gateway's credentials/],
    ['401.groq-direct.invalid-api-key', /refused the gateway's credentials/],
    ['500.groq.internal-server-error', /upstream failed \(HTTP 500\)/],
  ])('answers 502 when the upstream says %s, and meters it at zero cost', async (name, message) => {
    const fixture = errorFixture(name);
    answer(fixture.body, { status: fixture.status, headers: fixture.headers });
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: request });
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: { message: string; code: string } };
    expect(body.error.message).toMatch(message);
    expect(body.error.code).toBe('bad_gateway');
    expect(JSON.stringify(body)).not.toContain(HF_TOKEN);
    const row = await rowFor(res.headers.get('x-request-id'));
    expect(row).toMatchObject({ status: 'upstream_error', http_status: 502, cost_total: '0' });
  });

  it('refuses a model with a NUL character, which no ledger row could hold, before going upstream', async () => {
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      json: { ...request, model: 'gpt\u0000oss' },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe('model');
    expect(upstream.requests).toHaveLength(0);
  });

  it('meters a reply whose text fields carry NUL characters, which the ledger stores without them', async () => {
    const reply = JSON.parse(responseText) as Record<string, unknown> & { usage: Record<string, unknown> };
    const body = JSON.stringify({
      ...reply,
      id: 'chatcmpl-\u0000nul',
      model: 'openai/gpt-oss-120b\u0000',
      usage: { ...reply.usage, 'note\u0000': 'a\u0000b' },
    });
    answer(body, { headers: { 'content-type': 'application/json' } });
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: request });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(body);
    const row = await rowFor(res.headers.get('x-request-id'));
    expect(row).toMatchObject({
      upstream_model: 'openai/gpt-oss-120b',
      upstream_request_id: 'chatcmpl-nul',
      prompt_tokens: 81,
      usage_raw: expect.objectContaining({ note: 'ab', prompt_tokens: 81 }),
    });
  });

  it('answers 502 when the upstream answers garbage', async () => {
    answer('<html>bad gateway</html>', { status: 200, headers: { 'content-type': 'text/html' } });
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: request });
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/not JSON/);
  });

  it('answers 502 when the upstream drops the connection', async () => {
    upstream.use(http.post(`${upstream.url}/chat/completions`, () => HttpResponse.error()));
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: request });
    expect(res.status).toBe(502);
    const row = await rowFor(res.headers.get('x-request-id'));
    expect(row).toMatchObject({ status: 'upstream_error', http_status: 502 });
  });
});

describe('POST /v1/chat/completions against an unreachable upstream', () => {
  it('answers 502 naming the failure, without the token', async () => {
    const gw = await startTestGateway({ backend: 'pglite', upstreamUrl: 'http://127.0.0.1:9/v1' });
    try {
      const res = await gw.call('/v1/chat/completions', { method: 'POST', json: request });
      expect(res.status).toBe(502);
      const text = await res.text();
      expect(text).toMatch(/ECONNREFUSED/);
      expect(text).not.toContain(HF_TOKEN);
    } finally {
      await gw.close();
    }
  });
});

describe('POST /v1/chat/completions against a slow upstream', () => {
  it('answers 504 after UPSTREAM_TIMEOUT_MS', async () => {
    const upstream = await startMockUpstream(
      http.post('*/chat/completions', async () => {
        await new Promise((r) => setTimeout(r, 1500));
        return HttpResponse.json({});
      }),
    );
    const gw = await startTestGateway({
      backend: 'pglite',
      upstreamUrl: upstream.url,
      env: { UPSTREAM_TIMEOUT_MS: '200' },
    });
    try {
      const res = await gw.call('/v1/chat/completions', { method: 'POST', json: request });
      expect(res.status).toBe(504);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('upstream_timeout');
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});
