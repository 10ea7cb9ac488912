// /usage and /usage/summary by attribution (issue 14.5): filters on end user, tag, endpoint and
// served_by, summaries grouped by them (a row once per tag it carries, the totals once per row), rows
// and CSV carrying the attribution and the unit prices applied, and every new parameter validated.
import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageLogs } from '../../src/db/schema.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { fixtureText } from '../helpers/fixtures.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';
import { expectError, json } from '../helpers/requests.ts';

type Row = Record<string, unknown> & { request_id: string };
type Totals = { requests: number; total_tokens: number; cost_usd: string };
type List = { data: Row[]; totals: Totals; next_cursor: string | null };
type Summary = { data: Array<{ group: string; requests: number; cost_usd: string }>; totals: Totals };

const WINDOW = 'from=2025-05-01&to=2025-05-02';

/** name, end_user, tags, endpoint, served_by, cost_total */
const SEED: Array<
  [string, string | null, string[] | null, 'chat.completions' | 'responses', string | null, string]
> = [
  ['a', 'alice', ['prod', 'feature:chat'], 'chat.completions', 'groq', '0.1'],
  ['b', 'alice', ['prod'], 'responses', 'cerebras', '0.2'],
  ['c', 'bob', null, 'chat.completions', 'groq', '0.4'],
  ['d', null, ['staging'], 'responses', null, '0.8'],
  ['e', 'bob', [], 'chat.completions', 'cerebras', '1.6'],
];

