import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDecimal } from '../../src/billing/money.ts';
import type { UsageLogInsert } from '../../src/db/schema.ts';
import { usageLogs } from '../../src/db/schema.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { fixtureText } from '../helpers/fixtures.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';

type Totals = {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost_usd: string;
  unpriced_requests: number;
};
type List = {
  object: string;
  data: Array<Record<string, unknown>>;
  totals: Totals;
  next_cursor: string | null;
};
type Summary = {
  group_by: string;
  data: Array<{ group: string; requests: number; cost_usd: string; prompt_tokens: number }>;
  totals: Totals;
};

let seq = 0;
function row(overrides: Partial<UsageLogInsert>): UsageLogInsert {
  seq += 1;
  return {
    requestId: `req_seed_${seq}`,
    createdAt: new Date('2026-11-20T10:00:00Z'),
    apiKeyId: null,
    provider: 'huggingface',
    model: 'openai/gpt-oss-120b:groq',
    stream: false,
    status: 'ok',
    httpStatus: 200,
    promptTokens: 10,
    completionTokens: 5,
    totalTokens: 15,
    usageSource: 'upstream',
    inputTokenCost: '0.000001',
    outputTokenCost: '0.000003',
    pricingSource: 'env',
    costInput: '0',
    costOutput: '0',
    costTotal: '0',
    latencyMs: 100,
    ...overrides,
  };
}

