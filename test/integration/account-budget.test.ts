// An account's own budget (issue 25, DESIGN §6c), enforced at admission with its balance in one database
// call: concurrent requests of two keys never take more than the budget, the rest get a key budget's 429
// (counted as budget refusals), the next period admits again, and an account without a budget is unaffected.
import { sql } from 'drizzle-orm';
import { HttpResponse, http } from 'msw';
import { describe, expect, it } from 'vitest';
import { multiplyExact } from '../../src/billing/charge.ts';
import { add, compare, formatDecimal, parseDecimal, times } from '../../src/billing/money.ts';
import { estimatePromptTokens } from '../../src/metering/tokens.ts';
import { budgetPeriod } from '../../src/services/admission/budget-periods.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';

const MAX_TOKENS = 50;
const body = {
  model: 'openai/gpt-oss-120b:groq',
  messages: [{ role: 'user', content: 'hi' }],
  max_tokens: MAX_TOKENS,
};
const PROMPT = await estimatePromptTokens(body);
/** one request's worst-case cost, which the mock upstream reports as its real usage */
const ONE = formatDecimal(
  add(times(PROMPT, parseDecimal('0.000001')), times(MAX_TOKENS, parseDecimal('0.000003'))),
);
const MARKUP = '1.5';
const ONE_CHARGE = multiplyExact(ONE, MARKUP);

type Json = Record<string, unknown>;

