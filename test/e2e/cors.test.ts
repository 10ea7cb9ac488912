// CORS in a real browser: a page served from another origin (its own node:http server) calls the
// gateway with fetch, as a browser app would, and reads the reply and the exposed headers. Preflights
// are answered without a key; credentials are never allowed; an origin not listed gets no CORS headers;
// with CORS_ORIGINS unset there are none at all.
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpResponse, http } from 'msw';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureJson, fixtureText } from '../helpers/fixtures.ts';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';

const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM))
  console.warn('test/e2e/cors: no Chromium at /usr/bin/chromium (apt-get install chromium): skipping');

const replyText = fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json');
const reply = JSON.parse(replyText) as { choices: Array<{ message: { content: string } }> };
const request = fixtureJson<Record<string, unknown>>('nonstream/hf-groq-gpt-oss-120b.request.json');

/** A page's origin: a tiny HTML server on a port of its own (another origin than the gateway's). */
async function startPageServer(): Promise<{ origin: string; server: Server }> {
  const server = createServer((_req, res) => {
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end('<!doctype html><title>app</title>');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

type BrowserResult =
  | { ok: true; status: number; body: unknown; requestId: string | null; costUsd: string | null }
  | { ok: false; error: string };

/** Runs a fetch in the page, as the app's own script would. */
function fetchFromPage(
  page: Page,
  args: {
    url: string;
    key: string;
    json: unknown;
    headers?: Record<string, string>;
    credentials?: 'include' | 'same-origin';
  },
): Promise<BrowserResult> {
  return page.evaluate(async ({ url, key, json, headers, credentials }) => {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify(json),
        credentials: credentials ?? 'same-origin',
      });
      return {
        ok: true as const,
        status: res.status,
        body: await res.json(),
        requestId: res.headers.get('x-request-id'),
        costUsd: res.headers.get('x-usage-cost-usd'),
      };
    } catch (err) {
      return { ok: false as const, error: String(err) };
    }
  }, args);
}