describe.each(BACKENDS)('usage reports by attribution on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;
  const list = (query: string) => json<List>(gw.call(`/usage?${WINDOW}&${query}`));
  const summary = (query: string) => json<Summary>(gw.call(`/usage/summary?${WINDOW}&${query}`));
  const names = (rows: Row[]) => rows.map((r) => r.request_id.replace('req_attr_', '')).sort();

  beforeAll(async () => {
    upstream = await startMockUpstream(
      http.post('*/chat/completions', () =>
        HttpResponse.text(fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json'), {
          headers: { 'content-type': 'application/json' },
        }),
      ),
    );
    gw = await startTestGateway({ backend, upstreamUrl: upstream.url });
    await gw.deps.database.db.insert(usageLogs).values(
      SEED.map(([name, endUser, tags, endpoint, servedBy, cost], i) => ({
        requestId: `req_attr_${name}`,
        createdAt: new Date(Date.UTC(2025, 4, 1, 3, 0, i)),
        provider: 'huggingface',
        model: 'openai/gpt-oss-120b:groq',
        servedBy,
        endpoint,
        endUser,
        tags,
        stream: false,
        status: 'ok',
        httpStatus: 200,
        promptTokens: 1000,
        completionTokens: 500,
        totalTokens: 1500,
        cachedTokens: 400,
        reasoningTokens: 120,
        usageSource: 'upstream',
        inputTokenCost: '0.000001',
        cachedInputTokenCost: '0.0000005',
        outputTokenCost: '0.000003',
        pricingSource: 'env',
        costInput: '0',
        costOutput: cost,
        costTotal: cost,
        latencyMs: 10,
      })),
    );
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it.each([
    ['user=alice', ['a', 'b'], '0.3'],
    ['tag=prod', ['a', 'b'], '0.3'],
    ['tag=feature:chat', ['a'], '0.1'],
    ['endpoint=responses', ['b', 'd'], '1'],
    ['served_by=cerebras', ['b', 'e'], '1.8'],
    ['user=bob&served_by=groq', ['c'], '0.4'],
    ['user=alice&tag=prod&endpoint=chat.completions', ['a'], '0.1'],
    ['user=nobody', [], '0'],
    // a tag on no row answers from its rollup's count, without reading the ledger
    ['tag=nowhere', [], '0'],
    ['tag=prod&user=bob', [], '0'],
  ])('narrows /usage to %s, rows and totals alike', async (query, expected, cost) => {
    const page = await list(query);
    expect(names(page.data)).toEqual(expected);
    expect(page.totals).toMatchObject({ requests: expected.length, cost_usd: cost });
  });

  it('pages a tag row by row, newest first, as the unfiltered ledger orders them', async () => {
    const all = (await list('limit=100')).data.filter((row) => (row.tags as string[]).includes('prod'));
    const seen: Row[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page: List = await list(`tag=prod&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.data);
      cursor = page.next_cursor;
    }
    expect(seen.map((row) => row.request_id)).toEqual(all.map((row) => row.request_id));
  });

  it('serves each row with its attribution, cached and reasoning tokens, and the unit prices applied', async () => {
    const [row] = (await list('user=alice&endpoint=chat.completions')).data;
    expect(row).toMatchObject({
      served_by: 'groq',
      endpoint: 'chat.completions',
      end_user: 'alice',
      tags: ['prod', 'feature:chat'],
      cached_tokens: 400,
      reasoning_tokens: 120,
      input_token_cost: '0.000001',
      cached_input_token_cost: '0.0000005',
      output_token_cost: '0.000003',
    });
    const [untagged] = (await list('user=bob&served_by=groq')).data;
    expect(untagged).toMatchObject({ tags: [], end_user: 'bob' });
  });

  it('counts a row once per tag in a tag summary, and once in its totals', async () => {
    const tags = await summary('group_by=tag');
    expect(tags.data.map((g) => [g.group, g.requests, g.cost_usd])).toEqual([
      ['', 2, '2'],
      ['staging', 1, '0.8'],
      ['prod', 2, '0.3'],
      ['feature:chat', 1, '0.1'],
    ]);
    expect(tags.totals).toMatchObject({ requests: 5, cost_usd: '3.1' });
    const one = await summary('group_by=tag&tag=prod');
    expect(one.data.map((g) => [g.group, g.requests])).toEqual([['prod', 2]]);
    expect(one.totals).toMatchObject({ requests: 2, cost_usd: '0.3' });
  });

  it.each([
    [
      'user',
      [
        ['bob', 2, '2'],
        ['', 1, '0.8'],
        ['alice', 2, '0.3'],
      ],
    ],
    [
      'endpoint',
      [
        ['chat.completions', 3, '2.1'],
        ['responses', 2, '1'],
      ],
    ],
    [
      'served_by',
      [
        ['cerebras', 2, '1.8'],
        ['', 1, '0.8'],
        ['groq', 2, '0.5'],
      ],
    ],
  ])('summarizes by %s, spend first', async (groupBy, expected) => {
    const { data, totals } = await summary(`group_by=${groupBy}`);
    expect(data.map((g) => [g.group, g.requests, g.cost_usd])).toEqual(expected);
    expect(totals).toMatchObject({ requests: 5, cost_usd: '3.1' });
  });

  it('writes the attribution into the CSV, tags joined by ;', async () => {
    const text = await (await gw.call(`/usage?${WINDOW}&format=csv&user=alice&tag=feature:chat`)).text();
    const [header, line] = text.trimEnd().split('\r\n');
    const cells = Object.fromEntries(
      (header ?? '').split(',').map((name, i) => [name, (line ?? '').split(',')[i]]),
    );
    expect(cells).toMatchObject({
      served_by: 'groq',
      endpoint: 'chat.completions',
      end_user: 'alice',
      tags: 'prod;feature:chat',
      cached_tokens: '400',
      reasoning_tokens: '120',
      cached_input_token_cost: '0.0000005',
    });
  });

  it('finds a metered request by the end user its client named', async () => {
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      json: { model: 'openai/gpt-oss-120b:groq', messages: [{ role: 'user', content: 'hi' }], user: 'carol' },
    });
    expect(res.status).toBe(200);
    const { data } = await json<List>(gw.call('/usage?user=carol'));
    expect(data.map((r) => r.request_id)).toEqual([res.headers.get('x-request-id')]);
    const users = await json<Summary>(gw.call('/usage/summary?group_by=user&user=carol'));
    expect(users.data.map((g) => [g.group, g.requests])).toEqual([['carol', 1]]);
  });

  it.each([
    ['/usage?user=', 'user'],
    [`/usage?user=${'u'.repeat(257)}`, 'user'],
    ['/usage?tag=two%20words', 'tag'],
    [`/usage?tag=${'t'.repeat(65)}`, 'tag'],
    ['/usage?tag=caf%C3%A9', 'tag'],
    ['/usage?endpoint=images.generations', 'endpoint'],
    ['/usage?served_by=', 'served_by'],
    ['/usage/summary?group_by=users', 'group_by'],
    ['/usage/summary?group_by=tag&tag=a%00', 'tag'],
  ])('refuses %s with a 400 naming %s', async (path, param) => {
    await expectError(await gw.call(path), 400, 'invalid_parameter', param);
  });

  it('takes an end user of exactly 256 characters and a tag of exactly 64', async () => {
    expect((await gw.call(`/usage?user=${'u'.repeat(256)}`)).status).toBe(200);
    expect((await gw.call(`/usage?tag=${'t'.repeat(64)}`)).status).toBe(200);
  });
});
