// The billing dashboard in real headless Chromium (Debian's, driven by playwright-core): sign in,
// change the period and a filter, check the figures against /usage/summary, see the usage log's cost at
// 1280 px, break down by end user and tag, download the CSV, sign out.
import { existsSync, mkdirSync } from 'node:fs';
import { HttpResponse, http } from 'msw';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePeriod } from '../../src/dashboard/period.ts';
import { usageLogs } from '../../src/db/schema.ts';
import { fixtureText } from '../helpers/fixtures.ts';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = new URL('./screenshots/', import.meta.url).pathname;
if (!existsSync(CHROMIUM))
  console.warn('test/e2e/dashboard: no Chromium at /usr/bin/chromium (apt-get install chromium): skipping');

type Totals = {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: string;
  unpriced_requests: number;
};

describe.skipIf(!existsSync(CHROMIUM))('the billing dashboard in Chromium', { timeout: 60_000 }, () => {
  let upstream: MockUpstream;
  let gw: TestGateway;
  let base: string;
  let browser: Browser;
  let page: Page;
  let keyId: string;
  const cspViolations: string[] = [];

  beforeAll(async () => {
    upstream = await startMockUpstream(
      http.post('*/chat/completions', async ({ request }) => {
        const body = (await request.json()) as { messages: Array<{ content: string }> };
        if (body.messages[0]?.content === 'fail')
          return HttpResponse.json({ error: { message: 'down' } }, { status: 500 });
        return new HttpResponse(fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json'), {
          headers: { 'content-type': 'application/json' },
        });
      }),
    );
    gw = await startTestGateway({ backend: 'pglite', upstreamUrl: upstream.url });
    const created = (await (
      await gw.call('/admin/keys', { method: 'POST', json: { name: 'team-a', monthly_budget_usd: '5' } })
    ).json()) as { id: string; key: string };
    keyId = created.id;
    const chat = (content: string, key = ADMIN_KEY, model = 'openai/gpt-oss-120b:groq', user?: string) =>
      gw.call('/v1/chat/completions', {
        method: 'POST',
        key,
        json: { model, messages: [{ role: 'user', content }], ...(user ? { user } : {}) },
      });
    for (let i = 0; i < 2; i++) await chat('hi');
    await chat('hi', ADMIN_KEY, 'openai/gpt-oss-120b:groq', 'end-user-alice');
    for (let i = 0; i < 2; i++) await chat('hi', created.key, 'meta-llama/Llama-3.3-70B-Instruct:groq');
    await chat('fail', created.key);
    // an older request, outside "last 7 days" but inside "last 30 days"
    const [recent] = await gw.deps.database.db.select().from(usageLogs).limit(1);
    await gw.deps.database.db.insert(usageLogs).values({
      ...recent!,
      id: undefined,
      requestId: 'req_old',
      createdAt: new Date(Date.now() - 12 * 86_400_000),
      costTotal: '1.5',
    } as typeof usageLogs.$inferInsert);
    // a tagged row with cached and reasoning tokens, from a provider the router picked
    await gw.deps.database.db.insert(usageLogs).values({
      ...recent!,
      id: undefined,
      requestId: 'req_tagged_0123456789abcdef',
      createdAt: new Date(Date.now() - 3_600_000),
      apiKeyId: null,
      endUser: 'end-user-bob',
      tags: ['feature:search', 'env:prod'],
      servedBy: 'cerebras',
      cachedTokens: 40,
      reasoningTokens: 12,
      costTotal: '0.25',
    } as typeof usageLogs.$inferInsert);
    base = await gw.listen();
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('console', (message) => {
      if (/Content.Security.Policy/i.test(message.text())) cspViolations.push(message.text());
    });
  });
  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    await upstream?.close();
  });

  async function summaryTotals(query: string): Promise<Totals> {
    const { totals } = (await (await gw.call(`/usage/summary?group_by=day&${query}`)).json()) as {
      totals: Totals;
    };
    const { requests, prompt_tokens, completion_tokens, cost_usd, unpriced_requests } = totals;
    return { requests, prompt_tokens, completion_tokens, cost_usd, unpriced_requests };
  }
  async function shownTotals() {
    const text = async (id: string) => (await page.textContent(`#${id}`))?.trim() ?? '';
    return {
      requests: Number((await text('total-requests')).replaceAll(',', '')),
      prompt_tokens: Number((await text('total-prompt-tokens')).replaceAll(',', '')),
      completion_tokens: Number((await text('total-completion-tokens')).replaceAll(',', '')),
      cost_usd: (await text('total-cost')).replace('$', ''),
      unpriced_requests: Number(await text('total-unpriced')),
    };
  }
  const range = (name: '7d' | '30d') => {
    const p = resolvePeriod(name, new Date());
    return `from=${p.from.toISOString()}&to=${p.to.toISOString()}`;
  };

  it('refuses a wrong key and keeps the dashboard behind the login', async () => {
    await page.goto(`${base}/dashboard`);
    expect(new URL(page.url()).pathname).toBe('/dashboard/login');
    await page.fill('#key', 'tg-admin-not-the-key');
    const [response] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect(response?.status()).toBe(401);
    expect(await page.textContent('[role=alert]')).toMatch(/not the admin key/);
    await page.screenshot({ path: `${SHOTS}login-refused.png` });
  });

  it('signs in with the admin key into an httpOnly, SameSite=Strict session, with no key in any URL', async () => {
    await page.fill('#key', ADMIN_KEY);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect(new URL(page.url()).pathname).toBe('/dashboard');
    expect(page.url()).not.toContain(ADMIN_KEY);
    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({ name: 'tollgate_session', httpOnly: true, sameSite: 'Strict' });
    expect(cookie?.value).not.toContain(ADMIN_KEY);
    await page.screenshot({ path: `${SHOTS}dashboard-7d.png`, fullPage: true });
  });

  it('shows the same totals as /usage/summary for the last 7 days', async () => {
    const shown = await shownTotals();
    expect(shown).toEqual(await summaryTotals(range('7d')));
    expect(shown.requests).toBe(7);
    expect(await page.textContent('#total-errors')).toBe('1');
  });

  it('shows cost, tokens and status without scrolling sideways at 1280 px, the request id shortened', async () => {
    await page.screenshot({ path: `${SHOTS}dashboard-1280.png`, fullPage: true });
    const overflow = (await page.evaluate(
      'document.documentElement.scrollWidth - window.innerWidth',
    )) as number;
    expect(overflow).toBeLessThanOrEqual(0);
    const row = page.locator('table.log tbody tr').first();
    await row.scrollIntoViewIfNeeded();
    for (const cell of ['td.cost', 'td:nth-child(2)', 'td:nth-child(4)', 'td:nth-child(5)', 'td.request']) {
      const box = await row.locator(cell).boundingBox();
      expect(box, cell).not.toBeNull();
      expect(box!.x, cell).toBeGreaterThanOrEqual(0);
      expect(box!.x + box!.width, cell).toBeLessThanOrEqual(1280);
    }
    // the log scrolls inside its panel, if at all: the cost is visible there without scrolling it
    const scrolled = (await page.evaluate(`document.querySelector('.scroll').scrollLeft`)) as number;
    expect(scrolled).toBe(0);
    const tagged = page.locator('tr', { has: page.locator('[title="req_tagged_0123456789abcdef"]') });
    expect(await tagged.locator('td.request span').textContent()).toBe('req_tagged_0…');
    expect(await tagged.locator('button.copy').getAttribute('data-copy')).toBe('req_tagged_0123456789abcdef');
    expect(await tagged.textContent()).toMatch(/40 cached.*12 reasoning.*via cerebras.*end-user-bob/s);
    expect(cspViolations).toEqual([]);
  });

  it('breaks down by end user and by tag, and filters on them', async () => {
    expect(await page.textContent('#by-user')).toMatch(/end-user-alice/);
    expect(await page.textContent('#by-user')).toMatch(/end-user-bob/);
    expect(await page.textContent('#by-tag')).toMatch(/feature:search/);
    // a search input suggesting the top tags, not a list of every tag (issue 23.6)
    expect(await page.locator('#tag-values option[value="feature:search"]').count()).toBe(1);
    await page.fill('input[name=tag]', 'feature:search');
    await Promise.all([page.waitForNavigation(), page.click('form.filters button[type=submit]')]);
    expect((await shownTotals()).requests).toBe(1);
    expect(await shownTotals()).toEqual(await summaryTotals(`${range('7d')}&tag=feature:search`));
    await page.fill('input[name=tag]', '');
    await page.fill('input[name=user]', 'end-user-alice');
    await Promise.all([page.waitForNavigation(), page.click('form.filters button[type=submit]')]);
    expect((await shownTotals()).requests).toBe(1);
    expect(await shownTotals()).toEqual(await summaryTotals(`${range('7d')}&user=end-user-alice`));
    await page.fill('input[name=user]', '');
    await Promise.all([page.waitForNavigation(), page.click('form.filters button[type=submit]')]);
  });

  it('follows a change of period and of key filter', async () => {
    await page.selectOption('select[name=period]', '30d');
    await Promise.all([page.waitForNavigation(), page.click('form.filters button[type=submit]')]);
    expect((await shownTotals()).requests).toBe(8);
    expect(await shownTotals()).toEqual(await summaryTotals(range('30d')));

    expect(await page.locator(`#key_id-values option[value="${keyId}"]`).count()).toBe(1);
    await page.fill('input[name=key_id]', keyId);
    await Promise.all([page.waitForNavigation(), page.click('form.filters button[type=submit]')]);
    const shown = await shownTotals();
    expect(shown.requests).toBe(3);
    expect(shown).toEqual(await summaryTotals(`${range('30d')}&key_id=${keyId}`));
    await page.screenshot({ path: `${SHOTS}dashboard-30d-key.png`, fullPage: true });
  });

  it('downloads the same selection as CSV', async () => {
    const href = await page.getAttribute('#csv-link', 'href');
    const res = await page.request.get(`${base}${href}`);
    expect(res.headers()['content-type']).toMatch(/^text\/csv/);
    const lines = (await res.text()).trimEnd().split('\r\n');
    expect(lines[0]).toMatch(/^id,request_id,created_at/);
    expect(lines).toHaveLength(1 + 3);
    expect(lines.slice(1).every((line) => line.includes(keyId))).toBe(true);
  });

  it('reads well on a phone', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    const overflow = (await page.evaluate(
      'document.documentElement.scrollWidth - window.innerWidth',
    )) as number;
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: `${SHOTS}dashboard-phone.png`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('signs out, and the dashboard is closed again', async () => {
    await Promise.all([page.waitForNavigation(), page.click('text=Sign out')]);
    expect(new URL(page.url()).pathname).toBe('/dashboard/login');
    await page.goto(`${base}/dashboard`);
    expect(new URL(page.url()).pathname).toBe('/dashboard/login');
    const csv = await page.request.get(`${base}/dashboard/usage.csv`, { maxRedirects: 0 });
    expect(csv.status()).toBe(303);
  });
});
