// OpenTelemetry (DESIGN §13): with OTEL_EXPORTER_OTLP_ENDPOINT set, a real OTLP/HTTP receiver on a local
// port gets one span per metered call (GenAI attributes, the exact cost, the caller's trace as parent)
// and the GenAI client metrics, for a chat call, a stream, a Responses call, an aborted stream and a
// request refused by its budget. Prompts and completions never leave.
import { HttpResponse, http } from 'msw';
import { request as undiciRequest } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixtureJson, fixtureText } from '../helpers/fixtures.ts';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../helpers/otlp-receiver.ts';

const chatReply = fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json');
const chatHeaders = fixtureJson<Record<string, string>>(
  'nonstream/hf-groq-gpt-oss-120b.response.headers.json',
);
const chatRequest = fixtureJson<{ model: string; messages: Array<{ content: string }> }>(
  'nonstream/hf-groq-gpt-oss-120b.request.json',
);
const streamText = fixtureText('stream/hf-groq-gpt-oss-120b.include-usage.sse');
const streamHeaders = fixtureJson<Record<string, string>>('stream/hf-groq-gpt-oss-120b.stream.headers.json');
const streamRequest = fixtureJson<Record<string, unknown>>(
  'stream/hf-groq-gpt-oss-120b.stream.request.include-usage.json',
);
const responsesReply = fixtureText('responses/hf-groq-gpt-oss-120b.response.json');
const responsesHeaders = fixtureJson<Record<string, string>>(
  'responses/hf-groq-gpt-oss-120b.response.headers.json',
);
const responsesRequest = fixtureJson<Record<string, unknown>>('responses/hf-groq-gpt-oss-120b.request.json');

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN_ID = '00f067aa0ba902b7';
const traceparent = `00-${TRACE_ID}-${PARENT_SPAN_ID}-01`;
const encoder = new TextEncoder();

