// An upstream that echoes the gateway's Authorization header everywhere it can: in a 2xx body, in
// passed-through headers, in a JSON error, in an SSE error event that is not OpenAI-shaped, in a
// streamed delta. The token reaches no client byte or header, no row, and no CSV export.
import { HttpResponse, http } from 'msw';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/databases.ts';
import { fixtureJson, fixtureText } from '../helpers/fixtures.ts';
import { gatewaySuite, HF_TOKEN, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { chatRequest } from '../helpers/requests.ts';

const reply = fixtureJson<Record<string, unknown>>('nonstream/hf-groq-gpt-oss-120b.response.json');
const streamText = fixtureText('stream/hf-groq-gpt-oss-120b.include-usage.sse');

/** Every header the gateway passes through, each carrying the credential the upstream was sent. */
const echoHeaders = (auth: string) => ({
  'x-ratelimit-remaining-requests': auth,
  'retry-after': auth,
  'x-request-id': `req_${auth}`,
  'x-inference-provider': 'groq',
});

describe.each(BACKENDS)('an upstream that echoes its credential, on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;
  gatewaySuite({ backend }, (suite) => ({ gw, upstream } = suite));

  const serve = (answer: (auth: string) => Response) =>
    upstream.use(
      http.post(`${upstream.url}/chat/completions`, ({ request }) =>
        answer(request.headers.get('authorization') ?? ''),
      ),
    );

  /** The whole client-visible reply (status line aside) and the row, with the token nowhere in them. */
  async function expectNoToken(res: Response) {
    const headers = [...res.headers].map(([name, value]) => `${name}: ${value}`).join('\n');
    const body = await res.text();
    const row = await gw.usageRow(res.headers.get('x-request-id'));
    expect(row).toBeDefined();
    for (const seen of [headers, body, JSON.stringify(row)]) {
      expect(seen).not.toContain(HF_TOKEN);
    }
    return { headers, body, row };
  }

  it('redacts a 2xx JSON body and every passed-through header', async () => {
    serve((auth) =>
      HttpResponse.json({ ...reply, system_fingerprint: auth }, { headers: echoHeaders(auth) }),
    );
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: chatRequest });
    expect(res.status).toBe(200);
    const { headers, body, row } = await expectNoToken(res);
    expect(body).toContain('"system_fingerprint":"Bearer [redacted]"');
    expect(headers).toContain('x-ratelimit-remaining-requests: Bearer [redacted]');
    expect(row).toMatchObject({
      status: 'ok',
      upstream_request_id: 'req_Bearer [redacted]',
      served_by: 'groq',
    });
  });

  it('redacts a JSON error body, as a string error and in OpenAI’s shape', async () => {
    serve((auth) =>
      HttpResponse.json({ error: `Invalid token ${auth}` }, { status: 400, headers: echoHeaders(auth) }),
    );
    const res = await gw.call('/v1/chat/completions', { method: 'POST', json: chatRequest });
    expect(res.status).toBe(400);
    const { body, row } = await expectNoToken(res);
    expect(body).toContain('Invalid token Bearer [redacted]');
    expect(row).toMatchObject({ status: 'upstream_error', usage_source: 'none', cost_total: '0' });
  });

  it('redacts an SSE error event that is not OpenAI-shaped, and a streamed delta', async () => {
    serve((auth) => {
      const events = streamText.split(/(?<=\n\n)/).slice(0, 3);
      const delta = `data: {"choices":[{"index":0,"delta":{"content":"${auth}"}}]}\n\n`;
      return new HttpResponse(`${events.join('')}${delta}event: error\ndata: upstream said ${auth}\n\n`, {
        headers: { 'content-type': 'text/event-stream', ...echoHeaders(auth) },
      });
    });
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      json: { ...chatRequest, stream: true },
    });
    const { body, row } = await expectNoToken(res);
    expect(body).toContain('"delta":{"content":"Bearer [redacted]"}');
    expect(body).toContain(
      'event: error\ndata: {"error":{"message":"The upstream stream failed: upstream said Bearer [redacted]"',
    );
    expect(row).toMatchObject({ status: 'upstream_error', stream: true });
    const csv = await (await gw.call('/usage?format=csv')).text();
    expect(csv).toContain('upstream said Bearer [redacted]');
    expect(csv).not.toContain(HF_TOKEN);
  });
});