describe.each(BACKENDS)('GET /usage and /usage/summary on %s', (backend) => {
  let gw: TestGateway;
  let upstream: MockUpstream;
  let clientKey: string;

  beforeAll(async () => {
    upstream = await startMockUpstream(
      http.post(
        '*/chat/completions',
        () =>
          new HttpResponse(fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json'), {
            headers: { 'content-type': 'application/json' },
          }),
      ),
    );
    gw = await startTestGateway({ backend, upstreamUrl: upstream.url });
    clientKey = (
      (await (await gw.call('/admin/keys', { method: 'POST', json: { name: 'reader' } })).json()) as {
        key: string;
      }
    ).key;
    await gw.deps.database.db.insert(usageLogs).values([
      row({ createdAt: new Date('2026-11-01T00:00:00Z'), costTotal: '0.1', model: 'm-a', apiKeyId: 'key_a' }),
      row({
        createdAt: new Date('2026-11-01T05:30:00Z'),
        costTotal: '0.2',
        model: 'm-b',
        apiKeyId: 'key_a',
        status: 'upstream_error',
      }),
      row({
        createdAt: new Date('2026-11-02T23:59:59.999Z'),
        costTotal: '0.0000000001',
        model: 'm-a',
        pricingSource: 'builtin',
        error: 'said "no", then, left\nearly',
      }),
      // five rows at one instant: order must still be total and pages must not lose or repeat any
      ...Array.from({ length: 5 }, (_, i) =>
        row({
          createdAt: new Date('2026-11-03T12:00:00Z'),
          costTotal: '0.000001',
          model: 'm-c',
          apiKeyId: 'key_b',
          promptTokens: i,
        }),
      ),
    ]);
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
  });

  const list = async (query: string) => (await (await gw.call(`/usage?${query}`)).json()) as List;
  const november = 'from=2026-11-01&to=2026-12-01';

  it('returns rows newest first with the totals of the whole selection, money exact', async () => {
    const page = await list(`${november}&limit=2`);
    expect(page.object).toBe('list');
    expect(page.data).toHaveLength(2);
    expect(page.data[0]?.created_at).toBe('2026-11-03T12:00:00.000Z');
    expect(page.totals).toEqual({
      requests: 8,
      prompt_tokens: 3 * 10 + (0 + 1 + 2 + 3 + 4),
      completion_tokens: 40,
      total_tokens: 120,
      // 0.1 + 0.2 + 0.0000000001 + 5 × 0.000001: a float would say 0.30000500010000003
      cost_usd: '0.3000050001',
      unpriced_requests: 1,
    });
    expect(page.next_cursor).toEqual(expect.any(String));
  });

  it('walks every row exactly once across pages, even when timestamps tie', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: List = await list(`${november}&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.data.map((r) => String(r.request_id)));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toHaveLength(8);
    expect(new Set(seen).size).toBe(8);
  });

  it.each([
    ['model=m-a', 2],
    ['key_id=key_a', 2],
    ['key_id=master', 1],
    ['status=upstream_error', 1],
    ['from=2026-11-02&to=2026-11-03', 1],
    ['from=2026-11-01T05:30:00Z', 7],
    ['to=2026-11-01T05:30:00%2B00:00', 1],
  ])('narrows to %s', async (filter, requests) => {
    expect(
      (await list(`${november.includes(filter.split('=')[0] ?? '') ? '' : `${november}&`}${filter}`)).totals
        .requests,
    ).toBe(requests);
  });

  it('serves each row with the usage_logs columns under their own names', async () => {
    const [first] = (await list('model=m-a&limit=1')).data;
    expect(Object.keys(first ?? {})).toEqual(
      expect.arrayContaining([
        'request_id',
        'api_key_id',
        'cost_total',
        'pricing_source',
        'usage_raw',
        'ttft_ms',
      ]),
    );
    expect(first).toMatchObject({
      cost_total: '0.0000000001',
      input_token_cost: '0.000001',
      pricing_source: 'builtin',
    });
  });

  it.each([
    ['day', ['2026-11-01T00:00:00.000Z', '2026-11-02T00:00:00.000Z', '2026-11-03T00:00:00.000Z']],
    ['model', ['m-b', 'm-a', 'm-c']],
    ['key', ['key_a', 'key_b', 'master']],
    ['status', ['upstream_error', 'ok']],
  ])('summarizes by %s with exact sums', async (groupBy, groups) => {
    const summary = (await (
      await gw.call(`/usage/summary?${november}&group_by=${groupBy}`)
    ).json()) as Summary;
    expect(summary.group_by).toBe(groupBy);
    expect(summary.data.map((g) => g.group)).toEqual(groups);
    const sum = summary.data.reduce((acc, g) => acc + parseDecimal(g.cost_usd), 0n);
    expect(sum).toBe(parseDecimal(summary.totals.cost_usd));
    expect(summary.data.reduce((acc, g) => acc + g.requests, 0)).toBe(8);
  });

  it('summarizes by hour in UTC buckets', async () => {
    const summary = (await (
      await gw.call('/usage/summary?from=2026-11-01&to=2026-11-02&group_by=hour')
    ).json()) as Summary;
    expect(summary.data.map((g) => [g.group, g.cost_usd])).toEqual([
      ['2026-11-01T00:00:00.000Z', '0.1'],
      ['2026-11-01T05:00:00.000Z', '0.2'],
    ]);
  });

  it('streams the same selection as CSV, quoting what needs it', async () => {
    const res = await gw.call(`/usage?${november}`, { headers: { accept: 'text/csv' } });
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(res.headers.get('content-disposition')).toMatch(/attachment/);
    const text = await res.text();
    const lines = text.trimEnd().split('\r\n');
    expect(lines[0]?.startsWith('id,request_id,created_at,api_key_id')).toBe(true);
    expect(text).toContain('"said ""no"", then, left\nearly"');
    const json = await list(`${november}&limit=1000`);
    // records end in CRLF; the quoted LF inside one record does not end it
    expect(lines.length - 1).toBe(json.data.length);
    expect(await (await gw.call(`/usage?${november}&format=csv`)).text()).toBe(text);
  });

  it('finds a real metered request by the x-request-id its client got', async () => {
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      json: { model: 'openai/gpt-oss-120b:groq', messages: [{ role: 'user', content: 'hi' }] },
    });
    const page = await list('limit=1');
    expect(page.data[0]).toMatchObject({
      request_id: res.headers.get('x-request-id'),
      cost_total: '0.000309',
      prompt_tokens: 81,
    });
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=abc', 'limit'],
    ['from=yesterday', 'from'],
    ['status=bogus', 'status'],
    ['cursor=garbage', 'cursor'],
    ['modle=m-a', null],
  ])('refuses %s with a 400 naming the parameter', async (query, param) => {
    const res = await gw.call(`/usage?${query}`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { param: string | null; message: string; type: string } };
    expect(body.error.type).toBe('invalid_request_error');
    if (param) expect(body.error.param).toBe(param);
    else expect(body.error.message).toMatch(/modle/);
  });

  it('needs group_by for the summary, and a known one', async () => {
    for (const query of ['', 'group_by=week']) {
      const res = await gw.call(`/usage/summary?${query}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { param: string } }).error.param).toBe('group_by');
    }
  });

  it('is for admins only', async () => {
    expect((await gw.call('/usage', { key: clientKey })).status).toBe(403);
    expect((await gw.call('/usage/summary?group_by=day', { key: null })).status).toBe(401);
  });
});
