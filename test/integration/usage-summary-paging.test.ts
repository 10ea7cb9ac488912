// /usage/summary bounded and paged (issue 23.6): a default page of 100 groups by cost, the rest as one
// `other` entry so that the page plus `other` add up to the totals exactly, a cursor that visits every
// group once, limit and cursor validated; and end_user as the alias of user (issue 23.8).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add, compare, formatDecimal, parseDecimal, ZERO } from '../../src/billing/money.ts';
import { usageLogs } from '../../src/db/schema.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { json } from '../helpers/requests.ts';

type Sums = {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost_usd: string;
  charge_usd: string;
};
type Group = Sums & { group: string };
type Summary = {
  object: 'list';
  group_by: string;
  data: Group[];
  other: Sums & { groups: number };
  totals: Sums & { unpriced_requests: number };
  next_cursor: string | null;
};

const WINDOW = 'from=2025-06-01&to=2025-06-04';
const TAGS = 250;

/** Row i: tag t<i>, end user u<i % 30>, on day i % 3; costs repeat every 60 rows, so groups tie on cost. */
const costOf = (i: number) => `${(i % 60) + 1}.000000000000000001`;
const tagOf = (i: number) => `t${String(i).padStart(3, '0')}`;

/** Σ of the page's groups and `other`, exactly. */
function pagePlusOther(reply: Summary): Sums {
  const sums = { requests: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  let cost = ZERO;
  let charge = ZERO;
  for (const g of [...reply.data, reply.other]) {
    sums.requests += g.requests;
    sums.prompt_tokens += g.prompt_tokens;
    sums.completion_tokens += g.completion_tokens;
    sums.total_tokens += g.total_tokens;
    cost = add(cost, parseDecimal(g.cost_usd));
    charge = add(charge, parseDecimal(g.charge_usd));
  }
  return { ...sums, cost_usd: formatDecimal(cost), charge_usd: formatDecimal(charge) };
}

const withoutUnpriced = ({ unpriced_requests: _, ...sums }: Summary['totals']): Sums => sums;

describe.each(BACKENDS)('/usage/summary paged on %s', (backend) => {
  let gw: TestGateway;
  const summary = (query: string) => json<Summary>(gw.call(`/usage/summary?${WINDOW}&${query}`));

  beforeAll(async () => {
    gw = await startTestGateway({ backend, upstreamUrl: 'http://127.0.0.1:9' });
    await gw.deps.database.db.insert(usageLogs).values(
      Array.from({ length: TAGS }, (_, i) => ({
        requestId: `req_page_${i}`,
        createdAt: new Date(Date.UTC(2025, 5, 1 + (i % 3), i % 24, 30)),
        provider: 'huggingface',
        model: `m${i % 7}`,
        endpoint: 'chat.completions' as const,
        endUser: `u${i % 30}`,
        tags: [tagOf(i)],
        stream: false,
        status: 'ok' as const,
        httpStatus: 200,
        promptTokens: 10 + i,
        completionTokens: 5,
        totalTokens: 15 + i,
        usageSource: 'upstream' as const,
        inputTokenCost: '0.000001',
        outputTokenCost: '0.000003',
        pricingSource: 'catalog' as const,
        costInput: '0',
        costOutput: costOf(i),
        costTotal: costOf(i),
        latencyMs: 10,
      })),
    );
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('answers 100 groups by default, the other 150 as one entry, adding up to the totals exactly', async () => {
    const reply = await summary('group_by=tag');
    expect(reply.data).toHaveLength(100);
    expect(reply.other.groups).toBe(TAGS - 100);
    expect(reply.next_cursor).toEqual(expect.any(String));
    expect(reply.totals.requests).toBe(TAGS);
    expect(pagePlusOther(reply)).toEqual(withoutUnpriced(reply.totals));
    // the dearest first, ties by name: 60.000000000000000001 is t059, t119, t179, t239
    expect(reply.data.slice(0, 5).map((g) => g.group)).toEqual(['t059', 't119', 't179', 't239', 't058']);
    for (const [a, b] of reply.data.slice(1).map((g, i) => [reply.data[i], g] as const)) {
      const order = compare(parseDecimal(b.cost_usd), parseDecimal(a?.cost_usd ?? '0'));
      expect(order === -1 || (order === 0 && (a?.group ?? '') < b.group)).toBe(true);
    }
  });

  it('visits every group exactly once by following next_cursor, each page adding up to the totals', async () => {
    const whole = await summary('group_by=tag&limit=1000');
    expect(whole.data).toHaveLength(TAGS);
    expect(whole.other.groups).toBe(0);
    expect(whole.next_cursor).toBeNull();
    const seen: Group[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const reply: Summary = await summary(
        `group_by=tag&limit=70${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(reply.data.length).toBeLessThanOrEqual(70);
      expect(reply.other.groups).toBe(TAGS - reply.data.length);
      expect(pagePlusOther(reply)).toEqual(withoutUnpriced(whole.totals));
      seen.push(...reply.data);
      cursor = reply.next_cursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(pages).toBe(4);
    expect(seen).toEqual(whole.data);
  });

  it.each([
    ['day', 3],
    ['hour', 24],
  ])('pages %s in time order', async (groupBy, buckets) => {
    const whole = await summary(`group_by=${groupBy}`);
    expect(whole.data).toHaveLength(buckets);
    const seen: Group[] = [];
    let cursor: string | null = null;
    do {
      const reply: Summary = await summary(
        `group_by=${groupBy}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(pagePlusOther(reply)).toEqual(withoutUnpriced(whole.totals));
      seen.push(...reply.data);
      cursor = reply.next_cursor;
    } while (cursor);
    expect(seen).toEqual(whole.data);
    expect(seen.map((g) => g.group)).toEqual(seen.map((g) => g.group).sort());
  });

  it('takes end_user as user, in group_by and as a filter, and refuses both at once', async () => {
    const byUser = await summary('group_by=user');
    const byEndUser = await summary('group_by=end_user');
    expect(byEndUser.group_by).toBe('end_user');
    expect(byEndUser.data).toEqual(byUser.data);
    expect(byEndUser.data).toHaveLength(30);
    const filtered = await summary('group_by=tag&end_user=u7');
    expect(filtered).toEqual(await summary('group_by=tag&user=u7'));
    expect(filtered.totals.requests).toBe(9);
    const rows = await json<{ totals: { requests: number } }>(gw.call(`/usage?${WINDOW}&end_user=u7`));
    expect(rows.totals.requests).toBe(9);
    for (const path of ['/usage/summary?group_by=tag&', '/usage?']) {
      const res = await gw.call(`${path}${WINDOW}&user=u7&end_user=u7`);
      expect(res.status, path).toBe(400);
      expect(((await res.json()) as { error: { param: string } }).error.param, path).toBe('end_user');
    }
  });

  it('refuses a bad limit or cursor with a 400 naming it', async () => {
    const first = await summary('group_by=tag&limit=10');
    const cursor = encodeURIComponent(first.next_cursor ?? '');
    const cases: Array<[string, string]> = [
      ['group_by=tag&limit=0', 'limit'],
      ['group_by=tag&limit=1001', 'limit'],
      ['group_by=tag&limit=ten', 'limit'],
      ['group_by=tag&limit=10&limit=20', 'limit'],
      ['group_by=tag&cursor=', 'cursor'],
      ['group_by=tag&cursor=not-a-cursor', 'cursor'],
      [`group_by=tag&cursor=${cursor}x`, 'cursor'],
      [`group_by=model&cursor=${cursor}`, 'cursor'],
      [`group_by=tag&model=m1&cursor=${cursor}`, 'cursor'],
      [`group_by=day&cursor=${cursor}`, 'cursor'],
      [`group_by=tag&cursor=${'a'.repeat(9000)}`, 'cursor'],
    ];
    for (const [query, param] of cases) {
      const res = await gw.call(`/usage/summary?${WINDOW}&${query}`);
      expect(res.status, query).toBe(400);
      const { error } = (await res.json()) as { error: { param: string; message: string } };
      expect(error.param, query).toBe(param);
      expect(error.message, query).toMatch(new RegExp(`^Invalid query parameter '${param}': `));
    }
    // the same cursor goes on where it stopped
    const next = await summary(`group_by=tag&limit=10&cursor=${cursor}`);
    expect(next.data[0]?.group).not.toBe(first.data[0]?.group);
  });
});
