// Hostile request bodies get a clean 4xx, never a 500 or a frozen gateway: nesting past
// MAX_JSON_DEPTH, a text part that is not text, a prompt whose tokenizing is superlinear.
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../src/routes/validation.ts';
import { ADMIN_KEY, gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import { expectError, json } from '../helpers/requests.ts';

const MODEL = 'openai/gpt-oss-120b:groq';
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('hostile request bodies', () => {
  let gw: TestGateway;
  gatewaySuite({ backend: 'pglite' }, (suite) => ({ gw } = suite));

  const post = (body: string, key = ADMIN_KEY) =>
    gw.call('/v1/chat/completions', {
      method: 'POST',
      key,
      body,
      headers: { 'content-type': 'application/json' },
    });

  /** A key whose budget no request fits: admission estimates the prompt, then refuses with 429. */
  const brokeKey = async () =>
    (
      await json<{ key: string }>(
        gw.call('/admin/keys', { method: 'POST', json: { name: 'broke', monthly_budget_usd: '0.000001' } }),
      )
    ).key;

  it.each([
    ['in messages', (deep: string) => `{"model":"${MODEL}","messages":[{"role":"user","content":${deep}}]}`],
    [
      'in a field of a streamed request',
      (deep: string) =>
        `{"model":"${MODEL}","stream":true,"messages":[{"role":"user","content":"hi"}],"x":${deep}}`,
    ],
    ['in an admin body', (deep: string) => `{"name":${deep}}`],
  ])('refuses a body nested 100,000 deep %s with a 400 naming the problem', async (where, build) => {
    const res =
      where === 'in an admin body'
        ? await gw.call('/admin/keys', {
            method: 'POST',
            body: build(nested(100_000)),
            headers: { 'content-type': 'application/json' },
          })
        : await post(build(nested(100_000)));
    const text = await expectError(res, 400, 'json_too_deep');
    expect(text).toContain(`deeper than ${MAX_JSON_DEPTH} levels`);
  });

  it('accepts nesting up to the limit, and brackets inside strings are text', async () => {
    const key = await brokeKey();
    const deep = nested(MAX_JSON_DEPTH - 4);
    const body = `{"model":"${MODEL}","messages":[{"role":"user","content":"${'['.repeat(1000)}\\"["}],"x":${deep}}`;
    // past validation: refused by the budget, after the estimate
    const res = await post(body, key);
    expect(res.status).toBe(429);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('budget_exceeded');
  });

  it('meters a text part whose text is an object instead of failing with 500', async () => {
    const key = await brokeKey();
    const body = JSON.stringify({
      model: MODEL,
      messages: [{ role: 'user', content: [{ type: 'text', text: { toString: 1 } }] }],
    });
    const res = await post(body, key);
    expect(res.status).toBe(429);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('budget_exceeded');
  });

  it('answers /healthz at once while prompts that tokenize superlinearly are estimated', async () => {
    const key = await brokeKey();
    const base = await gw.listen();
    const prompts = ['x'.repeat(100_000), 'q'.repeat(200_000)].map((content) =>
      fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, max_tokens: 1, messages: [{ role: 'user', content }] }),
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(performance.now() - started).toBeLessThan(1_000);
    // the estimates still come back and are sane: 'q' × 200,000 is 100,000 o200k tokens, +71 of framing,
    // + 1 completion token at $0.000003
    const answers = await Promise.all(prompts.map(async (res) => (await res).json()));
    expect(JSON.stringify(answers[1])).toContain('worst case $0.100074');
  }, 60_000);
});
