// POST /v1/responses: the OpenAI Responses API through the one metered pipeline, JSON and SSE, replayed
// from the fixtures in test/fixtures/responses on every backend.
import { sql } from 'drizzle-orm';
import { HttpResponse, http } from 'msw';
import { request as undiciRequest } from 'undici';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/databases.ts';
import { fixtureJson, fixtureText } from '../helpers/fixtures.ts';
import { ADMIN_KEY, gatewaySuite, HF_TOKEN, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { expectError } from '../helpers/requests.ts';

const replyText = fixtureText('responses/hf-groq-gpt-oss-120b.response.json');
const replyHeaders = fixtureJson<Record<string, string>>(
  'responses/hf-groq-gpt-oss-120b.response.headers.json',
);
const SSE_HEADERS = fixtureJson<Record<string, string>>('responses/hf-groq-gpt-oss-120b.stream.headers.json');
const request = fixtureJson<Record<string, unknown>>('responses/hf-groq-gpt-oss-120b.request.json');
const streamRequest = fixtureJson<Record<string, unknown>>(
  'responses/hf-groq-gpt-oss-120b.stream.request.json',
);
const streamText = fixtureText('responses/hf-groq-gpt-oss-120b.stream.sse');

const encoder = new TextEncoder();
/** The SSE text as its events, each with its blank line. */
const eventsOf = (text: string) => text.split(/(?<=\n\n)/);

describe.each(BACKENDS)('POST /v1/responses on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;

  gatewaySuite({ backend, env: { UPSTREAM_TIMEOUT_MS: '1500' } }, (suite) => ({ gw, upstream } = suite));

  const answer = (body = replyText, init: ResponseInit = { headers: replyHeaders }) =>
    upstream.use(http.post(`${upstream.url}/responses`, () => new HttpResponse(body, init)));
  const stream = (text: string) =>
    upstream.use(
      http.post(`${upstream.url}/responses`, () => new HttpResponse(text, { headers: SSE_HEADERS })),
    );
  /** An upstream that sends `text` at once, then holds the connection until `release()`. */
  const heldStream = (text: string) => {
    let release: () => void = () => {};
    upstream.use(
      http.post(`${upstream.url}/responses`, () => {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(encoder.encode(text));
            release = () => controller.close();
          },
        });
        return new HttpResponse(body, { headers: SSE_HEADERS });
      }),
    );
    return () => release();
  };
  const post = (json: unknown, key?: string) =>
    gw.call('/v1/responses', { method: 'POST', json, ...(key ? { key } : {}) });
  const rowsFor = (requestId: string | null) =>
    gw.deps.database.rows<Record<string, unknown>>(
      sql`select * from usage_logs where request_id = ${requestId}`,
    );
  /** The one row of a request (a stream's row may land just after the client saw its end). */
  async function oneRow(requestId: string | null) {
    let rows = await rowsFor(requestId);
    for (let i = 0; i < 100 && rows.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      rows = await rowsFor(requestId);
    }
    expect(rows).toHaveLength(1);
    return rows[0] as Record<string, unknown>;
  }

  it('returns the JSON reply byte for byte and commits a priced row from response.usage first', async () => {
    answer();
    const body = JSON.stringify(request);
    const res = await gw.call('/v1/responses', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(replyText);
    // 92 input × 0.000001 + 58 output × 0.000003 (cached tokens at the input price: no cached price set)
    expect(res.headers.get('x-usage-cost-usd')).toBe('0.000266');
    expect(res.headers.get('x-upstream-request-id')).toBe('req_01kx3x6f5rgc8j2k4t7vd9b1xa');

    const seen = upstream.requests[0];
    expect(seen?.path).toBe('/v1/responses');
    expect(seen?.headers.authorization).toBe(`Bearer ${HF_TOKEN}`);
    expect(seen?.body).toBe(body);

    expect(await oneRow(res.headers.get('x-request-id'))).toMatchObject({
      endpoint: 'responses',
      status: 'ok',
      http_status: 200,
      stream: false,
      model: 'openai/gpt-oss-120b:groq',
      upstream_model: 'openai/gpt-oss-120b',
      served_by: 'groq',
      prompt_tokens: 92,
      completion_tokens: 58,
      total_tokens: 150,
      cached_tokens: 64,
      reasoning_tokens: 41,
      usage_source: 'upstream',
      usage_raw: {
        input_tokens: 92,
        input_tokens_details: { cached_tokens: 64 },
        output_tokens: 58,
        output_tokens_details: { reasoning_tokens: 41 },
        total_tokens: 150,
      },
      cost_input: '0.000092',
      cost_output: '0.000174',
      cost_total: '0.000266',
      upstream_request_id: 'req_01kx3x6f5rgc8j2k4t7vd9b1xa',
    });
  });

  it('estimates a JSON reply without usage from its input and output items', async () => {
    const { usage: _drop, ...withoutUsage } = JSON.parse(replyText) as Record<string, unknown>;
    answer(JSON.stringify(withoutUsage), { headers: { 'content-type': 'application/json' } });
    const res = await post(request);
    expect(res.status).toBe(200);
    const row = await oneRow(res.headers.get('x-request-id'));
    expect(row).toMatchObject({ endpoint: 'responses', status: 'ok', usage_source: 'estimated' });
    expect(Number(row.prompt_tokens)).toBeGreaterThan(0);
    // the reasoning text and the message text of the output items
    expect(Number(row.completion_tokens)).toBeGreaterThan(10);
    expect(row.cost_total).not.toBe('0');
  });

  it.each([
    ['hf-groq-gpt-oss-120b.stream.sse', 'with event: lines (OpenAI)'],
    ['hf-responses-js.data-only.sse', 'with data: lines only (HF responses.js)'],
  ])('relays the stream %s exactly and meters response.completed’s usage', async (file) => {
    const text = fixtureText(`responses/${file}`);
    stream(text);
    const body = JSON.stringify(streamRequest);
    const res = await gw.call('/v1/responses', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await res.text()).toBe(text);
    // nothing to add for metering: the terminal event always carries usage
    expect(upstream.requests[0]?.body).toBe(body);
    const row = await oneRow(res.headers.get('x-request-id'));
    expect(row).toMatchObject({
      endpoint: 'responses',
      status: 'ok',
      stream: true,
      served_by: 'groq',
      upstream_model: 'openai/gpt-oss-120b',
      prompt_tokens: 84,
      completion_tokens: 34,
      reasoning_tokens: 22,
      cached_tokens: 0,
      usage_source: 'upstream',
      // 84 × 0.000001 + 34 × 0.000003
      cost_total: '0.000186',
    });
    expect(Number(row.ttft_ms)).toBeGreaterThanOrEqual(0);
    expect(Number(row.latency_ms)).toBeGreaterThanOrEqual(Number(row.ttft_ms));
  });

  it('commits the row before the client sees response.completed', async () => {
    // the upstream sends everything, then holds the connection: only the terminal event can end it
    const release = heldStream(streamText);
    try {
      const res = await post(streamRequest);
      const requestId = res.headers.get('x-request-id');
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let seen = '';
      let checked = false;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += decoder.decode(value, { stream: true });
        if (!checked && seen.includes('event: response.completed')) {
          checked = true;
          // nothing awaited between response.completed arriving and this query
          expect(await rowsFor(requestId)).toMatchObject([{ status: 'ok', prompt_tokens: 84 }]);
        }
      }
      expect(checked).toBe(true);
      expect(seen).toBe(streamText);
    } finally {
      release();
    }
  });

  it('passes response.failed on as the last event and records upstream_error', async () => {
    const text = fixtureText('responses/hf-groq-gpt-oss-120b.failed.sse');
    stream(text);
    const res = await post(streamRequest);
    expect(await res.text()).toBe(text);
    const row = await oneRow(res.headers.get('x-request-id'));
    expect(row).toMatchObject({
      endpoint: 'responses',
      status: 'upstream_error',
      http_status: 502,
      stream: true,
      // the reasoning streamed before the failure is billed as an estimate
      usage_source: 'estimated',
    });
    expect(row.error).toMatch(/upstream connection reset/);
    expect(Number(row.completion_tokens)).toBeGreaterThan(0);
  });

  it('meters response.incomplete as answered, with its usage', async () => {
    const text = fixtureText('responses/hf-groq-gpt-oss-120b.incomplete.sse');
    stream(text);
    const res = await post({ ...streamRequest, max_output_tokens: 28 });
    expect(await res.text()).toBe(text);
    expect(await oneRow(res.headers.get('x-request-id'))).toMatchObject({
      status: 'ok',
      http_status: 200,
      usage_source: 'upstream',
      prompt_tokens: 84,
      completion_tokens: 28,
      // 84 × 0.000001 + 28 × 0.000003
      cost_total: '0.000168',
    });
  });

  it('ends a truncated stream with an OpenAI error event and one estimated row', async () => {
    const text = fixtureText('responses/hf-groq-gpt-oss-120b.truncated.sse');
    stream(text);
    const res = await post(streamRequest);
    const received = await res.text();
    expect(received.startsWith(text)).toBe(true);
    const tail = received.slice(text.length);
    expect(tail).toMatch(/^event: error\ndata: /);
    expect(JSON.parse(tail.slice(tail.indexOf('{')))).toMatchObject({
      error: { code: 'stream_truncated', type: 'upstream_error' },
    });
    const row = await oneRow(res.headers.get('x-request-id'));
    expect(row).toMatchObject({ status: 'upstream_error', http_status: 502, usage_source: 'estimated' });
    expect(Number(row.completion_tokens)).toBeGreaterThan(0);
  });

  it('never takes the zeroed usage of response.created for the bill when the stream breaks off', async () => {
    // the router's responses.js announces `usage` with every count 0 until the terminal event
    const text = fixtureText('responses/hf-responses-js.data-only.sse');
    const cut = eventsOf(text).slice(0, 24).join('');
    expect(cut).toContain('"usage":{"input_tokens":0');
    expect(cut).toContain('response.output_text.delta');
    stream(cut);
    const res = await post(streamRequest);
    expect((await res.text()).startsWith(cut)).toBe(true);
    const row = await oneRow(res.headers.get('x-request-id'));
    expect(row).toMatchObject({ status: 'upstream_error', usage_source: 'estimated' });
    expect(Number(row.prompt_tokens)).toBeGreaterThan(0);
    expect(Number(row.completion_tokens)).toBeGreaterThan(0);
    expect(row.cost_total).not.toBe('0');
  });

  it('estimates a response.failed that carries only the zeroed usage it started with', async () => {
    // responses.js fails a stream with its response object as it stands: usage all 0 when the
    // provider broke off before its usage chunk
    const events = eventsOf(fixtureText('responses/hf-responses-js.data-only.sse'));
    const created = JSON.parse(events[0]!.slice('data: '.length)) as { response: Record<string, unknown> };
    const failed = {
      type: 'response.failed',
      sequence_number: 24,
      response: {
        ...created.response,
        status: 'failed',
        error: { code: 'server_error', message: 'Provider stream ended unexpectedly' },
      },
    };
    const text = `${events.slice(0, 24).join('')}data: ${JSON.stringify(failed)}\n\n`;
    stream(text);
    const res = await post(streamRequest);
    expect(await res.text()).toBe(text);
    const row = await oneRow(res.headers.get('x-request-id'));
    expect(row).toMatchObject({ status: 'upstream_error', usage_source: 'estimated' });
    expect(Number(row.completion_tokens)).toBeGreaterThan(0);
    expect(row.cost_total).not.toBe('0');
  });

  it('estimates a stream whose response.completed carries no usage', async () => {
    const text = streamText.replace(/"usage":\{[^}]*\{[^}]*\}[^}]*\{[^}]*\}[^}]*\}/, '"usage":null');
    expect(text).not.toBe(streamText);
    stream(text);
    const res = await post(streamRequest);
    expect(await res.text()).toBe(text);
    const row = await oneRow(res.headers.get('x-request-id'));
    expect(row).toMatchObject({ status: 'ok', usage_source: 'estimated', stream: true });
    expect(Number(row.prompt_tokens)).toBeGreaterThan(0);
    expect(Number(row.completion_tokens)).toBeGreaterThan(0);
  });

  it('ends a stalled stream after UPSTREAM_TIMEOUT_MS with an error event and one row', async () => {
    const first = eventsOf(streamText).slice(0, 6).join('');
    const release = heldStream(first);
    try {
      const res = await post(streamRequest);
      const received = await res.text();
      expect(received.startsWith(first)).toBe(true);
      expect(received.slice(first.length)).toMatch(/^event: error\ndata: .*"code":"upstream_timeout"/);
      expect(await oneRow(res.headers.get('x-request-id'))).toMatchObject({
        endpoint: 'responses',
        status: 'upstream_error',
        http_status: 504,
        usage_source: 'estimated',
      });
    } finally {
      release();
    }
  });

  it('aborts the upstream when the client goes away, and records one client_aborted row', async () => {
    const events = eventsOf(streamText);
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((resolve) => {
      upstreamClosed = resolve;
    });
    upstream.use(
      http.post(`${upstream.url}/responses`, ({ request }) => {
        request.signal.addEventListener('abort', () => upstreamClosed());
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            for (const event of events.slice(0, 10)) controller.enqueue(encoder.encode(event));
            // holds the rest: a long generation the client abandons
          },
        });
        return new HttpResponse(body, { headers: SSE_HEADERS });
      }),
    );
    const base = await gw.listen();
    const res = await undiciRequest(`${base}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(streamRequest),
    });
    const requestId = res.headers['x-request-id'] as string;
    let received = '';
    for await (const chunk of res.body) {
      received += chunk.toString();
      if (received.split('\n\n').length > 10) break;
    }
    res.body.destroy();
    await closed;
    expect(upstream.aborted).toBe(1);
    const row = await oneRow(requestId);
    expect(row).toMatchObject({
      endpoint: 'responses',
      status: 'client_aborted',
      usage_source: 'estimated',
      stream: true,
    });
    expect(Number(row.prompt_tokens)).toBeGreaterThan(0);
    expect(Number(row.completion_tokens)).toBeGreaterThan(0);
  });

  it('refuses a key whose budget cannot cover the request, before going upstream', async () => {
    const key = (await (
      await gw.call('/admin/keys', { method: 'POST', json: { name: 'tiny', monthly_budget_usd: '0.000001' } })
    ).json()) as { key: string };
    const res = await post({ ...request, max_output_tokens: 100 }, key.key);
    expect(res.status).toBe(429);
    expect(res.headers.get('x-should-retry')).toBe('false');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('budget_exceeded');
    expect(upstream.requests).toHaveLength(0);
  });

  it('applies a key’s per-minute request limit to /v1/responses', async () => {
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 55_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 50));
    const key = (await (
      await gw.call('/admin/keys', { method: 'POST', json: { name: 'rpm', rpm_limit: 1 } })
    ).json()) as { key: string };
    answer();
    expect((await post(request, key.key)).status).toBe(200);
    const refused = await post(request, key.key);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('rate_limit_exceeded');
    expect(upstream.requests).toHaveLength(1);
  });

  it.each([[1.5], ['100'], [-1]])('refuses max_output_tokens %j with a 400 naming it', async (bad) => {
    const res = await post({ ...request, max_output_tokens: bad });
    await expectError(res, 400, 'invalid_parameter', 'max_output_tokens');
    expect(upstream.requests).toHaveLength(0);
  });

  it('refuses an input that is neither a string nor a list of items', async () => {
    const res = await post({ ...request, input: 42 });
    await expectError(res, 400, 'invalid_parameter', 'input');
    expect(upstream.requests).toHaveLength(0);
  });
});
