// Charge beside cost in /usage and /usage/summary (issue 25, DESIGN §6c): rows carry account_id, markup and
// charge_usd; totals and every group sum the charge exactly, a reprice's correction moving it by
// delta × markup, whichever layer answers (daily and hourly rollups, raw rows at ragged edges); the
// account_id filter and group_by=account; a key without an account is charged its cost.
import { HttpResponse, http } from 'msw';
import { describe, expect, it } from 'vitest';
import { addExact } from '../../src/billing/charge.ts';
import type { UsageLogInsert } from '../../src/db/schema.ts';
import { insertUsageRows } from '../../src/db/usage-insert.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';

const MODEL = 'acme/usage-charge:groq';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

type Json = Record<string, unknown>;
type Group = { group: string; requests: number; cost_usd: string; charge_usd: string };

describe.each(BACKENDS)('charge in the usage reports on %s', (backend) => {
  let gw: TestGateway;

  gatewaySuite(
    {
      backend,
      env: { DATABASE_TIMEOUT_MS: '30000' },
      handlers: [
        http.post('*/chat/completions', () =>
          HttpResponse.json({
            id: 'chatcmpl-1',
            object: 'chat.completion',
            model: 'x',
            choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 },
          }),
        ),
      ],
    },
    (suite) => ({ gw } = suite),
  );

  const post = async (path: string, json: unknown) => {
    const res = await gw.call(path, { method: 'POST', json });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const get = async (path: string) => {
    const res = await gw.call(path);
    return { status: res.status, body: (await res.json()) as Json };
  };
  const chat = (key: string, model = 'openai/gpt-oss-120b:groq') =>
    gw.call('/v1/chat/completions', {
      method: 'POST',
      json: { model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 500 },
      key,
    });
  const summary = async (query: string) => {
    const { status, body } = await get(`/usage/summary?${query}`);
    expect(status, JSON.stringify(body)).toBe(200);
    return body as { data: Group[]; other: Json; totals: Json };
  };
  const pick = (g: Group) => ({
    group: g.group,
    requests: g.requests,
    cost_usd: g.cost_usd,
    charge_usd: g.charge_usd,
  });

  let account = '';
  let accountKey = '';
  let soloKey = '';
  let window = { from: '', to: '' };
  const inWindow = () => `from=${encodeURIComponent(window.from)}&to=${encodeURIComponent(window.to)}`;

  it('shows an account key’s markup and charge on its row; a key without an account is charged its cost', async () => {
    const plan = await post('/admin/plans', { name: 'resale', markup: '1.25' });
    const a = await post('/admin/accounts', { name: 'acme', plan_id: plan.body.id });
    account = String(a.body.id);
    expect(
      (await post(`/admin/accounts/${account}/credits`, { amount_usd: '100', idempotency_key: 't1' })).status,
    ).toBe(201);
    accountKey = String((await post('/admin/keys', { name: 'acme-0', account_id: account })).body.key);
    soloKey = String((await post('/admin/keys', { name: 'solo' })).body.key);

    // 1000 input + 500 output tokens at the default prices: cost 0.0025, charged 0.003125 at markup 1.25
    const res = await chat(accountKey);
    expect(res.status).toBe(200);
    const solo = await chat(soloKey);
    expect(solo.status).toBe(200);
    const rows = await get(`/usage?account_id=${account}`);
    expect(rows.status).toBe(200);
    const data = rows.body.data as Json[];
    expect(data).toHaveLength(1);
    expect(data[0]).toMatchObject({
      request_id: res.headers.get('x-request-id'),
      account_id: account,
      markup: '1.25',
      cost_total: '0.0025',
      charge_usd: '0.003125',
      corrected_charge_usd: '0.003125',
    });
    expect(rows.body.totals).toMatchObject({ requests: 1, cost_usd: '0.0025', charge_usd: '0.003125' });

    const all = await get('/usage');
    const soloRow = (all.body.data as Json[]).find((r) => r.request_id === solo.headers.get('x-request-id'));
    expect(soloRow).toMatchObject({
      account_id: null,
      markup: '1',
      cost_total: '0.0025',
      charge_usd: '0.0025',
    });
    expect(all.body.totals).toMatchObject({ requests: 2, cost_usd: '0.005', charge_usd: '0.005625' });

    // CSV carries them too
    const csv = await (await gw.call(`/usage?format=csv&account_id=${account}`)).text();
    const [header = '', line = ''] = csv.split('\r\n');
    // the last columns: error (empty), then the account's, then the corrections'
    expect(
      header.endsWith(
        ',error,account_id,markup,charge_usd,corrections_usd,corrected_cost_total,corrected_charge_usd',
      ),
    ).toBe(true);
    expect(line.endsWith(`,,${account},1.25,0.003125,0,0.0025,0.003125`)).toBe(true);
  });

  it('sums cost and charge exactly over daily, hourly and raw layers, before and after a reprice', async () => {
    const now = Date.now();
    const day = (at: number) => Math.floor(at / DAY) * DAY;
    // ragged at both ends: the first day and the first hour partial, the last hour partial
    const from = day(now - 3 * DAY) + 30 * 60_000 + 17;
    const to = now + 61 * 60_000 + 13;
    window = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
    const past = new Date(now - 5 * DAY).toISOString();
    const price = async (input: string) => {
      const res = await gw.call('/admin/pricing', {
        method: 'PUT',
        json: { model_name: MODEL, input_token_cost: input, output_token_cost: '0', effective_from: past },
      });
      expect(res.status).toBeLessThan(300);
    };
    await price('0.00001');

    // one live row each (this hour: the hourly layer), cost 0.01 at 1000 input tokens
    const live = await chat(accountKey, MODEL);
    expect(live.status).toBe(200);
    expect((await chat(soloKey, MODEL)).status).toBe(200);
    const liveRow = await gw.usageRow(live.headers.get('x-request-id'));
    expect(liveRow).toMatchObject({ cost_total: '0.01' });
    // and the account's rows at other times: a raw edge, an hour of the partial first day, a whole day,
    // and one just before the window
    const at = (name: string, time: number): UsageLogInsert => ({
      requestId: `req_charge_${name}`,
      createdAt: new Date(time),
      apiKeyId: String(liveRow?.api_key_id),
      provider: String(liveRow?.provider),
      model: MODEL,
      endpoint: 'chat.completions',
      stream: false,
      status: 'ok',
      httpStatus: 200,
      promptTokens: 1000,
      completionTokens: 500,
      totalTokens: 1500,
      usageSource: 'upstream',
      pricingId: (liveRow?.pricing_id as number | null) ?? null,
      inputTokenCost: '0.00001',
      outputTokenCost: '0',
      pricingSource: String(liveRow?.pricing_source),
      costInput: '0.01',
      costOutput: '0',
      costTotal: '0.01',
      latencyMs: 5,
      accountId: account,
      markup: '1.25',
      chargeUsd: '0.0125',
    });
    await insertUsageRows(gw.deps.database, [
      at('edge', from + 5 * 60_000),
      at('hour', from + 2 * HOUR),
      at('day', day(now - 2 * DAY) + 12 * HOUR),
      at('before', from - 60_000),
    ]);

    const expectFigures = async (cost: string, charge: string, soloCost: string) => {
      // the account's rows alone (usage_logs): 4 in the window
      const rows = await get(`/usage?account_id=${account}&model=${encodeURIComponent(MODEL)}&${inWindow()}`);
      expect(rows.body.totals).toMatchObject({ requests: 4, cost_usd: cost, charge_usd: charge });
      // by model (the rollups' layers and raw edges): the account's 4 and the solo key's 1
      const byModel = await summary(`group_by=model&model=${encodeURIComponent(MODEL)}&${inWindow()}`);
      // the solo key is charged its cost
      const group = { cost_usd: addExact(cost, soloCost), charge_usd: addExact(charge, soloCost) };
      expect(byModel.data.map(pick)).toEqual([{ group: MODEL, requests: 5, ...group }]);
      expect(byModel.totals).toMatchObject({ requests: 5, ...group });
      // by account (raw rows): the same sums split by account, '' for the key without one
      const byAccount = await summary(`group_by=account&model=${encodeURIComponent(MODEL)}&${inWindow()}`);
      expect(byAccount.data.map(pick)).toEqual([
        { group: account, requests: 4, cost_usd: cost, charge_usd: charge },
        { group: '', requests: 1, cost_usd: soloCost, charge_usd: soloCost },
      ]);
      expect(byAccount.totals).toMatchObject({ cost_usd: group.cost_usd, charge_usd: group.charge_usd });
      // a page of one: the rest is `other`, with its charge
      const paged = await summary(
        `group_by=account&limit=1&model=${encodeURIComponent(MODEL)}&${inWindow()}`,
      );
      expect(paged.other).toMatchObject({ groups: 1, cost_usd: soloCost, charge_usd: soloCost });
      // by day with the account filter: every layer, summed
      const byDay = await summary(
        `group_by=day&account_id=${account}&model=${encodeURIComponent(MODEL)}&${inWindow()}`,
      );
      expect(byDay.totals).toMatchObject({ requests: 4, cost_usd: cost, charge_usd: charge });
    };

    await expectFigures('0.04', '0.05', '0.01');

    // the price drops tenfold: each row's correction is -0.009, its charge moves by -0.009 × 1.25
    await price('0.000001');
    const done = await post('/admin/reprice', {
      from: past,
      to: new Date(Date.now() + 1000).toISOString(),
      model: MODEL,
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    await expectFigures('0.004', '0.005', '0.001');
    const rows = await get(
      `/usage?account_id=${account}&model=${encodeURIComponent(MODEL)}&${inWindow()}&limit=1`,
    );
    expect((rows.body.data as Json[])[0]).toMatchObject({
      charge_usd: '0.0125',
      corrections_usd: '-0.009',
      corrected_cost_total: '0.001',
      corrected_charge_usd: '0.00125',
    });
  });

  it('filters by account_id: an unknown account has no rows, a malformed one is a 400 naming it', async () => {
    const none = await get('/usage?account_id=acct_nobody');
    expect(none.status).toBe(200);
    expect(none.body.totals).toMatchObject({ requests: 0, cost_usd: '0', charge_usd: '0' });
    for (const path of [
      '/usage?account_id=nope',
      '/usage/summary?group_by=model&account_id=',
      '/usage?account_id=acct_%00',
    ]) {
      const res = await get(path);
      expect(res.status, path).toBe(400);
      expect(res.body).toMatchObject({ error: { param: 'account_id', type: 'invalid_request_error' } });
    }
  });
});
