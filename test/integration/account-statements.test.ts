// Plan grants (exactly once per account and period, across replicas; the unused part expires once) and
// monthly statements (JSON and CSV) where opening + entries − charges = closing exactly (DESIGN §6c).
import { sql } from 'drizzle-orm';
import { HttpResponse, http } from 'msw';
import { describe, expect, it } from 'vitest';
import { addExact, negateExact } from '../../src/billing/charge.ts';
import { createGrants } from '../../src/services/accounts/grants.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';

type Json = Record<string, unknown>;
const usage = { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 };

describe.each(BACKENDS)('plan grants and statements on %s', (backend) => {
  let gw: TestGateway;
  gatewaySuite(
    {
      backend,
      handlers: [
        http.post('*/chat/completions', () =>
          HttpResponse.json({
            id: 'c',
            object: 'chat.completion',
            choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
            usage,
          }),
        ),
      ],
    },
    (suite) => ({ gw } = suite),
  );

  const post = async (path: string, json: unknown, method = 'POST') => {
    const res = await gw.call(path, { method, json });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const get = async (path: string) => (await (await gw.call(path)).json()) as Json;
  const chat = (key: string, model: string) =>
    gw.call('/v1/chat/completions', {
      method: 'POST',
      json: { model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 500 },
      key,
    });
  async function customer(plan: Json) {
    const p = await post('/admin/plans', { name: 'included', ...plan });
    const a = await post('/admin/accounts', { name: 'customer', plan_id: p.body.id });
    const k = await post('/admin/keys', { name: 'customer-key', account_id: a.body.id });
    return { id: String(a.body.id), key: String(k.body.key) };
  }
  const creditsOf = async (id: string) =>
    ((await get(`/admin/accounts/${id}/credits`)).data as Json[]).map((c) => ({
      kind: c.kind,
      amount_usd: c.amount_usd,
    }));

  it('writes a period grant once when two replicas start the period together, and expires its unused part once', async () => {
    const { id } = await customer({ included_usd: '2', period: 'day' });
    const replicas = [
      createGrants({ database: gw.deps.database }),
      createGrants({ database: gw.deps.database }),
    ];
    const today = new Date();
    await Promise.all([...replicas, ...replicas].map((g) => g.settle(id, today)));
    expect(await creditsOf(id)).toEqual([{ kind: 'grant', amount_usd: '2' }]);
    const tomorrow = new Date(today.getTime() + 86_400_000);
    await Promise.all([...replicas, ...replicas].map((g) => g.settle(id, tomorrow)));
    const after = await creditsOf(id);
    expect(after.filter((c) => c.kind === 'expiry')).toEqual([{ kind: 'expiry', amount_usd: '-2' }]);
    expect(after.filter((c) => c.kind === 'grant')).toHaveLength(2);
  });

  it('balances a month with grants, a top-up, usage on two models, a reprice and an expiry, to the last digit', async () => {
    const model2 = 'acme/statement-model:groq';
    const past = new Date(Date.now() - 60_000).toISOString();
    const price = (input: string) =>
      post(
        '/admin/pricing',
        { model_name: model2, input_token_cost: input, output_token_cost: '0.000002', effective_from: past },
        'PUT',
      );
    await price('0.00001');
    const { id, key } = await customer({ markup: '1.25', included_usd: '1', period: 'day' });
    const top = await post(`/admin/accounts/${id}/credits`, {
      amount_usd: '3.5',
      idempotency_key: 'order-9',
    });
    expect(top.status).toBe(201);
    for (const model of ['openai/gpt-oss-120b:groq', model2, model2])
      expect((await chat(key, model)).status).toBe(200);
    await price('0.000001');
    const repriced = await post('/admin/reprice', {
      from: past,
      to: new Date(Date.now() + 1000).toISOString(),
      model: model2,
    });
    expect(repriced.status).toBe(200);
    // the day ends: today's grant expires with what usage left of it
    await createGrants({ database: gw.deps.database }).settle(id, new Date(Date.now() + 86_400_000));

    const period = new Date().toISOString().slice(0, 7);
    const s = await get(`/admin/accounts/${id}/statement?period=${period}`);
    const entries = s.entries as Json[];
    const kinds = entries.map((e) => e.kind);
    expect(kinds.filter((k) => k === 'grant')).toHaveLength(2);
    expect(kinds).toContain('topup');
    expect(kinds).toContain('expiry');
    // cost per request: default 1000 × 0.000001 + 500 × 0.000003 = 0.0025; model2 after reprice 0.002
    const usageRows = s.usage as Json[];
    expect(usageRows).toHaveLength(2);
    const byModel = Object.fromEntries(usageRows.map((u) => [u.model, u]));
    expect(byModel['openai/gpt-oss-120b:groq']).toMatchObject({
      requests: 1,
      cost_usd: '0.0025',
      charge_usd: '0.003125',
    });
    // as written: 2 × (1000 × 0.00001 + 500 × 0.000002) = 0.022, charged × 1.25
    expect(byModel[model2]).toMatchObject({ requests: 2, cost_usd: '0.022', charge_usd: '0.0275' });
    // the reprice took 2 × 0.009 off the cost, 0.0225 off the charge
    expect(s.corrections_usd).toBe('-0.0225');
    const charges = '0.008125'; // 0.003125 + 0.0275 − 0.0225
    expect(s.charges_usd).toBe(charges);
    // today's grant of 1 burnt first: 1 − 0.008125 expires
    expect(entries.find((e) => e.kind === 'expiry')?.amount_usd).toBe(negateExact('0.991875'));
    const credited = entries.reduce((t, e) => addExact(t, String(e.amount_usd)), '0');
    expect(s.closing_balance_usd).toBe(
      addExact(addExact(String(s.opening_balance_usd), credited), negateExact(charges)),
    );
    expect(s.opening_balance_usd).toBe('0');
    // and the statement agrees with the live balance
    expect((await get(`/admin/accounts/${id}`)).balance_usd).toBe(s.closing_balance_usd);
    // two grants of 1, the top-up, the expiry, the charges
    expect(s.closing_balance_usd).toBe('4.5');

    const csv = await gw.call(`/admin/accounts/${id}/statement?period=${period}&format=csv`);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await csv.text())
      .trimEnd()
      .split('\r\n')
      .map((l) => l.split(','));
    expect(lines[0]).toEqual([
      'line',
      'date',
      'kind',
      'description',
      'requests',
      'prompt_tokens',
      'completion_tokens',
      'cost_usd',
      'charge_usd',
      'amount_usd',
    ]);
    for (const cells of lines) expect(cells).toHaveLength(10);
    expect(lines.at(-1)).toEqual([
      'closing_balance',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      String(s.closing_balance_usd),
    ]);
    const [rows] = await gw.deps.database.rows<{ n: number }>(
      sql`select count(*)::int as n from account_credits where account_id = ${id}`,
    );
    expect(lines.filter((l) => l[0] === 'credit')).toHaveLength(rows!.n);
  });

  it('refuses a period that is not YYYY-MM, naming it', async () => {
    const { id } = await customer({});
    for (const period of ['2026-13', '2026-3', 'march', '']) {
      const res = await gw.call(`/admin/accounts/${id}/statement?period=${period}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: Json }).error.param).toBe('period');
    }
    expect((await gw.call('/admin/accounts/acct_nope/statement?period=2026-01')).status).toBe(404);
  });
});
