// Corrections (issue 15): PUT /admin/pricing with a past effective_from, then POST /admin/reprice
// appends one correction per changed row; the rows stay as written, and every total, summary, the
// hourly rollup and key spend include the corrections, so the ledger's sum is always the bill.
import { sql } from 'drizzle-orm';
import { HttpResponse, http } from 'msw';
import { describe, expect, it } from 'vitest';
import { add, formatDecimal, parseDecimal, ZERO } from '../../src/billing/money.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { fixtureText } from '../helpers/fixtures.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import { chatRequest, expectError, json, type Row } from '../helpers/requests.ts';

// 1000 prompt tokens (400 cached), 500 completion
const body = fixtureText('nonstream/hf-groq-gpt-oss-120b.cached-reasoning.response.json');
type Totals = { requests: number; cost_usd: string };
type Reprice = {
  id: string | null;
  dry_run: boolean;
  rows_examined: number;
  rows_corrected: number;
  delta_usd: string;
};

describe.each(BACKENDS)('POST /admin/reprice on %s', (backend) => {
  let gw: TestGateway;

  gatewaySuite(
    {
      backend,
      handlers: [
        http.post(
          '*/chat/completions',
          () => new HttpResponse(body, { headers: { 'content-type': 'application/json' } }),
        ),
      ],
    },
    (suite) => ({ gw } = suite),
  );

  const reprice = (payload: Record<string, unknown>) =>
    gw.call('/admin/reprice', { method: 'POST', json: payload });
  const rows = (query: string) => gw.deps.database.rows<Row>(sql.raw(query));

  it('appends one correction per changed row, once, and every sum includes it', async () => {
    const model = 'acme/mispriced:groq';
    const created = await json<{ id: string; key: string }>(
      gw.call('/admin/keys', { method: 'POST', json: { name: 'reprice' } }),
    );
    const wrongFrom = new Date(Date.now() - 60_000).toISOString();
    await gw.call('/admin/pricing', {
      method: 'PUT',
      json: {
        model_name: model,
        input_token_cost: '0.00001',
        output_token_cost: '0.00003',
        effective_from: wrongFrom,
      },
    });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await gw.call('/v1/chat/completions', {
        method: 'POST',
        json: { ...chatRequest, model },
        key: created.key,
      });
      expect(res.headers.get('x-usage-cost-usd')).toBe('0.025');
      ids.push(res.headers.get('x-request-id') as string);
    }
    // the price that was due, from the same moment on: 600 × 0.000001 + 400 × 0.0000005 + 500 × 0.000003 = 0.0023
    await gw.call('/admin/pricing', {
      method: 'PUT',
      json: {
        model_name: model,
        input_token_cost: '0.000001',
        cached_input_token_cost: '0.0000005',
        output_token_cost: '0.000003',
        effective_from: wrongFrom,
      },
    });
    const window = { from: wrongFrom, to: new Date(Date.now() + 1000).toISOString(), model };

    const dry = await json<Reprice>(reprice({ ...window, dry_run: true }));
    expect(dry).toMatchObject({
      id: null,
      dry_run: true,
      rows_examined: 3,
      rows_corrected: 3,
      delta_usd: '-0.0681',
    });
    expect(await rows('select * from usage_corrections')).toEqual([]);

    const done = await json<Reprice>(reprice(window));
    expect(done).toMatchObject({ dry_run: false, rows_corrected: 3, delta_usd: '-0.0681' });
    const corrections = await rows(`select * from usage_corrections order by id`);
    expect(corrections).toHaveLength(3);
    expect(corrections[0]).toMatchObject({
      request_id: ids[0],
      actor: 'master',
      reprice_id: done.id,
      old_input_token_cost: '0.00001',
      old_cost_total: '0.025',
      new_input_token_cost: '0.000001',
      new_cached_input_token_cost: '0.0000005',
      new_cost_total: '0.0023',
      delta_usd: '-0.0227',
    });
    // the rows themselves are never changed
    const ledger = await rows(
      `select cost_total::text as cost_total from usage_logs where model = '${model}'`,
    );
    expect(ledger.map((r) => r.cost_total)).toEqual(['0.025', '0.025', '0.025']);

    // a second run finds nothing to correct
    expect(await json<Reprice>(reprice(window))).toMatchObject({ rows_corrected: 0, delta_usd: '0' });
    expect(await rows('select * from usage_corrections')).toHaveLength(3);

    // /usage rows show their corrections; totals, summaries (rollup and ragged edges) agree with the ledger
    const page = await json<{ data: Row[]; totals: Totals }>(
      gw.call(`/usage?model=${encodeURIComponent(model)}`),
    );
    expect(page.data.map((r) => r.corrected_cost_total)).toEqual(['0.0023', '0.0023', '0.0023']);
    expect(((page.data[0]?.corrections ?? []) as Row[])[0]).toMatchObject({
      delta_usd: '-0.0227',
      new_cost_total: '0.0023',
    });
    expect(page.totals.cost_usd).toBe('0.0069');
    const ledgerSum = formatDecimal(
      page.data.reduce((sum, r) => add(sum, parseDecimal(String(r.corrected_cost_total))), ZERO),
    );
    const hour = 3_600_000;
    const wholeHours = `from=${new Date(Math.floor(Date.now() / hour - 2) * hour).toISOString()}&to=${new Date(Math.ceil(Date.now() / hour + 1) * hour).toISOString()}`;
    const ragged = `from=${encodeURIComponent(wrongFrom)}&to=${encodeURIComponent(window.to)}`;
    for (const range of [wholeHours, ragged]) {
      const summary = await json<{ data: Array<{ group: string; cost_usd: string }>; totals: Totals }>(
        gw.call(`/usage/summary?group_by=model&model=${encodeURIComponent(model)}&${range}`),
      );
      expect(summary.totals.cost_usd).toBe(ledgerSum);
      expect(summary.data).toEqual([expect.objectContaining({ group: model, cost_usd: ledgerSum })]);
      // the narrow rollups (by end user, tag, endpoint, served_by) carry the corrections too
      for (const groupBy of ['user', 'tag', 'endpoint', 'served_by']) {
        const grouped = await json<{ data: Array<{ cost_usd: string }> }>(
          gw.call(`/usage/summary?group_by=${groupBy}&key_id=${created.id}&${range}`),
        );
        const sum = grouped.data.reduce((acc, g) => add(acc, parseDecimal(g.cost_usd)), ZERO);
        expect(formatDecimal(sum), `group_by=${groupBy} ${range}`).toBe(ledgerSum);
      }
    }
    const [hourly] = await rows(
      `select sum(cost_usd)::text as cost from usage_hourly where model = '${model}'`,
    );
    expect(hourly?.cost).toMatch(/^0\.00690*$/);
    // key spend (budgets, alerts) sees the correction
    const [spend] = await rows(
      `select spent_usd::text as spent from key_spend where api_key_id = '${created.id}'`,
    );
    expect(formatDecimal(parseDecimal(String(spend?.spent)))).toBe('0.0069');
    // the audit log records each run (the second, which corrected nothing, too)
    const audit = await rows(`select * from admin_audit where action = 'usage.reprice' order by id`);
    expect(audit).toHaveLength(2);
    expect(audit[0]).toMatchObject({ actor: 'master', target: done.id });
  });

  it('refuses a window that ends before it starts, and unknown fields', async () => {
    await expectError(
      await reprice({ from: '2024-03-02T00:00:00Z', to: '2024-03-01T00:00:00Z' }),
      400,
      'invalid_parameter',
      'to',
    );
    await expectError(
      await reprice({ from: '2024-03-01T00:00:00Z', to: '2024-03-02T00:00:00Z', foo: 1 }),
      400,
      'invalid_parameter',
      'foo',
    );
  });
});
