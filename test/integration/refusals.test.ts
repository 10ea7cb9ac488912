// Refusals at admission write no usage row: they are counted per key, day and reason in key_refusals
// (on both databases), in /metrics by reason, and shown on the dashboard's keys table and Accounts page.

import { sql } from 'drizzle-orm';
import { HttpResponse, http } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { BACKENDS } from '../helpers/databases.ts';
import { ADMIN_KEY, gatewaySuite, type TestGateway } from '../helpers/gateway.ts';

// PGlite's migrations alone take over 10 s on a loaded machine
vi.setConfig({ hookTimeout: 60_000 });

describe.each(BACKENDS)('refusals counted on %s', (backend) => {
  let gw: TestGateway;
  gatewaySuite(
    {
      backend,
      handlers: [
        http.post('*/chat/completions', () =>
          HttpResponse.json({
            object: 'chat.completion',
            usage: { prompt_tokens: 1000, completion_tokens: 500 },
          }),
        ),
      ],
    },
    (suite) => ({ gw } = suite),
  );

  const post = async (path: string, json: unknown) =>
    (await (await gw.call(path, { method: 'POST', json })).json()) as Record<string, string>;
  const chat = (key: string) =>
    gw.call('/v1/chat/completions', {
      method: 'POST',
      key,
      json: {
        model: 'openai/gpt-oss-120b:groq',
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 500,
      },
    });
  async function signIn(): Promise<string> {
    const res = await gw.app.request('http://localhost/dashboard/login', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: 'http://localhost',
        host: 'localhost',
      },
      body: new URLSearchParams({ key: ADMIN_KEY }).toString(),
    });
    expect(res.status).toBe(303);
    return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  }

  it('counts budget, rpm and credit refusals per key and reason, in /metrics, and shows them', async () => {
    const rated = await post('/admin/keys', { name: 'rated', rpm_limit: 1 });
    const budgeted = await post('/admin/keys', { name: 'budgeted', monthly_budget_usd: '0.000001' });
    const account = await post('/admin/accounts', { name: 'Broke Co' });
    const broke = await post('/admin/keys', { name: 'broke', account_id: account.id });

    expect((await chat(rated.key!)).status).toBe(200);
    expect((await chat(rated.key!)).status).toBe(429);
    expect((await chat(rated.key!)).status).toBe(429);
    expect((await chat(budgeted.key!)).status).toBe(429);
    expect((await chat(broke.key!)).status).toBe(402);

    await gw.refusals.flush();
    const rows = await gw.deps.database.rows<{ api_key_id: string; reason: string; count: string }>(
      sql`select api_key_id, reason, count::text as count from key_refusals order by reason`,
    );
    expect(rows).toEqual([
      { api_key_id: budgeted.id, reason: 'budget', count: '1' },
      { api_key_id: broke.id, reason: 'credits', count: '1' },
      { api_key_id: rated.id, reason: 'rpm', count: '2' },
    ]);
    // a second flush adds to the same rows (what another replica does)
    expect((await chat(rated.key!)).status).toBe(429);
    await gw.refusals.flush();
    const [rpm] = await gw.deps.database.rows<{ count: string }>(
      sql`select count::text as count from key_refusals where reason = 'rpm'`,
    );
    expect(rpm?.count).toBe('3');

    const metrics = await (await gw.call('/metrics')).text();
    expect(metrics).toMatch(/tollgate_refusals_total\{reason="rpm"\} 3/);
    expect(metrics).toMatch(/tollgate_refusals_total\{reason="credits"\} 1/);
    expect(metrics).toMatch(/tollgate_refusals_total\{reason="concurrency"\} 0/);

    const cookie = await signIn();
    const html = await (await gw.app.request('http://localhost/dashboard', { headers: { cookie } })).text();
    const row = (id: string | undefined) =>
      html.slice(html.indexOf(`data-key-id="${id}"`)).split('</tr>')[0] ?? '';
    expect(row(rated.id)).toContain('rpm 3 / 3');
    expect(row(budgeted.id)).toContain('budget 1 / 1');
    expect(row(broke.id)).toContain('credits 1 / 1');

    const accounts = await (
      await gw.app.request('http://localhost/dashboard/accounts', { headers: { cookie } })
    ).text();
    const accountRow = accounts.slice(accounts.indexOf(`data-account="${account.id}"`)).split('</tr>')[0];
    expect(accountRow).toMatch(/data-column="credit-refusals">1</);
  });
});
