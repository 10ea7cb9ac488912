// Usage that bills nothing, or contradicts itself, is not taken at its word, on a JSON reply and on a
// stream alike: an all-zero usage is estimated, a later zero or smaller snapshot never erases a real
// one, and a self-contradicting usage is stored flagged, as received, with total = prompt + completion,
// so /usage totals never sum a bogus total_tokens.
import { HttpResponse, http } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { BACKENDS } from '../helpers/databases.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';

// starting a gateway (or a test) on a busy machine can outlast the defaults
vi.setConfig({ hookTimeout: 60_000, testTimeout: 60_000 });

const MODEL = 'openai/gpt-oss-120b:groq';
const SSE = { 'content-type': 'text/event-stream' };
const request = (stream: boolean) => ({
  model: MODEL,
  messages: [{ role: 'user', content: 'Say hello to the whole wide world, please.' }],
  ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
});
const TEXT = 'Hello there, whole wide world! It is a fine day to be generating some text.';

const reply = (usage: unknown) => ({
  id: 'chatcmpl-u',
  object: 'chat.completion',
  model: MODEL,
  choices: [{ index: 0, message: { role: 'assistant', content: TEXT }, finish_reason: 'stop' }],
  usage,
});
const chunk = (body: Record<string, unknown>) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-u', object: 'chat.completion.chunk', model: MODEL, ...body })}\n\n`;
/** the text, then one usage chunk per snapshot, then [DONE] */
const stream = (...usages: unknown[]) =>
  chunk({ choices: [{ index: 0, delta: { content: TEXT }, finish_reason: 'stop' }] }) +
  usages.map((usage) => chunk({ choices: [], usage })).join('') +
  'data: [DONE]\n\n';

const REAL = { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 };
const ZERO = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
const BOGUS = {
  prompt_tokens: 100,
  completion_tokens: 10,
  total_tokens: 2_000_000_000,
  prompt_tokens_details: { cached_tokens: 500 },
  completion_tokens_details: { reasoning_tokens: 11 },
};

type Totals = { requests: number; prompt_tokens: number; completion_tokens: number; total_tokens: number };

describe.each(BACKENDS)('usage that bills nothing or contradicts itself, on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;
  gatewaySuite({ backend }, (suite) => ({ gw, upstream } = suite));

  /** one call through a fresh key; its row and the key's /usage totals */
  const call = async (streamed: boolean, answer: string) => {
    upstream.use(
      http.post(
        `${upstream.url}/chat/completions`,
        () =>
          new HttpResponse(answer, {
            headers: streamed ? SSE : { 'content-type': 'application/json' },
          }),
      ),
    );
    const key = (await (
      await gw.call('/admin/keys', { method: 'POST', json: { name: 'sanity' } })
    ).json()) as { id: string; key: string };
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      json: request(streamed),
      key: key.key,
    });
    expect(res.status).toBe(200);
    const body = await res.text();
    const row = await gw.usageRow(res.headers.get('x-request-id'));
    const totals = ((await (await gw.call(`/usage?key_id=${key.id}`)).json()) as { totals: Totals }).totals;
    return { body, row, totals };
  };

  describe.each([
    ['a JSON reply', false],
    ['a stream', true],
  ] as const)('on %s', (_, streamed) => {
    const answer = (usage: unknown) => (streamed ? stream(usage) : JSON.stringify(reply(usage)));

    it('estimates an all-zero usage on a reply that generated text, instead of billing $0', async () => {
      const { row, totals } = await call(streamed, answer(ZERO));
      expect(row).toMatchObject({ status: 'ok', usage_source: 'estimated' });
      expect(Number(row?.prompt_tokens)).toBeGreaterThan(0);
      expect(Number(row?.completion_tokens)).toBeGreaterThan(0);
      expect(Number(row?.cost_total)).toBeGreaterThan(0);
      expect(totals.total_tokens).toBe(Number(row?.prompt_tokens) + Number(row?.completion_tokens));
    });

    it('stores a self-contradicting usage flagged and as received, with total = prompt + completion', async () => {
      const { row, totals } = await call(streamed, answer(BOGUS));
      expect(row).toMatchObject({
        status: 'ok',
        usage_source: 'upstream',
        prompt_tokens: 100,
        completion_tokens: 10,
        total_tokens: 110,
        cached_tokens: 100,
        reasoning_tokens: 10,
      });
      expect(row?.error).toBe(
        'upstream usage contradicts itself (cached_tokens 500 > prompt_tokens 100, reasoning_tokens 11 > completion_tokens 10, total_tokens 2000000000 ≠ prompt_tokens + completion_tokens 110)',
      );
      expect(row?.usage_raw).toEqual(BOGUS);
      expect(totals).toMatchObject({
        requests: 1,
        prompt_tokens: 100,
        completion_tokens: 10,
        total_tokens: 110,
      });
    });
  });

  it('never lets a later zero usage chunk erase a real one', async () => {
    const { body, row, totals } = await call(true, stream(REAL, ZERO));
    expect(body).toBe(stream(REAL, ZERO));
    expect(row).toMatchObject({
      usage_source: 'upstream',
      prompt_tokens: 12,
      completion_tokens: 7,
      total_tokens: 19,
    });
    expect(Number(row?.cost_total)).toBeGreaterThan(0);
    expect(totals.total_tokens).toBe(19);
  });

  it('never lets a later smaller usage chunk erase a real one', async () => {
    const smaller = { prompt_tokens: 12, completion_tokens: 1, total_tokens: 13 };
    const { row } = await call(true, stream(REAL, smaller));
    expect(row).toMatchObject({ usage_source: 'upstream', prompt_tokens: 12, completion_tokens: 7 });
  });

  it('still moves to a later, larger snapshot (cumulative, never summed)', async () => {
    const larger = { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 };
    const { row } = await call(true, stream(REAL, larger));
    expect(row).toMatchObject({
      usage_source: 'upstream',
      prompt_tokens: 12,
      completion_tokens: 9,
      total_tokens: 21,
    });
  });
});
