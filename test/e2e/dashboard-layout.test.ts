/// <reference lib="dom" />
// The dashboard's layout in real headless Chromium (Debian's, driven by playwright-core) at 1280×800 and
// at a phone's 390×844, with long key names, several prices and an account with a plan: no table, cell
// or figure reaches past its panel or card (the "Since" column once was clipped), names do not wrap
// mid-word. Screenshots go to /tmp/tollgate-layout/ to be looked at.
import { existsSync, mkdirSync } from 'node:fs';
import { HttpResponse, http } from 'msw';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = '/tmp/tollgate-layout/';
const VIEWPORTS = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
] as const;
const LONG_NAME = 'production backend recommendations service (eu-west)';

/** What reaches past its panel or card: each such element, described. */
function overflowing(): string[] {
  const found: string[] = [];
  for (const box of document.querySelectorAll<HTMLElement>('.panel, .card, .filters, main')) {
    const outer = box.getBoundingClientRect();
    if (box.scrollWidth > box.clientWidth + 1)
      found.push(`${box.className}#${box.id}: scrollWidth ${box.scrollWidth} > ${box.clientWidth}`);
    for (const child of box.querySelectorAll<HTMLElement>('*')) {
      // a child of a scroll container may scroll inside it: that container is checked below
      if (child.closest('.scroll') && !child.classList.contains('scroll')) continue;
      const r = child.getBoundingClientRect();
      if (r.width > 0 && (r.right > outer.right + 1 || r.left < outer.left - 1))
        found.push(
          `${child.tagName}.${child.className} in ${box.className}#${box.id}: ${r.left}–${r.right} outside ${outer.left}–${outer.right}`,
        );
    }
  }
  return found;
}

/** Scroll containers that must scroll to show their table (at 1280 px none may). */
function scrolled(): string[] {
  return [...document.querySelectorAll<HTMLElement>('.scroll')]
    .filter((s) => s.scrollWidth > s.clientWidth + 1)
    .map((s) => `${s.closest('section')?.id ?? '?'}: ${s.scrollWidth} > ${s.clientWidth}`);
}

/**
 * Words of names broken across lines (a cell whose text is split mid-word). A name may wrap where a
 * reader expects it to: at a space, or after a hyphen or slash (model ids: org/model-size).
 */
function brokenNames(): string[] {
  const found: string[] = [];
  for (const cell of document.querySelectorAll<HTMLElement>('td.name')) {
    const range = document.createRange();
    for (const node of cell.childNodes) {
      if (node.nodeType !== Node.TEXT_NODE) continue;
      const text = node.textContent ?? '';
      let start = 0;
      for (const word of text.split(/(\s+|(?<=[-/]))/)) {
        if (word.trim() !== '') {
          range.setStart(node, start);
          range.setEnd(node, start + word.length);
          if (range.getClientRects().length > 1) found.push(word);
        }
        start += word.length;
      }
    }
  }
  return found;
}

describe.skipIf(!existsSync(CHROMIUM))('the dashboard layout in Chromium', { timeout: 120_000 }, () => {
  let upstream: MockUpstream;
  let gw: TestGateway;
  let base: string;
  let browser: Browser;
  let accountId: string;

  beforeAll(async () => {
    upstream = await startMockUpstream(
      http.post('*/chat/completions', () =>
        HttpResponse.json({
          object: 'chat.completion',
          usage: { prompt_tokens: 1000, completion_tokens: 500 },
        }),
      ),
    );
    gw = await startTestGateway({ backend: 'pglite', upstreamUrl: upstream.url });
    const post = async (path: string, json: unknown) =>
      (await (await gw.call(path, { method: 'POST', json })).json()) as Record<string, string>;
    for (const [model, input, output] of [
      ['openai/gpt-oss-120b:groq', '0.00000015', '0.0000006'],
      ['meta-llama/Llama-3.3-70B-Instruct:groq', '0.00000059', '0.00000079'],
      ['deepseek-ai/DeepSeek-R1-Distill-Llama-70B:together', '0.000002', '0.000002'],
      ['Qwen/Qwen2.5-Coder-32B-Instruct:nebius', '0.00000006', '0.00000018'],
    ] as const) {
      const res = await gw.call('/admin/pricing', {
        method: 'PUT',
        json: { model_name: model, input_token_cost: input, output_token_cost: output },
      });
      expect(res.status, await res.clone().text()).toBeLessThan(300);
    }
    const plan = await post('/admin/plans', {
      name: 'Enterprise annual (EU) with rollover',
      markup: '1.25',
      included_usd: '100',
    });
    const account = await post('/admin/accounts', {
      name: 'Globex International Holdings Incorporated',
      plan_id: plan.id,
    });
    accountId = account.id!;
    await post(`/admin/accounts/${accountId}/credits`, {
      amount_usd: '25',
      idempotency_key: 'invoice-2026-000123-topup',
    });
    const keys = [
      await post('/admin/keys', {
        name: LONG_NAME,
        monthly_budget_usd: '5',
        rpm_limit: 1,
        tpm_limit: 100000,
      }),
      await post('/admin/keys', {
        name: 'Globex mobile app',
        account_id: accountId,
        monthly_budget_usd: '50',
      }),
      await post('/admin/keys', { name: 'internal-evaluation-harness-nightly-batch-runner' }),
    ];
    const chat = (key: string, model = 'openai/gpt-oss-120b:groq') =>
      gw.call('/v1/chat/completions', {
        method: 'POST',
        key,
        json: { model, messages: [{ role: 'user', content: 'hi' }] },
      });
    for (const key of keys) await chat(key.key!);
    await chat(keys[0]!.key!); // refused: rpm 1
    await chat(keys[1]!.key!, 'meta-llama/Llama-3.3-70B-Instruct:groq');
    await gw.refusals.flush();
    base = await gw.listen();
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    await upstream?.close();
  });

  async function signedIn(viewport: { width: number; height: number }): Promise<Page> {
    const page = await browser.newPage({ viewport });
    await page.goto(`${base}/dashboard/login`);
    await page.fill('#key', ADMIN_KEY);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    return page;
  }

  for (const viewport of VIEWPORTS) {
    it(`fits the dashboard, the Accounts page and a statement at ${viewport.width} px`, async () => {
      const page = await signedIn(viewport);
      const period = new Date().toISOString().slice(0, 7);
      for (const [name, path] of [
        ['dashboard', '/dashboard?period=30d'],
        ['accounts', '/dashboard/accounts'],
        ['statement', `/dashboard/accounts/${accountId}?period=${period}`],
      ] as const) {
        const res = await page.goto(`${base}${path}`);
        expect(res?.status()).toBe(200);
        await page.screenshot({ path: `${SHOTS}${name}-${viewport.name}.png`, fullPage: true });
        expect(await page.evaluate(overflowing), `${name} at ${viewport.width} px`).toEqual([]);
        expect(await page.evaluate(brokenNames), `${name} at ${viewport.width} px`).toEqual([]);
        // a page that scrolls sideways as a whole is broken on a phone too
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(
          viewport.width,
        );
        if (viewport.name === 'desktop')
          expect(await page.evaluate(scrolled), `${name} at 1280 px`).toEqual([]);
      }
      const keys = await page.goto(`${base}/dashboard?period=30d`);
      expect(keys?.status()).toBe(200);
      expect(await page.textContent('#keys')).toContain(LONG_NAME);
      expect(await page.isVisible('#prices th:has-text("Since")')).toBe(true);
      await page.close();
    });
  }
});
