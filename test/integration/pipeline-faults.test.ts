// Replies and requests a client or an upstream controls, each ending in a clean answer and one row:
// 2xx bodies that are not completions, garbage and oversized streams, a finish written with spaces,
// a client body that must reach the upstream byte for byte, and bounds on what a client may send.
import { sql } from 'drizzle-orm';
import { HttpResponse, http } from 'msw';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/databases.ts';
import { fixtureText } from '../helpers/fixtures.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { chatRequest, expectError, json } from '../helpers/requests.ts';

const SSE = { 'content-type': 'text/event-stream' };
const streamText = fixtureText('stream/hf-groq-gpt-oss-120b.include-usage.sse');

describe.each(BACKENDS)('hostile replies and requests on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;
  gatewaySuite({ backend, env: { MAX_UPSTREAM_BODY_BYTES: '4096' } }, (suite) => ({ gw, upstream } = suite));

  const answer = (body: string, init: ResponseInit = {}) =>
    upstream.use(http.post(`${upstream.url}/chat/completions`, () => new HttpResponse(body, init)));
  const chat = (body: unknown, key?: string) =>
    gw.call('/v1/chat/completions', { method: 'POST', json: body, ...(key ? { key } : {}) });
  const row = (res: Response) => gw.usageRow(res.headers.get('x-request-id'));

  it.each(['null', '[]', '"a string"', '42'])(
    'answers a 2xx body of %s with 502, one row, and the reservation released',
    async (body) => {
      const key = await json<{ id: string; key: string }>(
        gw.call('/admin/keys', { method: 'POST', json: { name: 'budgeted', monthly_budget_usd: '1' } }),
      );
      answer(body, { headers: { 'content-type': 'application/json' } });
      const res = await chat(chatRequest, key.key);
      expect(res.status).toBe(502);
      expect((await json<{ error: { message: string } }>(res)).error.message).toMatch(/not a JSON object/);
      expect(await row(res)).toMatchObject({
        status: 'upstream_error',
        http_status: 502,
        usage_source: 'none',
        cost_total: '0',
      });
      const [spend] = await gw.deps.database.rows<{ released: boolean }>(
        sql`select reserved_usd = 0 as released from key_spend where api_key_id = ${key.id}`,
      );
      expect(spend?.released).toBe(true);
    },
  );

  it('ends a stream of garbage with an error event, and bills nothing for it', async () => {
    answer('data: this is not json\n\n', { headers: SSE });
    const res = await chat({ ...chatRequest, stream: true });
    const text = await res.text();
    expect(text).toMatch(
      /^event: error\ndata: \{"error":\{"message":"The upstream sent a stream event that is not JSON\./,
    );
    expect(await row(res)).toMatchObject({
      status: 'upstream_error',
      usage_source: 'none',
      cost_total: '0',
      prompt_tokens: 0,
    });
  });

  it('reads events as JSON: a finish written with spaces and no [DONE] is a clean end', async () => {
    const spaced =
      'data: {"id":"chatcmpl-1","model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason": "stop"}]}\n\n';
    answer(spaced, { headers: SSE });
    const res = await chat({ ...chatRequest, stream: true });
    expect(await res.text()).toBe(spaced);
    expect(await row(res)).toMatchObject({
      status: 'ok',
      http_status: 200,
      usage_source: 'estimated',
      error: null,
    });
  });

  it('gives the stream row the upstream request id from the chunks when no header names it', async () => {
    answer(streamText, { headers: SSE });
    const res = await chat({ ...chatRequest, stream: true });
    await res.text();
    const firstId = /"id":"(chatcmpl-[^"]+)"/.exec(streamText)?.[1];
    expect(firstId).toBeDefined();
    expect(await row(res)).toMatchObject({ status: 'ok', upstream_request_id: firstId });
  });

  it('sends a streamed body upstream as the client’s bytes with only stream_options set', async () => {
    answer(streamText, { headers: SSE });
    const raw = `{"model":"openai/gpt-oss-120b:groq ", "seed": 9007199254740993, "stream": true, "messages": [{"role":"user","content":"hi"}]}`;
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      body: raw,
      headers: { 'content-type': 'application/json' },
    });
    await res.text();
    expect(upstream.requests[0]?.body).toBe(`${raw.slice(0, -1)},"stream_options":{"include_usage":true}}`);
    // the model as the client wrote it, on the row as upstream
    expect(await row(res)).toMatchObject({ model: 'openai/gpt-oss-120b:groq ' });
  });

  it('answers a reply larger than MAX_UPSTREAM_BODY_BYTES with 502 and meters it', async () => {
    answer(JSON.stringify({ choices: [], pad: 'x'.repeat(5000) }), {
      headers: { 'content-type': 'application/json' },
    });
    const res = await chat(chatRequest);
    expect(res.status).toBe(502);
    expect((await json<{ error: { code: string } }>(res)).error.code).toBe('upstream_reply_too_large');
    expect(await row(res)).toMatchObject({
      status: 'upstream_error',
      http_status: 502,
      usage_source: 'none',
    });
  });

  it('ends a stream whose one event outgrows MAX_UPSTREAM_BODY_BYTES with an error event and a row', async () => {
    answer(`data: {"choices":[{"delta":{"content":"${'y'.repeat(6000)}`, { headers: SSE });
    const res = await chat({ ...chatRequest, stream: true });
    expect(await res.text()).toMatch(/^event: error\ndata: .*larger than 4096 bytes/);
    expect(await row(res)).toMatchObject({ status: 'upstream_error', http_status: 502 });
  });

  it('records an upstream 5xx as the upstream’s fault, naming its status', async () => {
    answer('{"error":{"message":"Internal Server Error","type":"internal_server_error"}}', { status: 503 });
    const res = await chat(chatRequest);
    expect(res.status).toBe(502);
    const stored = await row(res);
    expect(stored).toMatchObject({ status: 'upstream_error', http_status: 502, usage_source: 'none' });
    expect(stored?.error).toMatch(/HTTP 503/);
  });

  it.each([
    ['a model over 256 characters', { model: 'm'.repeat(257) }, 'model'],
    ['a string max_tokens', { max_tokens: '5' }, 'max_tokens'],
    ['a fractional max_completion_tokens', { max_completion_tokens: 1.5 }, 'max_completion_tokens'],
    ['a negative max_tokens', { max_tokens: -1 }, 'max_tokens'],
    ['n of 0', { n: 0 }, 'n'],
    ['a user over 256 characters', { user: 'u'.repeat(257) }, 'user'],
  ])('refuses %s with a 400 naming it, before going upstream', async (_, extra, param) => {
    const res = await chat({ ...chatRequest, ...extra });
    await expectError(res, 400, 'invalid_parameter', param);
    expect(upstream.requests).toEqual([]);
  });
});
