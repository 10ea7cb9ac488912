// The dashboard's Accounts page and an account's statement page: behind the dashboard session, with
// each account's balance, plan, period cost, charge and margin, exact.
import { HttpResponse, http } from 'msw';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/databases.ts';
import { ADMIN_KEY, gatewaySuite, type TestGateway } from '../helpers/gateway.ts';

describe.each(BACKENDS)('dashboard accounts on %s', (backend) => {
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
    expect(res.status, await res.clone().text()).toBe(303);
    return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  }

  it('shows each account with its balance, plan, period cost, charge and margin, and its statement', async () => {
    const plan = await post('/admin/plans', { name: 'resale', markup: '1.25' });
    const account = await post('/admin/accounts', { name: 'Globex', plan_id: plan.id });
    const key = await post('/admin/keys', { name: 'globex', account_id: account.id });
    await post(`/admin/accounts/${account.id}/credits`, { amount_usd: '10', idempotency_key: 'inv-1' });
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      json: { model: 'openai/gpt-oss-120b:groq', messages: [{ role: 'user', content: 'hi' }] },
      key: key.key!,
    });
    expect(res.status).toBe(200);

    expect((await gw.app.request('http://localhost/dashboard/accounts')).status).toBe(303);
    const cookie = await signIn();
    const page = await gw.app.request('http://localhost/dashboard/accounts', { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBeTruthy();
    const html = await page.text();
    const row = html.slice(html.indexOf(`data-account="${account.id}"`));
    expect(row).toContain('Globex');
    expect(row).toContain('resale (×1.25, block)');
    // balance 10 − 0.003125; cost 0.0025, charge 0.003125, margin 0.000625
    for (const figure of ['$9.996875', '$0.0025', '$0.003125', '$0.000625']) expect(row).toContain(figure);

    const period = new Date().toISOString().slice(0, 7);
    const statement = await gw.app.request(
      `http://localhost/dashboard/accounts/${account.id}?period=${period}`,
      {
        headers: { cookie },
      },
    );
    expect(statement.status).toBe(200);
    const text = await statement.text();
    expect(text).toContain('<strong id="closing">$9.996875</strong>');
    expect(text).toContain('inv-1');
  });

  it('shows the budget bar with its percentage, and one price version as "1 version"', async () => {
    const key = await post('/admin/keys', { name: 'budgeted', monthly_budget_usd: '0.02' });
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      json: {
        model: 'openai/gpt-oss-120b:groq',
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 500,
      },
      key: key.key!,
    });
    expect(res.status).toBe(200);
    const cookie = await signIn();
    const html = await (await gw.app.request('http://localhost/dashboard', { headers: { cookie } })).text();
    // spent 0.0025 of 0.02
    const row = html.slice(html.indexOf(`data-key-id="${key.id}"`));
    expect(row.slice(0, row.indexOf('</tr>'))).toContain('<span class="barpct">12.5%</span>');
    expect(html).toContain('History (1 version)');
    expect(html).not.toContain('1 versions');
  });
});
