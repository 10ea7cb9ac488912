// Billing on the wire (issue 15): cached prompt tokens at their own price in JSON and streamed replies,
// reasoning tokens recorded and never added twice, the price of who served (x-inference-provider,
// `:fastest`), and guesses counted as unpriced in /usage, the dashboard and /metrics.
import { HttpResponse, http } from 'msw';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/databases.ts';
import { fixtureJson, fixtureText } from '../helpers/fixtures.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { chatRequest, dashboardCookie, json } from '../helpers/requests.ts';

// 1000 prompt tokens (400 cached), 500 completion (200 of them reasoning)
const cachedBody = fixtureText('nonstream/hf-groq-gpt-oss-120b.cached-reasoning.response.json');
const cachedStream = fixtureText('stream/hf-groq-gpt-oss-120b.cached-reasoning.sse');
const fastestBody = fixtureText('nonstream/hf-cerebras-gpt-oss-120b.fastest.response.json');
const fastestHeaders = fixtureJson<Record<string, string>>(
  'nonstream/hf-cerebras-gpt-oss-120b.fastest.response.headers.json',
);
const JSON_HEADERS = { 'content-type': 'application/json' };

describe.each(BACKENDS)('billing on the wire on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;

  gatewaySuite(
    {
      backend,
      handlers: [
        http.post('*/chat/completions', () => new HttpResponse(cachedBody, { headers: JSON_HEADERS })),
      ],
    },
    (suite) => ({ gw, upstream } = suite),
  );

  const putPrice = async (body: Record<string, unknown>) => {
    const res = await gw.call('/admin/pricing', { method: 'PUT', json: body });
    expect(res.status).toBe(200);
    return (await res.json()) as { id: number };
  };
  const chat = async (model: string, extra: Record<string, unknown> = {}) => {
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      json: { ...chatRequest, model, ...extra },
    });
    const text = await res.text();
    return { res, text, row: await gw.usageRow(res.headers.get('x-request-id')) };
  };

  it('prices 1000 prompt tokens (400 cached) and 500 completion at 0.000001 / 0.0000005 / 0.000003 as exactly 0.0023', async () => {
    const model = 'acme/cached-json:groq';
    const price = await putPrice({
      model_name: model,
      input_token_cost: '0.000001',
      cached_input_token_cost: '0.0000005',
      output_token_cost: '0.000003',
    });
    const { res, row } = await chat(model);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-usage-cost-usd')).toBe('0.0023');
    expect(row).toMatchObject({
      prompt_tokens: 1000,
      cached_tokens: 400,
      completion_tokens: 500,
      reasoning_tokens: 200,
      total_tokens: 1500,
      pricing_source: 'db:exact',
      input_token_cost: '0.000001',
      cached_input_token_cost: '0.0000005',
      output_token_cost: '0.000003',
      cost_input: '0.0008',
      cost_output: '0.0015',
      cost_total: '0.0023',
    });
    // PostgreSQL hands bigint over as text, PGlite as a number
    expect(Number(row?.pricing_id)).toBe(price.id);
  });

  it('keeps 0.0025 for the same request when the price has no cached input price', async () => {
    const model = 'acme/uncached-json:groq';
    await putPrice({ model_name: model, input_token_cost: '0.000001', output_token_cost: '0.000003' });
    const { res, row } = await chat(model);
    expect(res.headers.get('x-usage-cost-usd')).toBe('0.0025');
    // the row keeps the cached unit price it applied: the input price
    expect(row).toMatchObject({
      cached_tokens: 400,
      cached_input_token_cost: '0.000001',
      cost_total: '0.0025',
    });
  });

  it('prices the cached tokens of a stream’s usage chunk the same way', async () => {
    const model = 'acme/cached-stream:groq';
    await putPrice({
      model_name: model,
      input_token_cost: '0.000001',
      cached_input_token_cost: '0.0000005',
      output_token_cost: '0.000003',
    });
    upstream.use(
      http.post(
        '*/chat/completions',
        () => new HttpResponse(cachedStream, { headers: { 'content-type': 'text/event-stream' } }),
      ),
    );
    const { res, text, row } = await chat(model, { stream: true, stream_options: { include_usage: true } });
    expect(res.status).toBe(200);
    expect(text).toContain('"cached_tokens":400');
    expect(row).toMatchObject({
      usage_source: 'upstream',
      cached_tokens: 400,
      reasoning_tokens: 200,
      cached_input_token_cost: '0.0000005',
      cost_total: '0.0023',
    });
  });

  it('prices a :fastest request by the provider that served it (db:served), from x-inference-provider', async () => {
    const served = await putPrice({
      model_name: 'openai/gpt-oss-120b:cerebras',
      input_token_cost: '0.00000025',
      output_token_cost: '0.00000069',
    });
    upstream.use(
      http.post('*/chat/completions', () => new HttpResponse(fastestBody, { headers: fastestHeaders })),
    );
    const { res, row } = await chat('openai/gpt-oss-120b:fastest');
    expect(res.headers.get('x-inference-provider')).toBe('cerebras');
    // 1000 × 0.00000025 + 500 × 0.00000069 = 0.00025 + 0.000345
    expect(res.headers.get('x-usage-cost-usd')).toBe('0.000595');
    expect(row).toMatchObject({
      model: 'openai/gpt-oss-120b:fastest',
      served_by: 'cerebras',
      pricing_source: 'db:served',
      cost_total: '0.000595',
    });
    expect(Number(row?.pricing_id)).toBe(served.id);
  });

  it('prices by the serving provider when x-inference-provider differs from the requested suffix', async () => {
    await putPrice({
      model_name: 'acme/fallback:groq',
      input_token_cost: '0.000001',
      output_token_cost: '0.000003',
    });
    const cerebras = await putPrice({
      model_name: 'acme/fallback:cerebras',
      input_token_cost: '0.000002',
      output_token_cost: '0.000002',
    });
    upstream.use(
      http.post('*/chat/completions', () => new HttpResponse(cachedBody, { headers: fastestHeaders })),
    );
    const { row } = await chat('acme/fallback:groq');
    expect(row).toMatchObject({
      served_by: 'cerebras',
      pricing_source: 'db:served',
    });
    expect(Number(row?.pricing_id)).toBe(cerebras.id);
    expect(row?.cost_total).toBe('0.003');
    // the suffix's own provider served: step 1, under the requested name
    upstream.use(
      http.post('*/chat/completions', () => new HttpResponse(cachedBody, { headers: JSON_HEADERS })),
    );
    expect((await chat('acme/fallback:groq')).row).toMatchObject({
      served_by: 'groq',
      pricing_source: 'db:exact',
    });
  });

  it('counts an env-priced request for another model as unpriced in /usage, on the dashboard and in /metrics', async () => {
    const from = new Date().toISOString();
    const { row } = await chat('acme/no-price-anywhere:groq');
    expect(row).toMatchObject({ pricing_source: 'env', pricing_id: null, cost_total: '0.0025' });
    // the default model's env price is a database version: priced, not a guess
    expect((await chat('openai/gpt-oss-120b:groq')).row).toMatchObject({ pricing_source: 'db:exact' });
    const usage = await json<{ totals: { requests: number; unpriced_requests: number } }>(
      gw.call(`/usage?from=${encodeURIComponent(from)}`),
    );
    expect(usage.totals).toMatchObject({ requests: 2, unpriced_requests: 1 });
    const cookie = await dashboardCookie(gw);
    const page = await (await gw.call('/dashboard?period=today', { key: null, headers: { cookie } })).text();
    expect(page).toContain('id="unpriced-warning"');
    const metrics = await (await gw.call('/metrics')).text();
    expect(metrics).toMatch(/tollgate_unpriced_requests_total\{source="env"\} [1-9]/);
  });
});

describe.each(BACKENDS)('the env cached input price on %s', (backend) => {
  let gw: TestGateway;

  gatewaySuite(
    {
      backend,
      env: { HUGGINGFACE_CACHED_INPUT_TOKEN_COST: '0.0000005' },
      handlers: [
        http.post('*/chat/completions', () => new HttpResponse(cachedBody, { headers: JSON_HEADERS })),
      ],
    },
    (suite) => ({ gw } = suite),
  );

  it('prices the default model’s cached tokens at HUGGINGFACE_CACHED_INPUT_TOKEN_COST: 0.0023', async () => {
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: chatRequest });
    expect(res.headers.get('x-usage-cost-usd')).toBe('0.0023');
    expect(await gw.usageRow(res.headers.get('x-request-id'))).toMatchObject({
      pricing_source: 'db:exact',
      cached_input_token_cost: '0.0000005',
      cost_total: '0.0023',
    });
    const prices = await json<{
      data: Array<{ model_name: string; cached_input_token_cost: string | null }>;
    }>(gw.call('/admin/pricing'));
    expect(prices.data.find((p) => p.model_name === chatRequest.model)).toMatchObject({
      cached_input_token_cost: '0.0000005',
    });
  });
});
