// POST /v1/embeddings through the one metered pipeline: prompt tokens only, no output reserved (an
// 8-token embedding fits a $0.01 budget), metered from the reply's usage, else estimated from `input`;
// every endpoint list (the /usage filter, the summary, the dashboard's filter) names it.
import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenEstimator, estimateTextTokens } from '../../src/metering/tokens.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { dashboardCookie, expectError, json, type Row } from '../helpers/requests.ts';

const MODEL = 'Qwen/Qwen3-Embedding-8B';
const estimator = createTokenEstimator();
afterAll(() => estimator.close());
// the gateway's tokenizer loads on its first count: on a loaded machine that can outlast its timeout,
// and a count that times out falls back to bytes (an upper bound, not the estimate under test)
beforeAll(() => estimateTextTokens(['warm up']), 120_000);

/** An embeddings reply for `count` inputs, with `usage` when given. */
const reply = (count: number, usage?: Record<string, number>) => ({
  object: 'list',
  data: Array.from({ length: count }, (_, index) => ({ object: 'embedding', index, embedding: [0.1, -0.2] })),
  model: MODEL,
  ...(usage ? { usage } : {}),
});

const PARAGRAPH =
  'Tollgate meters every token in-line and commits a usage row before each reply reaches its client. ' +
  'An embedding request generates no output, so only its input is billed, at the input price. ';

describe.each(BACKENDS)('POST /v1/embeddings on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;

  gatewaySuite({ backend }, (suite) => ({ gw, upstream } = suite));

  const answer = (body: ReturnType<typeof reply>) =>
    upstream.use(http.post('*/embeddings', () => HttpResponse.json(body)));
  const post = (body: unknown, key?: string) =>
    gw.call('/v1/embeddings', { method: 'POST', json: body, ...(key ? { key } : {}) });
  const rowOf = async (res: Response) => {
    expect(res.status).toBe(200);
    return (await gw.usageRow(res.headers.get('x-request-id'))) as Row;
  };

  it('admits an 8-token embedding on a $0.01 budget and meters it from the reply’s usage', async () => {
    const key = await json<{ key: string }>(
      gw.call('/admin/keys', { method: 'POST', json: { name: 'embedder', monthly_budget_usd: '0.01' } }),
    );
    answer(reply(1, { prompt_tokens: 8, total_tokens: 8 }));
    const res = await post({ model: MODEL, input: 'The food was delicious.' }, key.key);
    const row = await rowOf(res);
    expect(row).toMatchObject({
      endpoint: 'embeddings',
      model: MODEL,
      status: 'ok',
      usage_source: 'upstream',
      prompt_tokens: 8,
      completion_tokens: 0,
      total_tokens: 8,
    });
    // 8 × $0.000001, the default input price
    expect(res.headers.get('x-usage-cost-usd')).toBe('0.000008');
    expect(String(row.cost_total)).toMatch(/^0\.0000080*$/);
    // the body went upstream as sent: no output bound is added to an endpoint without output
    expect(JSON.parse(upstream.requests[0]?.body ?? '{}')).toEqual({
      model: MODEL,
      input: 'The food was delicious.',
    });
  });

  it.each([
    { shape: 'a string', input: PARAGRAPH.repeat(6) },
    { shape: 'an array of strings', input: Array.from({ length: 8 }, (_, i) => `${i}: ${PARAGRAPH}`) },
  ])(
    'estimates $shape within a tenth of the tokenizer’s count when the reply has no usage',
    async ({ input }) => {
      answer(reply(Array.isArray(input) ? input.length : 1));
      const row = await rowOf(await post({ model: MODEL, input }));
      const exact = await estimator.estimateTextTokens(Array.isArray(input) ? input : [input]);
      expect(exact).toBeGreaterThan(150);
      expect(row).toMatchObject({ endpoint: 'embeddings', usage_source: 'estimated', completion_tokens: 0 });
      expect(Math.abs(Number(row.prompt_tokens) - exact)).toBeLessThanOrEqual(exact * 0.1);
    },
  );

  it.each([
    { shape: 'an array of token ids', input: Array.from({ length: 600 }, (_, i) => i + 100), tokens: 600 },
    {
      shape: 'an array of arrays of token ids',
      input: [Array(250).fill(7), Array(350).fill(9)],
      tokens: 600,
    },
  ])('counts $shape as its ids when the reply has no usage', async ({ input, tokens }) => {
    answer(reply(Array.isArray(input[0]) ? input.length : 1));
    const row = await rowOf(await post({ model: MODEL, input }));
    expect(row).toMatchObject({ usage_source: 'estimated', prompt_tokens: tokens, completion_tokens: 0 });
  });

  it('refuses a streamed request and an input of the wrong shape, naming the field', async () => {
    const streamed = await post({ model: MODEL, input: 'hi', stream: true });
    await expectError(streamed, 400, 'invalid_parameter', 'stream');
    await expectError(await post({ model: MODEL, input: [1, 'two'] }), 400, 'invalid_parameter', 'input');
    expect(upstream.requests).toHaveLength(0);
  });

  it('is a value of the /usage endpoint filter, a group of the summary and an option of the dashboard', async () => {
    answer(reply(1, { prompt_tokens: 5, total_tokens: 5 }));
    const id = (await post({ model: MODEL, input: 'listed' })).headers.get('x-request-id');
    const usage = await json<{ data: Row[] }>(gw.call('/usage?endpoint=embeddings&limit=1000'));
    expect(usage.data.map((row) => row.request_id)).toContain(id);
    expect(usage.data.every((row) => row.endpoint === 'embeddings')).toBe(true);
    const summary = await json<{ data: Array<{ group: string }> }>(
      gw.call('/usage/summary?group_by=endpoint'),
    );
    expect(summary.data.map((g) => g.group)).toContain('embeddings');
    const page = await gw.call('/dashboard?endpoint=embeddings', {
      key: null,
      headers: { cookie: await dashboardCookie(gw) },
    });
    expect(await page.text()).toMatch(/<option value="embeddings" selected="">embeddings<\/option>/);
  });
});
