// The worst case reserved is the worst case sent (issue 23 item 2): a key with a budget whose request
// sets no output bound goes upstream with the bound it reserved for, in its endpoint's field, every
// other byte as the client sent it; a key without a budget's body arrives byte for byte.
import { HttpResponse, http } from 'msw';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/databases.ts';
import { fixtureText } from '../helpers/fixtures.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { json } from '../helpers/requests.ts';

const CHAT_REPLY = fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json');
const RESPONSES_REPLY = fixtureText('responses/hf-groq-gpt-oss-120b.response.json');
const STREAM = fixtureText('stream/hf-groq-gpt-oss-120b.include-usage.sse');

// odd spacing, and an integer beyond 2^53 that a re-serialized body would round
const CHAT_BODY =
  '{ "model": "openai/gpt-oss-120b:groq",  "messages": [{"role":"user","content":"hi"}] , "seed": 12345678901234567890 }';
const RESPONSES_BODY = '{"model":"openai/gpt-oss-120b:groq","input":"hi","metadata":{"n":"1"}}';

describe.each(BACKENDS)('the output bound sent upstream on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;

  gatewaySuite(
    {
      backend,
      handlers: [
        http.post('*/chat/completions', async ({ request }) => {
          const streamed = ((await request.json()) as { stream?: boolean }).stream === true;
          return streamed
            ? new HttpResponse(STREAM, { headers: { 'content-type': 'text/event-stream' } })
            : HttpResponse.text(CHAT_REPLY, { headers: { 'content-type': 'application/json' } });
        }),
        http.post('*/responses', () =>
          HttpResponse.text(RESPONSES_REPLY, { headers: { 'content-type': 'application/json' } }),
        ),
      ],
    },
    (suite) => ({ gw, upstream } = suite),
  );

  const keyWith = async (limits: Record<string, unknown>) =>
    (await json<{ key: string }>(gw.call('/admin/keys', { method: 'POST', json: { name: 'k', ...limits } })))
      .key;
  const send = async (path: string, body: string, key: string) => {
    const res = await gw.call(path, {
      method: 'POST',
      body,
      key,
      headers: { 'content-type': 'application/json' },
    });
    await res.text();
    expect(res.status).toBe(200);
    return upstream.requests.at(-1)?.body;
  };
  /** `body` with `member` appended as its last member, as the gateway writes it. */
  const withMember = (body: string, member: string) => body.replace(/\s*}$/, `,${member}$&`);

  it('sends max_tokens = the reserved 4,096 for a budgeted key’s chat request without a bound', async () => {
    const key = await keyWith({ monthly_budget_usd: '1' });
    expect(await send('/v1/chat/completions', CHAT_BODY, key)).toBe(
      withMember(CHAT_BODY, '"max_tokens":4096'),
    );
  });

  it('sends max_output_tokens for a budgeted key’s Responses request without a bound', async () => {
    const key = await keyWith({ monthly_budget_usd: '1' });
    expect(await send('/v1/responses', RESPONSES_BODY, key)).toBe(
      withMember(RESPONSES_BODY, '"max_output_tokens":4096'),
    );
  });

  it('bounds a budgeted stream too, next to the stream_options metering adds', async () => {
    const key = await keyWith({ monthly_budget_usd: '1' });
    const body =
      '{"model":"openai/gpt-oss-120b:groq","messages":[{"role":"user","content":"hi"}],"stream":true}';
    const sent = JSON.parse((await send('/v1/chat/completions', body, key)) ?? '{}');
    expect(sent).toMatchObject({ max_tokens: 4096, stream_options: { include_usage: true } });
  });

  it('replaces a null bound, and leaves a bound the client gave as it is', async () => {
    const key = await keyWith({ monthly_budget_usd: '1' });
    const nulled = '{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":null}';
    expect(await send('/v1/chat/completions', nulled, key)).toBe(nulled.replace('null', '4096'));
    const bounded = '{"model":"m","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":50}';
    expect(await send('/v1/chat/completions', bounded, key)).toBe(bounded);
  });

  it('sends a key without a budget’s body byte for byte, with or without other limits', async () => {
    expect(await send('/v1/chat/completions', CHAT_BODY, await keyWith({}))).toBe(CHAT_BODY);
    expect(await send('/v1/chat/completions', CHAT_BODY, await keyWith({ rpm_limit: 100 }))).toBe(CHAT_BODY);
    expect(await send('/v1/responses', RESPONSES_BODY, await keyWith({}))).toBe(RESPONSES_BODY);
  });
});
