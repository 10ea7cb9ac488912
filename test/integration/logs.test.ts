// Structured logs: one JSON line per metered request, and never a secret in any line.
import { Writable } from 'node:stream';
import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { fixtureText } from '../helpers/fixtures.ts';
import { ADMIN_KEY, HF_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';

describe('request logs', () => {
  const lines: string[] = [];
  let upstream: MockUpstream;
  let gw: TestGateway;
  let clientKey: string;

  beforeAll(async () => {
    upstream = await startMockUpstream(
      http.post('*/chat/completions', async ({ request }) => {
        const body = (await request.json()) as { messages: Array<{ content: string }> };
        const say = body.messages[0]?.content;
        // an upstream that echoes the credentials it was sent, as a badly behaved proxy might
        if (say === 'echo')
          return HttpResponse.json(
            { error: `bad token ${request.headers.get('authorization')}` },
            { status: 500 },
          );
        if (say === 'drop') return HttpResponse.error();
        return new HttpResponse(fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json'), {
          headers: { 'content-type': 'application/json' },
        });
      }),
    );
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    gw = await startTestGateway({
      backend: 'pglite',
      upstreamUrl: upstream.url,
      logger: createLogger({ level: 'debug', destination }),
    });
    clientKey = (
      (await (await gw.call('/admin/keys', { method: 'POST', json: { name: 'app' } })).json()) as {
        key: string;
      }
    ).key;
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
  });

  const chat = (content: string, key = clientKey) =>
    gw.call('/v1/chat/completions', {
      method: 'POST',
      key,
      json: { model: 'openai/gpt-oss-120b:groq', messages: [{ role: 'user', content }] },
    });

  it('writes one JSON line per metered request with its id, key, model, tokens, cost and latency', async () => {
    const res = await chat('hello');
    const requestId = res.headers.get('x-request-id');
    const line = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.request_id === requestId);
    expect(line).toMatchObject({
      msg: 'completion',
      model: 'openai/gpt-oss-120b:groq',
      status: 'ok',
      prompt_tokens: 81,
      completion_tokens: 76,
      cost_usd: '0.000309',
      upstream_request_id: expect.any(String),
    });
    expect(line?.key_id).toMatch(/^key_/);
    expect(typeof line?.latency_ms).toBe('number');
  });

  it('never logs the upstream token, a client key, the admin key or an Authorization value', async () => {
    await chat('echo');
    await chat('drop');
    await chat('hello', 'tg-wrong-key-that-is-not-real');
    await gw.call('/admin/keys', { key: clientKey });
    await gw.call('/v1/chat/completions', { method: 'POST', key: ADMIN_KEY, body: '{broken' });
    expect(lines.length).toBeGreaterThan(3);
    const all = lines.join('\n');
    for (const secret of [HF_TOKEN, clientKey, ADMIN_KEY, 'tg-wrong-key-that-is-not-real']) {
      expect(all).not.toContain(secret);
    }
  });
});

describe('/metrics', () => {
  it('is open by default and behind the admin key when METRICS_REQUIRE_ADMIN=true', async () => {
    const open = await startTestGateway({ backend: 'pglite', upstreamUrl: 'http://127.0.0.1:9/v1' });
    const closed = await startTestGateway({
      backend: 'pglite',
      upstreamUrl: 'http://127.0.0.1:9/v1',
      env: { METRICS_REQUIRE_ADMIN: 'true' },
    });
    try {
      const scraped = await open.call('/metrics', { key: null });
      expect(scraped.status).toBe(200);
      const text = await scraped.text();
      expect(text).toContain('tollgate_usage_spool_depth 0');
      expect(text).toContain('tollgate_usage_rows_refused 0');
      expect((await closed.call('/metrics', { key: null })).status).toBe(401);
      expect((await closed.call('/metrics')).status).toBe(200);
    } finally {
      await open.close();
      await closed.close();
    }
  });
});
