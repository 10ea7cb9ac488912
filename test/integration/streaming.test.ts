import { HttpResponse, http } from 'msw';
import { request as undiciRequest } from 'undici';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/databases.ts';
import { fixtureJson, fixtureText } from '../helpers/fixtures.ts';
import { ADMIN_KEY, gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';

const SSE_HEADERS = fixtureJson<Record<string, string>>('stream/hf-groq-gpt-oss-120b.stream.headers.json');
const withUsage = fixtureJson<Record<string, unknown>>(
  'stream/hf-groq-gpt-oss-120b.stream.request.include-usage.json',
);
const withoutUsage = fixtureJson<Record<string, unknown>>(
  'stream/hf-groq-gpt-oss-120b.stream.request.no-stream-options.json',
);
const expected = fixtureJson<Record<string, { prompt_tokens: number; completion_tokens: number } | null>>(
  'stream/expected-usage.json',
);

/** The SSE text with its usage-only chunk (`"choices":[]` + usage) removed: what a client that did not ask sees. */
function withoutUsageChunk(text: string): string {
  return text
    .split(/(?<=\n\n)/)
    .filter((event) => !(event.includes('"choices":[]') && event.includes('"usage"')))
    .join('');
}

const encoder = new TextEncoder();

describe.each(BACKENDS)('POST /v1/chat/completions (streaming) on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;

  gatewaySuite({ backend, env: { UPSTREAM_TIMEOUT_MS: '1500' } }, (suite) => ({ gw, upstream } = suite));

  const stream = (text: string) =>
    upstream.use(
      http.post(`${upstream.url}/chat/completions`, () => new HttpResponse(text, { headers: SSE_HEADERS })),
    );

  const rowFor = (requestId: string | null) => gw.usageRow(requestId);

  describe.each([
    ['hf-groq-gpt-oss-120b.include-usage.sse', 'ok'],
    ['groq-gpt-oss-120b.finish-chunk-usage.sse', 'ok'],
    ['groq-legacy.x_groq-usage-only.sse', 'ok'],
    ['hf-groq-gpt-oss-120b.no-usage.sse', 'ok'],
    ['groq-gpt-oss-120b.midstream-error.sse', 'upstream_error'],
  ])('replaying %s', (file, status) => {
    const text = fixtureText(`stream/${file}`);
    const usage = expected[file];

    it.each([
      ['asks for include_usage', withUsage, text],
      ['does not ask for usage', withoutUsage, withoutUsageChunk(text)],
    ])(
      'gives a client that %s exactly the bytes it would get without the gateway, and one row',
      async (_, body, wanted) => {
        stream(text);
        const res = await gw.call('/v1/chat/completions', { method: 'POST', json: body });
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
        expect(await res.text()).toBe(wanted);

        const sent = JSON.parse(upstream.requests[0]?.body ?? '{}') as Record<string, unknown>;
        expect(sent.stream_options).toEqual({ include_usage: true });
        expect(sent.messages).toEqual(body.messages);

        const row = await rowFor(res.headers.get('x-request-id'));
        expect(row).toMatchObject({ status, stream: true, model: 'openai/gpt-oss-120b:groq' });
        if (usage) {
          expect(row).toMatchObject({
            usage_source: 'upstream',
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            // 84 × 0.000001 + 34 × 0.000003
            cost_total: '0.000186',
          });
        } else {
          expect(row?.usage_source).toBe('estimated');
          expect(Number(row?.prompt_tokens)).toBeGreaterThan(0);
          expect(Number(row?.completion_tokens)).toBeGreaterThan(0);
        }
        expect(Number(row?.ttft_ms)).toBeGreaterThanOrEqual(0);
        expect(Number(row?.latency_ms)).toBeGreaterThanOrEqual(Number(row?.ttft_ms));
      },
    );
  });

  it('records the midstream error with the status the upstream gave it', async () => {
    stream(fixtureText('stream/groq-gpt-oss-120b.midstream-error.sse'));
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: withUsage });
    const text = await res.text();
    expect(text).toMatch(/event: error\ndata: \{"error":\{"message":"Tool call validation failed/);
    expect(text).not.toContain('[DONE]');
    const row = await rowFor(res.headers.get('x-request-id'));
    expect(row).toMatchObject({ status: 'upstream_error', http_status: 400, usage_source: 'estimated' });
    expect(row?.error).toMatch(/Tool call validation failed/);
  });

  it('commits the row before the client sees [DONE]', async () => {
    stream(fixtureText('stream/hf-groq-gpt-oss-120b.include-usage.sse'));
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: withUsage });
    const requestId = res.headers.get('x-request-id');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let seen = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += decoder.decode(value, { stream: true });
      if (seen.includes('data: [DONE]')) {
        // nothing awaited between [DONE] arriving and this query
        expect(await rowFor(requestId)).toMatchObject({ status: 'ok', prompt_tokens: 84 });
      }
    }
    expect(seen).toContain('data: [DONE]');
  });

  it('forwards each event before the upstream sends the next (no buffering)', async () => {
    const events = fixtureText('stream/hf-groq-gpt-oss-120b.include-usage.sse').split(/(?<=\n\n)/);
    let release: () => void = () => {};
    upstream.use(
      http.post(`${upstream.url}/chat/completions`, () => {
        const body = new ReadableStream<Uint8Array>({
          async start(controller) {
            for (const event of events) {
              controller.enqueue(encoder.encode(event));
              // the upstream waits until the client has received this event
              await new Promise<void>((resolve) => {
                release = resolve;
              });
            }
            controller.close();
          },
        });
        return new HttpResponse(body, { headers: SSE_HEADERS });
      }),
    );
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: withUsage });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let received = '';
    for (const [index, event] of events.entries()) {
      while (!received.endsWith(event)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before event ${index}`);
        received += decoder.decode(value, { stream: true });
      }
      release();
    }
    expect(received).toBe(events.join(''));
  });

  it('ends a truncated stream with an OpenAI error event and meters an estimate', async () => {
    const text = fixtureText('stream/hf-groq-gpt-oss-120b.no-usage.sse');
    const cut = text.slice(0, text.indexOf('"content":" Paris"'));
    const wholeEvents = cut.slice(0, cut.lastIndexOf('\n\n') + 2);
    stream(cut);
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: withUsage });
    const received = await res.text();
    expect(received.startsWith(wholeEvents)).toBe(true);
    const tail = received.slice(wholeEvents.length);
    expect(tail).toMatch(/^event: error\ndata: /);
    expect(JSON.parse(tail.slice(tail.indexOf('{')))).toMatchObject({ error: { code: 'stream_truncated' } });
    const row = await rowFor(res.headers.get('x-request-id'));
    expect(row).toMatchObject({ status: 'upstream_error', http_status: 502, usage_source: 'estimated' });
    expect(Number(row?.completion_tokens)).toBeGreaterThan(0);
  });

  it('ends a stalled stream after UPSTREAM_TIMEOUT_MS with an error event and a row', async () => {
    const first = fixtureText('stream/hf-groq-gpt-oss-120b.include-usage.sse')
      .split(/(?<=\n\n)/)
      .slice(0, 3)
      .join('');
    upstream.use(
      http.post(`${upstream.url}/chat/completions`, () => {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(encoder.encode(first));
            // then nothing, ever
          },
        });
        return new HttpResponse(body, { headers: SSE_HEADERS });
      }),
    );
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: withUsage });
    const received = await res.text();
    expect(received.startsWith(first)).toBe(true);
    expect(received.slice(first.length)).toMatch(/^event: error\ndata: .*"code":"upstream_timeout"/);
    const row = await rowFor(res.headers.get('x-request-id'));
    expect(row).toMatchObject({ status: 'upstream_error', http_status: 504, usage_source: 'estimated' });
  });

  it('answers an upstream error before the stream as a JSON error, metered at zero', async () => {
    upstream.use(
      http.post(`${upstream.url}/chat/completions`, () =>
        HttpResponse.json({ error: 'Invalid username or password.' }, { status: 401 }),
      ),
    );
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: withUsage });
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const row = await rowFor(res.headers.get('x-request-id'));
    expect(row).toMatchObject({ status: 'upstream_error', http_status: 502, cost_total: '0' });
  });

  it('aborts the upstream at once when the client goes away, and meters what was streamed', async () => {
    const events = fixtureText('stream/hf-groq-gpt-oss-120b.no-usage.sse').split(/(?<=\n\n)/);
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((resolve) => {
      upstreamClosed = resolve;
    });
    upstream.use(
      http.post(`${upstream.url}/chat/completions`, ({ request }) => {
        request.signal.addEventListener('abort', () => upstreamClosed());
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            for (const event of events.slice(0, 8)) controller.enqueue(encoder.encode(event));
            // holds the rest: a long generation the client abandons
          },
        });
        return new HttpResponse(body, { headers: SSE_HEADERS });
      }),
    );
    const base = await gw.listen();
    const res = await undiciRequest(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(withoutUsage),
    });
    const requestId = res.headers['x-request-id'] as string;
    let received = '';
    for await (const chunk of res.body) {
      received += chunk.toString();
      if (received.split('\n\n').length > 8) break;
    }
    res.body.destroy();
    await closed;
    expect(upstream.aborted).toBe(1);
    let row: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && !row; i++) {
      row = await rowFor(requestId);
      if (!row) await new Promise((r) => setTimeout(r, 20));
    }
    expect(row).toMatchObject({ status: 'client_aborted', usage_source: 'estimated', stream: true });
    expect(Number(row?.prompt_tokens)).toBeGreaterThan(0);
    expect(Number(row?.completion_tokens)).toBeGreaterThan(0);
  });
});