describe.each(BACKENDS)("an account's own budget on %s", (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;

  gatewaySuite(
    {
      backend,
      // a long statement deadline: these tests are about atomicity, not the fail mode
      env: { BUDGET_DEFAULT_MAX_TOKENS: String(MAX_TOKENS), DATABASE_TIMEOUT_MS: '30000' },
      handlers: [
        http.post('*/chat/completions', () =>
          HttpResponse.json({
            id: 'chatcmpl-1',
            object: 'chat.completion',
            model: 'openai/gpt-oss-120b',
            choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
            usage: {
              prompt_tokens: PROMPT,
              completion_tokens: MAX_TOKENS,
              total_tokens: PROMPT + MAX_TOKENS,
            },
          }),
        ),
      ],
    },
    (suite) => ({ gw, upstream } = suite),
  );

  const post = async (path: string, json: unknown, method = 'POST') => {
    const res = await gw.call(path, { method, json });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const chat = (key: string) => gw.call('/v1/chat/completions', { method: 'POST', json: body, key });
  const rows = <T>(query: ReturnType<typeof sql>) => gw.deps.database.rows<T>(query);

  async function accountWithKeys(account: Json, keys: number) {
    const p = await post('/admin/plans', { name: 'plan', markup: MARKUP });
    const a = await post('/admin/accounts', { name: 'acme', plan_id: p.body.id, ...account });
    expect(a.status).toBe(201);
    const id = String(a.body.id);
    // a balance far beyond the budget: only the budget can refuse
    const top = await post(`/admin/accounts/${id}/credits`, { amount_usd: '1000', idempotency_key: 'big' });
    expect(top.status).toBe(201);
    const made: Array<{ id: string; key: string }> = [];
    for (let i = 0; i < keys; i++) {
      const k = await post('/admin/keys', { name: `acme-${i}`, account_id: id });
      made.push(k.body as { id: string; key: string });
    }
    return { id, keys: made };
  }
  const settledCharges = async (accountId: string) => {
    const [row] = await rows<{ charges: string; n: number }>(
      sql`select coalesce(sum(charge_usd), 0)::text as charges, count(*)::int as n from usage_logs where account_id = ${accountId}`,
    );
    return row!;
  };

  it('admits out of 30 concurrent requests of two keys only what the budget covers; the rest get 429', async () => {
    const budget = multiplyExact(ONE_CHARGE, '10');
    const { id, keys } = await accountWithKeys({ budget_usd: budget, budget_period: 'month' }, 2);
    const before = upstream.requests.length;
    const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => chat(keys[i % 2]!.key)));
    const admitted = replies.filter((r) => r.status === 200);
    const refused = replies.filter((r) => r.status === 429);
    expect(admitted.length + refused.length).toBe(30);
    // the true charge equals the worst case here, so the budget is never overshot
    expect(admitted).toHaveLength(10);
    expect(upstream.requests.length - before).toBe(10);
    for (const r of refused) expect(r.headers.get('x-should-retry')).toBe('false');
    const error = ((await refused[0]!.json()) as { error: Json }).error;
    expect(error).toMatchObject({ type: 'insufficient_quota', code: 'budget_exceeded', param: null });
    expect(String(error.message)).toContain(`This account's monthly budget of $${budget}`);
    expect(String(error.message)).toContain(`worst case $${ONE_CHARGE}`);

    const settled = await settledCharges(id);
    expect(settled.n).toBe(10);
    expect(compare(parseDecimal(settled.charges), parseDecimal(budget))).toBeLessThanOrEqual(0);
    // the period's spend is the rows' charges, nothing left in flight
    const [spend] = await rows<{ spent: string; reserved: string }>(
      sql`select spent_usd::text as spent, reserved_usd::text as reserved from account_spend
          where account_id = ${id} and period = ${budgetPeriod(new Date(), 'month')}::date`,
    );
    expect(formatDecimal(parseDecimal(spend!.spent))).toBe(formatDecimal(parseDecimal(settled.charges)));
    expect(parseDecimal(spend!.reserved)).toBe(0n);
    // the balance's reservations are all freed too
    expect((await post(`/admin/accounts/${id}`, undefined, 'GET')).body).toMatchObject({ reserved_usd: '0' });

    // counted as budget refusals of the keys
    await gw.refusals.flush();
    const [counted] = await rows<{ n: string }>(
      sql`select coalesce(sum(count), 0)::text as n from key_refusals
          where reason = 'budget' and api_key_id in (${keys[0]!.id}, ${keys[1]!.id})`,
    );
    expect(counted?.n).toBe('20');

    // the next period admits again: a period whose start is not this month's (or, on a day that starts
    // every period, the spend moved to an earlier period)
    const now = new Date();
    const other = (['day', 'week'] as const).find((p) => budgetPeriod(now, p) !== budgetPeriod(now, 'month'));
    if (other)
      expect((await post(`/admin/accounts/${id}`, { budget_period: other }, 'PATCH')).status).toBe(200);
    else await rows(sql`update account_spend set period = period - 40 where account_id = ${id}`);
    expect((await chat(keys[0]!.key)).status).toBe(200);
  });

  it('refuses a request whose worst case alone exceeds the budget, and holds nothing', async () => {
    const { id, keys } = await accountWithKeys({ budget_usd: formatDecimal(parseDecimal(ONE)) }, 1);
    const res = await chat(keys[0]!.key);
    expect(res.status).toBe(429);
    expect(((await res.json()) as { error: Json }).error).toMatchObject({ code: 'budget_exceeded' });
    const [held] = await rows<{ n: number }>(
      sql`select count(*)::int as n from budget_reservations where account_id = ${id}`,
    );
    expect(held?.n).toBe(0);
    expect((await post(`/admin/accounts/${id}`, undefined, 'GET')).body).toMatchObject({ reserved_usd: '0' });
  });

  it("settles a reprice's correction × markup in the period's spend", async () => {
    const model = 'acme/account-budget:groq';
    const past = new Date(Date.now() - 2 * 86_400_000).toISOString();
    const price = async (input: string) => {
      const res = await gw.call('/admin/pricing', {
        method: 'PUT',
        json: { model_name: model, input_token_cost: input, output_token_cost: '0', effective_from: past },
      });
      expect(res.status).toBeLessThan(300);
    };
    await price('0.00001');
    const { id, keys } = await accountWithKeys({ budget_usd: '100' }, 1);
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      json: { ...body, model },
      key: keys[0]!.key,
    });
    expect(res.status).toBe(200);
    await price('0.000001');
    const done = await post('/admin/reprice', {
      from: past,
      to: new Date(Date.now() + 1000).toISOString(),
      model,
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    const [want] = await rows<{ charge: string; corrected: string }>(sql`
      select sum(u.charge_usd)::text as charge,
             (sum(u.charge_usd) + coalesce(sum(c.delta_usd * u.markup), 0))::text as corrected
      from usage_logs u left join usage_corrections c on c.request_id = u.request_id
      where u.account_id = ${id}`);
    expect(want!.corrected).not.toBe(want!.charge);
    const [spend] = await rows<{ spent: string }>(
      sql`select sum(spent_usd)::text as spent from account_spend where account_id = ${id}`,
    );
    expect(formatDecimal(parseDecimal(spend!.spent))).toBe(formatDecimal(parseDecimal(want!.corrected)));
  });

  it('leaves an account without a budget as it was: no budget refusals, no account_spend rows', async () => {
    const { id, keys } = await accountWithKeys({}, 2);
    const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => chat(keys[i % 2]!.key)));
    expect(replies.filter((r) => r.status === 200)).toHaveLength(30);
    expect((await settledCharges(id)).n).toBe(30);
    const [spend] = await rows<{ n: number }>(
      sql`select count(*)::int as n from account_spend where account_id = ${id}`,
    );
    expect(spend?.n).toBe(0);
  });
});
