// Every way a stream ends settles the same three things: its row (or, when the row cannot be recorded,
// an OpenAI-shaped error event before the end), its budget reservation, and its key's max_concurrent
// slot. One test per ending: done, client gone, upstream gone, row refused, shutdown cut; and a usage
// object nested 6,000 deep, which is stored reduced and flagged instead of losing the row.
import { sql } from 'drizzle-orm';
import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RowRefusedError } from '../../src/ledger/recorder.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { gatewaySuite, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';

// starting a gateway (or a test) on a busy machine can outlast the defaults
vi.setConfig({ hookTimeout: 60_000, testTimeout: 60_000 });

const encoder = new TextEncoder();
const SSE = { 'content-type': 'text/event-stream' };
const MODEL = 'openai/gpt-oss-120b:groq';
const streamBody = {
  model: MODEL,
  stream: true,
  stream_options: { include_usage: true },
  messages: [{ role: 'user', content: 'hi' }],
};
const jsonBody = { model: MODEL, messages: [{ role: 'user', content: 'hi' }] };
const jsonReply = () =>
  HttpResponse.json({
    id: 'chatcmpl-json',
    model: MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
  });

const chunk = (content: string, finish: string | null = null) =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-s',
    object: 'chat.completion.chunk',
    model: MODEL,
    choices: [{ index: 0, delta: { content }, finish_reason: finish }],
  })}\n\n`;
const usageChunk = (usage: string) =>
  `data: {"id":"chatcmpl-s","object":"chat.completion.chunk","model":"${MODEL}","choices":[],"usage":${usage}}\n\n`;
const DONE = 'data: [DONE]\n\n';
const COMPLETE = `${chunk('Hello')}${chunk(' there', 'stop')}${usageChunk('{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}')}${DONE}`;

type KeyView = { id: string; key: string; in_flight_reserved_usd: string };
type Row = Record<string, unknown>;

/** The parts of a gateway the settlement checks need, for a suite's gateway or a test's own. */
function checks(gw: () => TestGateway) {
  const createKey = async () =>
    (await (
      await gw().call('/admin/keys', {
        method: 'POST',
        json: { name: 'one-at-a-time', max_concurrent: 1, monthly_budget_usd: '5' },
      })
    ).json()) as KeyView;
  const openStream = (key: string) =>
    gw().call('/v1/chat/completions', { method: 'POST', json: streamBody, key });
  const reserved = async (keyId: string) => {
    const [spend] = await gw().deps.database.rows<{ released: boolean; held: number }>(
      sql`select coalesce((select reserved_usd = 0 from key_spend where api_key_id = ${keyId}), true) as released,
                 (select count(*)::int from budget_reservations where api_key_id = ${keyId}) as held`,
    );
    return spend;
  };
  /** the stream's row, once every call in flight has settled */
  const settledRow = async (res: Response): Promise<Row | undefined> => {
    expect(await gw().deps.inflight.settled(20_000)).toBe(true);
    return gw().usageRow(res.headers.get('x-request-id'));
  };
  /** the reservation is gone and the key's one slot is free: a next request is admitted */
  const expectSettled = async (key: KeyView) => {
    expect(await reserved(key.id)).toEqual({ released: true, held: 0 });
    const next = await gw().call('/v1/chat/completions', { method: 'POST', json: jsonBody, key: key.key });
    expect(next.status).toBe(200);
    await next.arrayBuffer();
  };
  return { createKey, openStream, reserved, settledRow, expectSettled };
}

/** A stream of `head`, then held open until the client or the gateway ends it. */
function heldStream(head: string) {
  return () =>
    new HttpResponse(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encoder.encode(head));
        },
      }),
      { headers: SSE },
    );
}

describe.each(BACKENDS)('how a stream ends, on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;
  gatewaySuite(
    { backend, handlers: [http.post('*/chat/completions', jsonReply)] },
    (suite) => ({ gw, upstream } = suite),
  );
  const { createKey, openStream, reserved, settledRow, expectSettled } = checks(() => gw);
  const streamOnce = (respond: () => Response) =>
    upstream.use(
      http.post(`${upstream.url}/chat/completions`, async ({ request }) => {
        const body = (await request.clone().json()) as { stream?: boolean };
        return body.stream === true ? respond() : jsonReply();
      }),
    );

  it('done: the row is committed before [DONE], and the slot and reservation are free after', async () => {
    const key = await createKey();
    streamOnce(() => new HttpResponse(COMPLETE, { headers: SSE }));
    const res = await openStream(key.key);
    expect(await res.text()).toBe(COMPLETE);
    expect(await settledRow(res)).toMatchObject({
      status: 'ok',
      usage_source: 'upstream',
      prompt_tokens: 12,
      completion_tokens: 7,
      error: null,
    });
    await expectSettled(key);
  });

  it('client gone: the upstream is stopped, what was streamed is metered, the slot is freed', async () => {
    const key = await createKey();
    streamOnce(heldStream(chunk('Hello, this is a long answer')));
    const res = await openStream(key.key);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    // while the stream is open it holds a reservation and the key's one slot
    expect((await reserved(key.id))?.held).toBe(1);
    const refused = await gw.call('/v1/chat/completions', { method: 'POST', json: jsonBody, key: key.key });
    expect(refused.status).toBe(429);
    await reader.cancel();
    expect(await settledRow(res)).toMatchObject({ status: 'client_aborted', usage_source: 'estimated' });
    await expectSettled(key);
  });

  it('upstream gone: the client gets an error event, the row is written, the slot is freed', async () => {
    const key = await createKey();
    streamOnce(
      () =>
        new HttpResponse(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(encoder.encode(chunk('Hello')));
              setImmediate(() => controller.error(new Error('the upstream dropped the connection')));
            },
          }),
          { headers: SSE },
        ),
    );
    const res = await openStream(key.key);
    const text = await res.text();
    expect(text.startsWith(chunk('Hello'))).toBe(true);
    expect(text).toMatch(
      /event: error\ndata: \{"error":\{"message":".+","type":"[a-z_]+","param":null,"code":/,
    );
    expect(await settledRow(res)).toMatchObject({ status: 'upstream_error', http_status: 502 });
    await expectSettled(key);
  });

  it('row refused: the client gets an error event instead of [DONE], the slot and reservation are freed', async () => {
    const key = await createKey();
    streamOnce(() => new HttpResponse(COMPLETE, { headers: SSE }));
    const recorder = gw.deps.recorder;
    const record = recorder.record;
    // the database refuses the row, and so would the spool: the recorder rejects it
    recorder.record = () => Promise.reject(new RowRefusedError('the database refused the usage row'));
    let text: string;
    let res: Response;
    try {
      res = await openStream(key.key);
      text = await res.text();
      expect(await gw.deps.inflight.settled(20_000)).toBe(true);
    } finally {
      recorder.record = record;
    }
    expect(text).not.toContain('[DONE]');
    expect(text.startsWith(`${chunk('Hello')}${chunk(' there', 'stop')}`)).toBe(true);
    const last = text.trimEnd().split('\n\n').at(-1) ?? '';
    expect(last.startsWith('event: error\ndata: ')).toBe(true);
    expect(JSON.parse(last.slice(last.indexOf('{')))).toEqual({
      error: { message: expect.any(String), type: 'api_error', param: null, code: 'usage_not_recorded' },
    });
    expect(await gw.usageRow(res.headers.get('x-request-id'))).toBeUndefined();
    await expectSettled(key);
  });

  it('stores a usage object nested 6,000 deep reduced and flagged, and bills its counts', async () => {
    const key = await createKey();
    const deep = `${'{"a":'.repeat(6000)}1${'}'.repeat(6000)}`;
    const usage = `{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19,"completion_tokens_details":${deep}}`;
    streamOnce(
      () => new HttpResponse(`${chunk('Hello', 'stop')}${usageChunk(usage)}${DONE}`, { headers: SSE }),
    );
    const res = await openStream(key.key);
    expect(await res.text()).toContain(DONE);
    const row = await settledRow(res);
    expect(row).toMatchObject({
      status: 'ok',
      usage_source: 'upstream',
      prompt_tokens: 12,
      completion_tokens: 7,
      error: expect.stringMatching(/ledger reduced usage_raw/),
    });
    expect(Number(row?.cost_total)).toBeGreaterThan(0);
    expect(JSON.stringify(row?.usage_raw).length).toBeLessThan(20_000);
    await expectSettled(key);
  });

  it('stores the JSON reply’s usage nested 6,000 deep reduced and flagged too', async () => {
    const key = await createKey();
    const deep = `${'{"a":'.repeat(6000)}1${'}'.repeat(6000)}`;
    upstream.use(
      http.post(
        `${upstream.url}/chat/completions`,
        () =>
          new HttpResponse(
            `{"id":"chatcmpl-deep","model":"${MODEL}","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"x":${deep}}}`,
            { headers: { 'content-type': 'application/json' } },
          ),
        { once: true },
      ),
    );
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: jsonBody, key: key.key });
    expect(res.status).toBe(200);
    expect(await gw.usageRow(res.headers.get('x-request-id'))).toMatchObject({
      status: 'ok',
      prompt_tokens: 10,
      completion_tokens: 5,
      error: expect.stringMatching(/ledger reduced usage_raw/),
    });
    await expectSettled(key);
  });
});

describe.each(BACKENDS)('a stream cut at shutdown, on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    upstream = await startMockUpstream(
      http.post('*/chat/completions', async ({ request }) => {
        const body = (await request.json()) as { stream?: boolean };
        return body.stream === true ? heldStream(chunk('Hello, this is a long answer'))() : jsonReply();
      }),
    );
    gw = await startTestGateway({ backend, upstreamUrl: upstream.url });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });
  const { createKey, openStream, settledRow, expectSettled } = checks(() => gw);

  it('is cut with an error event and metered, and its slot and reservation are freed', async () => {
    const key = await createKey();
    const res = await openStream(key.key);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe(chunk('Hello, this is a long answer'));
    // what shutdown does once SHUTDOWN_GRACE_MS is over
    gw.deps.inflight.abortAll('the gateway is shutting down');
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read())
      rest += new TextDecoder().decode(r.value);
    expect(rest).toMatch(
      /^event: error\ndata: \{"error":\{"message":".*shutting down.*","type":"[a-z_]+","param":null,"code":"stream_cut"\}\}\n\n$/,
    );
    expect(await settledRow(res)).toMatchObject({
      status: 'gateway_error',
      http_status: 503,
      usage_source: 'estimated',
    });
    await expectSettled(key);
  });
});