describe('OpenTelemetry export over OTLP/HTTP', () => {
  let receiver: OtlpReceiver;
  let upstream: MockUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    upstream = await startMockUpstream();
    gw = await startTestGateway({
      backend: 'pglite',
      upstreamUrl: upstream.url,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_SERVICE_NAME: 'tollgate-test',
      },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    await receiver?.close();
  });
  afterEach(() => {
    expect(upstream.unhandled).toEqual([]);
    upstream.reset();
  });

  /** the exported span of this request, once the exporters have flushed */
  async function spanOf(requestId: string | null): Promise<ReceivedSpan> {
    await gw.deps.telemetry?.forceFlush();
    const span = receiver.spans.find((s) => s.attributes['tollgate.request_id'] === requestId);
    if (!span) throw new Error(`no span for ${requestId}; got ${receiver.spans.length}`);
    return span;
  }

  it('exports a chat call as a child span of the caller, with its usage and exact cost', async () => {
    upstream.use(
      http.post(
        `${upstream.url}/chat/completions`,
        () => new HttpResponse(chatReply, { headers: chatHeaders }),
      ),
    );
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      json: chatRequest,
      headers: { traceparent, tracestate: 'vendor=1' },
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id');
    const row = await gw.usageRow(requestId);
    const span = await spanOf(requestId);

    expect(span.name).toBe(`chat ${chatRequest.model}`);
    expect(span.traceId).toBe(TRACE_ID);
    expect(span.parentSpanId).toBe(PARENT_SPAN_ID);
    expect(span.kind).toBe(3); // CLIENT
    expect(span.resource['service.name']).toBe('tollgate-test');
    expect(span.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': chatRequest.model,
      'gen_ai.response.model': 'openai/gpt-oss-120b',
      'gen_ai.provider.name': 'huggingface',
      'gen_ai.usage.input_tokens': 81,
      'gen_ai.usage.output_tokens': 76,
      'gen_ai.usage.cache_read.input_tokens': 0,
      'gen_ai.usage.reasoning.output_tokens': 30,
      'gen_ai.usage.cost': '0.000309',
      'tollgate.charge_usd': '0.000309',
      'tollgate.pricing_source': row?.pricing_source,
      'tollgate.request_id': requestId,
      'tollgate.status': 'ok',
      'http.response.status_code': 200,
    });
    expect(span.attributes['tollgate.served_by']).toBe(row?.served_by ?? undefined);
    expect(span.attributes['error.type']).toBeUndefined();
    expect(res.headers.get('x-usage-cost-usd')).toBe('0.000309');
  });

  it('exports a stream when its row is committed, with the usage the stream carried', async () => {
    upstream.use(
      http.post(
        `${upstream.url}/chat/completions`,
        () => new HttpResponse(streamText, { headers: streamHeaders }),
      ),
    );
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: streamRequest });
    expect(res.status).toBe(200);
    await res.text();
    const requestId = res.headers.get('x-request-id');
    const row = await gw.usageRow(requestId);
    const span = await spanOf(requestId);
    expect(span.name).toBe(`chat ${String(streamRequest.model)}`);
    expect(span.parentSpanId ?? '').toBe('');
    expect(span.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.usage.input_tokens': Number(row?.prompt_tokens),
      'gen_ai.usage.output_tokens': Number(row?.completion_tokens),
      'gen_ai.usage.cost': row?.cost_total,
      'tollgate.status': 'ok',
      'tollgate.usage_source': 'upstream',
    });
  });

  it('exports a Responses call as a responses span', async () => {
    upstream.use(
      http.post(
        `${upstream.url}/responses`,
        () => new HttpResponse(responsesReply, { headers: responsesHeaders }),
      ),
    );
    const res = await gw.call('/v1/responses', {
      method: 'POST',
      json: responsesRequest,
      headers: { traceparent },
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id');
    const row = await gw.usageRow(requestId);
    const span = await spanOf(requestId);
    expect(span.name).toBe(`responses ${String(responsesRequest.model)}`);
    expect(span.parentSpanId).toBe(PARENT_SPAN_ID);
    expect(span.attributes).toMatchObject({
      'gen_ai.operation.name': 'responses',
      'gen_ai.usage.input_tokens': Number(row?.prompt_tokens),
      'gen_ai.usage.output_tokens': Number(row?.completion_tokens),
      'gen_ai.usage.cost': row?.cost_total,
      'tollgate.endpoint': 'responses',
    });
  });

  it('exports an aborted stream as an error span of type client_aborted', async () => {
    const events = fixtureText('stream/hf-groq-gpt-oss-120b.no-usage.sse').split(/(?<=\n\n)/);
    upstream.use(
      http.post(`${upstream.url}/chat/completions`, () => {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            for (const event of events.slice(0, 8)) controller.enqueue(encoder.encode(event));
          },
        });
        return new HttpResponse(body, { headers: streamHeaders });
      }),
    );
    const base = await gw.listen();
    const res = await undiciRequest(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', traceparent },
      body: JSON.stringify(streamRequest),
    });
    const requestId = res.headers['x-request-id'] as string;
    let received = '';
    for await (const chunk of res.body) {
      received += chunk.toString();
      if (received.split('\n\n').length > 8) break;
    }
    res.body.destroy();
    let row: Record<string, unknown> | undefined;
    for (let i = 0; i < 200 && !row; i++) {
      row = await gw.usageRow(requestId);
      if (!row) await new Promise((r) => setTimeout(r, 20));
    }
    expect(row?.status).toBe('client_aborted');
    const span = await spanOf(requestId);
    expect(span.parentSpanId).toBe(PARENT_SPAN_ID);
    expect(span.status.code).toBe(2); // ERROR
    expect(span.attributes).toMatchObject({
      'error.type': 'client_aborted',
      'tollgate.status': 'client_aborted',
      'tollgate.usage_source': 'estimated',
      'gen_ai.usage.cost': row?.cost_total,
    });
  });

  it('exports a request refused by its budget (429, no row) as an error span', async () => {
    const created = (await (
      await gw.call('/admin/keys', {
        method: 'POST',
        json: { name: 'tiny', monthly_budget_usd: '0.0000001' },
      })
    ).json()) as { key: string };
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      json: chatRequest,
      key: created.key,
      headers: { traceparent },
    });
    expect(res.status).toBe(429);
    const requestId = res.headers.get('x-request-id');
    expect(await gw.usageRow(requestId)).toBeUndefined();
    const span = await spanOf(requestId);
    expect(span.name).toBe(`chat ${chatRequest.model}`);
    expect(span.parentSpanId).toBe(PARENT_SPAN_ID);
    expect(span.status.code).toBe(2);
    expect(span.attributes).toMatchObject({
      'error.type': 'budget_exceeded',
      'http.response.status_code': 429,
      'gen_ai.request.model': chatRequest.model,
    });
    expect(span.attributes['gen_ai.usage.cost']).toBeUndefined();
  });

  it('exports the GenAI client metrics and the cost counter, and never a prompt or a completion', async () => {
    await gw.deps.telemetry?.forceFlush();
    const points = receiver.points;
    const tokens = points.filter((p) => p.metric === 'gen_ai.client.token.usage');
    expect(tokens.map((p) => p.attributes['gen_ai.token.type']).sort()).toEqual(
      expect.arrayContaining(['input', 'output']),
    );
    expect(tokens[0]?.unit).toBe('{token}');
    const input = tokens.filter((p) => p.attributes['gen_ai.token.type'] === 'input');
    expect(input.reduce((sum, p) => sum + p.value, 0)).toBeGreaterThanOrEqual(81);
    const duration = points.filter((p) => p.metric === 'gen_ai.client.operation.duration');
    expect(duration[0]?.unit).toBe('s');
    // five calls so far, the refused one counted with its error.type
    expect(duration.reduce((sum, p) => sum + (p.count ?? 0), 0)).toBeGreaterThanOrEqual(5);
    expect(duration.some((p) => p.attributes['error.type'] === 'budget_exceeded')).toBe(true);
    const cost = points.filter((p) => p.metric === 'tollgate.usage.cost');
    expect(cost.reduce((sum, p) => sum + p.value, 0)).toBeGreaterThan(0.0003);

    const exported = receiver.posts.map((p) => p.body).join('\n');
    expect(receiver.posts.every((p) => p.contentType?.startsWith('application/json'))).toBe(true);
    expect(exported).not.toContain(chatRequest.messages[0]?.content);
    expect(exported).not.toContain('Rayleigh');
    expect(exported).not.toContain('hf_test_SECRET');
  });
});