/** A preflight as the browser sends it, from node (no key). */
function preflight(base: string, origin: string) {
  return fetch(`${base}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type,x-tollgate-user',
    },
  });
}

const corsHeaders = (res: Response) =>
  [...res.headers.keys()].filter((name) => name.startsWith('access-control-'));

describe.skipIf(!existsSync(CHROMIUM))(
  'CORS from a browser page on another origin',
  { timeout: 60_000 },
  () => {
    let upstream: MockUpstream;
    let page: { origin: string; server: Server };
    let stranger: { origin: string; server: Server };
    /** CORS_ORIGINS lists the page's origin (and one more) */
    let listed: TestGateway;
    let listedBase: string;
    /** CORS_ORIGINS=* */
    let anyOrigin: TestGateway;
    let anyBase: string;
    /** CORS_ORIGINS unset */
    let closed: TestGateway;
    let closedBase: string;
    let key: string;
    let browser: Browser;

    beforeAll(async () => {
      upstream = await startMockUpstream(
        http.post(
          '*/chat/completions',
          () => new HttpResponse(replyText, { headers: { 'content-type': 'application/json' } }),
        ),
      );
      page = await startPageServer();
      stranger = await startPageServer();
      const start = (env: Record<string, string>) =>
        startTestGateway({ backend: 'pglite', upstreamUrl: upstream.url, env });
      [listed, anyOrigin, closed] = await Promise.all([
        start({ CORS_ORIGINS: `https://app.example.com, ${page.origin}` }),
        start({ CORS_ORIGINS: '*' }),
        start({}),
      ]);
      [listedBase, anyBase, closedBase] = await Promise.all([
        listed.listen(),
        anyOrigin.listen(),
        closed.listen(),
      ]);
      key = (
        (await (
          await listed.call('/admin/keys', { method: 'POST', json: { name: 'browser app' } })
        ).json()) as {
          key: string;
        }
      ).key;
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
      // three gateways, each on its own PGlite, and a browser: slow on a shared machine
    }, 180_000);
    afterAll(async () => {
      await browser?.close();
      await Promise.all([listed?.close(), anyOrigin?.close(), closed?.close()]);
      await upstream?.close();
      for (const s of [page?.server, stranger?.server]) s?.close();
      expect(upstream.unhandled).toEqual([]);
    });

    async function openPage(origin: string): Promise<Page> {
      const tab = await browser.newPage();
      await tab.goto(`${origin}/`);
      return tab;
    }

    it('lets the listed page call the gateway and read the reply and the exposed headers', async () => {
      const tab = await openPage(page.origin);
      try {
        const result = await fetchFromPage(tab, {
          url: `${listedBase}/v1/chat/completions`,
          key,
          json: request,
          headers: { 'x-tollgate-user': 'browser-user-7', 'x-tollgate-tags': 'web,beta' },
        });
        expect(result).toMatchObject({ ok: true, status: 200 });
        if (!result.ok) return;
        expect(result.body).toMatchObject({
          choices: [{ message: { content: reply.choices[0]?.message.content } }],
        });
        expect(result.requestId).toMatch(/^req_[0-9a-f]{32}$/);
        // 81 prompt × 0.000001 + 76 completion × 0.000003
        expect(result.costUsd).toBe('0.000309');
        expect(await listed.usageRow(result.requestId)).toMatchObject({
          status: 'ok',
          end_user: 'browser-user-7',
          tags: ['web', 'beta'],
          cost_total: '0.000309',
        });
      } finally {
        await tab.close();
      }
    });

    it('lets the listed page read the gateway’s own error (a wrong key)', async () => {
      const tab = await openPage(page.origin);
      try {
        const result = await fetchFromPage(tab, {
          url: `${listedBase}/v1/chat/completions`,
          key: 'tg-wrong',
          json: request,
        });
        expect(result).toMatchObject({ ok: true, status: 401, body: { error: { code: 'invalid_api_key' } } });
      } finally {
        await tab.close();
      }
    });

    it('blocks a page whose origin is not listed, before the request reaches the upstream', async () => {
      const before = upstream.requests.length;
      const tab = await openPage(stranger.origin);
      try {
        const result = await fetchFromPage(tab, {
          url: `${listedBase}/v1/chat/completions`,
          key,
          json: request,
        });
        expect(result).toMatchObject({ ok: false, error: expect.stringMatching(/Failed to fetch/) });
        expect(upstream.requests.length).toBe(before);
      } finally {
        await tab.close();
      }
    });

    it('with CORS_ORIGINS=* serves any page, but never a credentialed request', async () => {
      const tab = await openPage(stranger.origin);
      try {
        const plain = await fetchFromPage(tab, {
          url: `${anyBase}/v1/chat/completions`,
          key: ADMIN_KEY,
          json: request,
        });
        expect(plain).toMatchObject({ ok: true, status: 200, costUsd: '0.000309' });
        const credentialed = await fetchFromPage(tab, {
          url: `${anyBase}/v1/chat/completions`,
          key: ADMIN_KEY,
          json: request,
          credentials: 'include',
        });
        expect(credentialed).toMatchObject({ ok: false });
      } finally {
        await tab.close();
      }
    });

    it('with CORS_ORIGINS unset, a page on another origin cannot call the gateway', async () => {
      const tab = await openPage(page.origin);
      try {
        const result = await fetchFromPage(tab, {
          url: `${closedBase}/v1/chat/completions`,
          key,
          json: request,
        });
        expect(result).toMatchObject({ ok: false });
      } finally {
        await tab.close();
      }
    });

    it('answers a listed origin’s preflight without a key: 204 with the allow headers, no credentials', async () => {
      const res = await preflight(listedBase, page.origin);
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(page.origin);
      expect(res.headers.get('access-control-allow-methods')).toContain('POST');
      const allowed = res.headers.get('access-control-allow-headers')?.split(',') ?? [];
      expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type', 'x-tollgate-user']));
      expect(res.headers.get('access-control-max-age')).toBe('600');
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
      expect(res.headers.get('vary')).toMatch(/Origin/);
    });

    it('gives an origin that is not listed no access-control-allow-origin', async () => {
      const pre = await preflight(listedBase, stranger.origin);
      expect(pre.headers.get('access-control-allow-origin')).toBeNull();
      const res = await fetch(`${listedBase}/v1/models`, {
        headers: { origin: stranger.origin, authorization: `Bearer ${key}` },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    });

    it('answers * to any origin’s preflight and never allows credentials', async () => {
      const res = await preflight(anyBase, 'https://anywhere.example');
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
      const get = await fetch(`${anyBase}/v1/models`, {
        headers: { origin: 'https://anywhere.example', authorization: `Bearer ${ADMIN_KEY}` },
      });
      expect(get.headers.get('access-control-allow-origin')).toBe('*');
      expect(get.headers.get('access-control-expose-headers')).toContain('x-usage-cost-usd');
      expect(get.headers.get('access-control-allow-credentials')).toBeNull();
    });

    it('sends no CORS headers at all when CORS_ORIGINS is unset', async () => {
      const pre = await preflight(closedBase, page.origin);
      expect(corsHeaders(pre)).toEqual([]);
      const res = await fetch(`${closedBase}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          origin: page.origin,
          authorization: `Bearer ${ADMIN_KEY}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify(request),
      });
      expect(res.status).toBe(200);
      expect(corsHeaders(res)).toEqual([]);
    });
  },
);
