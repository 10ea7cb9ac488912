// Accounts, plans and prepaid credits (issue 25, DESIGN §6c): the charge on every row, admission against
// the balance (402), idempotent top-ups, GET /v1/key, and bad input refused with nothing written.
import { sql } from 'drizzle-orm';
import { HttpResponse, http } from 'msw';
import { describe, expect, it } from 'vitest';
import { addExact, multiplyExact, negateExact } from '../../src/billing/charge.ts';
import { add, formatDecimal, parseDecimal, times } from '../../src/billing/money.ts';
import { estimatePromptTokens } from '../../src/metering/tokens.ts';
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
/** one request's worst-case cost, which the mock upstream then reports as its real usage */
const ONE = formatDecimal(
  add(times(PROMPT, parseDecimal('0.000001')), times(MAX_TOKENS, parseDecimal('0.000003'))),
);

type Json = Record<string, unknown>;

describe.each(BACKENDS)('accounts and credits on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;
  /** what the mock upstream reports as usage */
  let usage = { prompt_tokens: PROMPT, completion_tokens: MAX_TOKENS };

  gatewaySuite(
    {
      backend,
      // DATABASE_TIMEOUT_MS: a 2 s admission deadline on a loaded machine fails open (unreserved);
      // these tests are about atomicity, not the fail mode
      env: { BUDGET_DEFAULT_MAX_TOKENS: String(MAX_TOKENS), DATABASE_TIMEOUT_MS: '30000' },
      handlers: [
        http.post('*/chat/completions', () =>
          HttpResponse.json({
            id: 'chatcmpl-1',
            object: 'chat.completion',
            model: 'openai/gpt-oss-120b',
            choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
            usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
          }),
        ),
      ],
    },
    (suite) => ({ gw, upstream } = suite),
  );

  const post = async (path: string, json: unknown) => {
    const res = await gw.call(path, { method: 'POST', json });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const get = async (path: string, key?: string) =>
    (await (await gw.call(path, key === undefined ? {} : { key })).json()) as Json;
  const chat = (key: string) => gw.call('/v1/chat/completions', { method: 'POST', json: body, key });
  const rows = <T>(query: ReturnType<typeof sql>) => gw.deps.database.rows<T>(query);

  async function accountWithKeys(plan: Json, account: Json = {}, keys = 1) {
    const p = await post('/admin/plans', { name: 'plan', ...plan });
    expect(p.status).toBe(201);
    const a = await post('/admin/accounts', { name: 'acme', plan_id: p.body.id, ...account });
    expect(a.status).toBe(201);
    const made: Array<{ id: string; key: string }> = [];
    for (let i = 0; i < keys; i++) {
      const k = await post('/admin/keys', { name: `acme-${i}`, account_id: a.body.id });
      expect(k.status).toBe(201);
      made.push(k.body as { id: string; key: string });
    }
    return { plan: p.body, account: a.body as Json & { id: string }, keys: made };
  }
  const topUp = (accountId: string, amount: string, key = `t-${Math.random()}`) =>
    post(`/admin/accounts/${accountId}/credits`, { amount_usd: amount, idempotency_key: key });

  it('charges cost × markup exactly on the row, and moves the balance by exactly that', async () => {
    usage = { prompt_tokens: 1000, completion_tokens: 500 };
    try {
      const { account, keys } = await accountWithKeys({ markup: '1.25' });
      expect((await topUp(account.id, '10')).status).toBe(201);
      const res = await chat(keys[0]!.key);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-usage-cost-usd')).toBe('0.0025');
      const row = await gw.usageRow(res.headers.get('x-request-id'));
      expect(row).toMatchObject({ account_id: account.id, cost_total: '0.0025' });
      expect(formatDecimal(parseDecimal(String(row?.markup)))).toBe('1.25');
      expect(formatDecimal(parseDecimal(String(row?.charge_usd)))).toBe('0.003125');
      const after = await get(`/admin/accounts/${account.id}`);
      expect(after).toMatchObject({
        balance_usd: '9.996875',
        reserved_usd: '0',
        period_cost_usd: '0.0025',
        period_charge_usd: '0.003125',
      });
      // GET /v1/key: the key sees its own account's balance
      expect(await get('/v1/key', keys[0]!.key)).toMatchObject({
        id: keys[0]!.id,
        account: { id: account.id, balance_usd: '9.996875', period_charge_usd: '0.003125' },
      });
    } finally {
      usage = { prompt_tokens: PROMPT, completion_tokens: MAX_TOKENS };
    }
  });

  it('charges a key without an account its cost, markup 1, no account', async () => {
    const k = await post('/admin/keys', { name: 'solo' });
    const res = await chat((k.body as { key: string }).key);
    const row = await gw.usageRow(res.headers.get('x-request-id'));
    expect(row).toMatchObject({ account_id: null, cost_total: ONE, charge_usd: ONE });
    expect(formatDecimal(parseDecimal(String(row?.markup)))).toBe('1');
    expect(((await get('/v1/key', (k.body as { key: string }).key)) as Json).account).toBeNull();
  });

  it('admits out of 50 concurrent requests of two keys only what the balance covers; the rest get 402', async () => {
    const markup = '1.5';
    const { account, keys } = await accountWithKeys({ markup }, {}, 2);
    const oneCharge = multiplyExact(ONE, markup);
    const balance = multiplyExact(oneCharge, '10');
    expect((await topUp(account.id, balance)).status).toBe(201);
    const before = upstream.requests.length;
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => chat(keys[i % 2]!.key)));
    const admitted = replies.filter((r) => r.status === 200);
    const refused = replies.filter((r) => r.status === 402);
    expect(admitted).toHaveLength(10);
    expect(refused).toHaveLength(40);
    expect(upstream.requests.length - before).toBe(10);
    expect(refused[0]!.headers.get('x-should-retry')).toBe('false');
    const error = ((await refused[0]!.json()) as { error: Json }).error;
    expect(error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_credits', param: null });
    expect(String(error.message)).toContain(`may cost up to $${oneCharge}`);

    const [settled] = await rows<{ charges: string; n: number }>(
      sql`select coalesce(sum(charge_usd), 0)::text as charges, count(*)::int as n from usage_logs where account_id = ${account.id}`,
    );
    expect(settled?.n).toBe(10);
    expect(formatDecimal(parseDecimal(settled!.charges))).toBe(formatDecimal(parseDecimal(balance)));
    // the balance is the ledger's credits minus the settled charges, to the last digit
    const [ledger] = await rows<{ credits: string; balance: string; reserved: string }>(sql`
      select (select sum(amount_usd) from account_credits where account_id = ${account.id})::text as credits,
             b.balance_usd::text as balance, b.reserved_usd::text as reserved
      from account_balance b where b.account_id = ${account.id}`);
    expect(addExact(ledger!.credits, negateExact(settled!.charges))).toBe(addExact(ledger!.balance, '0'));
    expect(parseDecimal(ledger!.reserved)).toBe(0n);
    expect(await get(`/admin/accounts/${account.id}`)).toMatchObject({ balance_usd: '0', reserved_usd: '0' });
  });

  it('lets the balance go negative with overage allow, and within the credit limit with block', async () => {
    const allow = await accountWithKeys({ overage: 'allow' });
    expect((await chat(allow.keys[0]!.key)).status).toBe(200);
    expect(await get(`/admin/accounts/${allow.account.id}`)).toMatchObject({ balance_usd: `-${ONE}` });

    const limited = await accountWithKeys({}, { credit_limit_usd: ONE });
    expect((await chat(limited.keys[0]!.key)).status).toBe(200);
    expect((await chat(limited.keys[0]!.key)).status).toBe(402);
    expect(await get(`/admin/accounts/${limited.account.id}`)).toMatchObject({ balance_usd: `-${ONE}` });
  });

  it('credits a top-up posted twice with one idempotency key once; another body with that key is 409', async () => {
    const { account } = await accountWithKeys({});
    const first = await topUp(account.id, '5.00', 'order-1');
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ kind: 'topup', amount_usd: '5', idempotency_key: 'order-1' });
    const again = await topUp(account.id, '5', 'order-1');
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const other = await topUp(account.id, '6', 'order-1');
    expect(other.status).toBe(409);
    expect((other.body.error as Json).code).toBe('idempotency_conflict');
    expect(await get(`/admin/accounts/${account.id}`)).toMatchObject({ balance_usd: '5' });
    const list = (await get(`/admin/accounts/${account.id}/credits`)).data as Json[];
    expect(list).toHaveLength(1);
  });

  it('moves the charge and the balance by delta × markup when /admin/reprice corrects a row', async () => {
    const model = 'acme/accounts-reprice:groq';
    const past = new Date(Date.now() - 60_000).toISOString();
    const price = (input: string) =>
      gw.call('/admin/pricing', {
        method: 'PUT',
        json: { model_name: model, input_token_cost: input, output_token_cost: '0', effective_from: past },
      });
    await price('0.00001');
    const { account, keys } = await accountWithKeys({ markup: '2' });
    await topUp(account.id, '1');
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      json: { ...body, model },
      key: keys[0]!.key,
    });
    expect(res.status).toBe(200);
    const cost = formatDecimal(times(PROMPT, parseDecimal('0.00001')));
    const charged = multiplyExact(cost, '2');
    expect(await get(`/admin/accounts/${account.id}`)).toMatchObject({
      balance_usd: addExact('1', negateExact(charged)),
    });
    await price('0.000001');
    const done = await post('/admin/reprice', {
      from: past,
      to: new Date(Date.now() + 1000).toISOString(),
      model,
    });
    expect(done.status).toBe(200);
    const newCost = formatDecimal(times(PROMPT, parseDecimal('0.000001')));
    expect(await get(`/admin/accounts/${account.id}`)).toMatchObject({
      balance_usd: addExact('1', negateExact(multiplyExact(newCost, '2'))),
      period_cost_usd: newCost,
      period_charge_usd: multiplyExact(newCost, '2'),
    });
  });

  it('refuses bad input with a 400 naming the field, and writes nothing', async () => {
    const count = async () => {
      const [n] = await rows<{ plans: number; accounts: number; credits: number }>(sql`
        select (select count(*) from plans)::int as plans, (select count(*) from accounts)::int as accounts,
               (select count(*) from account_credits)::int as credits`);
      return n;
    };
    const { account } = await accountWithKeys({});
    const before = await count();
    const cases: Array<[string, unknown, string]> = [
      ['/admin/plans', { name: 'p', markup: '-0.5' }, 'markup'],
      ['/admin/plans', { name: 'p', markup: 1.5 }, 'markup'],
      ['/admin/plans', { name: 'p', included_usd: 'ten' }, 'included_usd'],
      ['/admin/plans', { name: 'p', period: 'year' }, 'period'],
      ['/admin/accounts', { name: 'a', plan_id: 'plan_nope' }, 'plan_id'],
      ['/admin/accounts', { name: 'a', credit_limit_usd: '-1' }, 'credit_limit_usd'],
      [`/admin/accounts/${account.id}/credits`, { amount_usd: '-5', idempotency_key: 'x' }, 'amount_usd'],
      [`/admin/accounts/${account.id}/credits`, { amount_usd: '5e3', idempotency_key: 'x' }, 'amount_usd'],
      [`/admin/accounts/${account.id}/credits`, { amount_usd: 5, idempotency_key: 'x' }, 'amount_usd'],
      [`/admin/accounts/${account.id}/credits`, { amount_usd: '5' }, 'idempotency_key'],
      ['/admin/keys', { name: 'k', account_id: 'acct_nope' }, 'account_id'],
    ];
    for (const [path, json, param] of cases) {
      const res = await post(path, json);
      expect(res.status, `${path} ${JSON.stringify(json)}`).toBe(400);
      expect((res.body.error as Json).param).toBe(param);
    }
    const unknown = await topUp('acct_nope', '5');
    expect(unknown.status).toBe(404);
    expect(await count()).toEqual(before);
  });
});
