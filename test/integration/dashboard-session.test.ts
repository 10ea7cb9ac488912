// The dashboard's session and forms, hardened (issue 13.5): a sign-out ends the session on every
// replica, sign-ins are throttled per client, the cookie is Secure behind a trusted TLS proxy, pages
// carry CSP and anti-framing headers, every POST form is same-origin only, and a NUL in a filter is a 400.
import { createHash } from 'node:crypto';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppEnv } from '../../src/middleware/context.ts';
import { renderError } from '../../src/middleware/error-handler.ts';
import { dashboardRoutes } from '../../src/routes/dashboard.ts';
import { LOGIN_ATTEMPTS_PER_MINUTE } from '../../src/services/admin/dashboard-sessions.ts';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';
import { expectError } from '../helpers/requests.ts';

type Fetch = (path: string, init?: RequestInit) => Response | Promise<Response>;

/** A browser's form post to the dashboard from its own origin. */
function post(fetch: Fetch, path: string, { form = {}, headers = {} as Record<string, string> } = {}) {
  return fetch(path, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      origin: 'http://localhost',
      host: 'localhost',
      ...headers,
    },
    body: new URLSearchParams(form).toString(),
  });
}

let clients = 0;

/**
 * Signs in with the admin key; resolves to the session cookie (`name=value`) and the reply. Each
 * sign-in comes from an address of its own (behind the trusted proxy), so the throttle stays out of
 * tests that are not about it.
 */
async function signIn(fetch: Fetch, headers: Record<string, string> = {}) {
  clients += 1;
  const res = await post(fetch, 'http://localhost/dashboard/login', {
    form: { key: ADMIN_KEY },
    headers: { 'x-forwarded-for': `10.0.${clients >> 8}.${clients & 255}`, ...headers },
  });
  const setCookie = res.headers.get('set-cookie') ?? '';
  return { res, setCookie, cookie: setCookie.split(';')[0] ?? '' };
}

const page = (fetch: Fetch, cookie: string, query = '') =>
  fetch(`http://localhost/dashboard${query}`, { headers: { cookie } });

describe('the dashboard session and forms', () => {
  let upstream: MockUpstream;
  /** a gateway that trusts no proxy headers */
  let direct: TestGateway;
  /** one behind a TLS-terminating proxy (TRUST_PROXY=true), which the browser tests go through */
  let gw: TestGateway;
  let fetch: Fetch;

  beforeAll(async () => {
    upstream = await startMockUpstream();
    direct = await startTestGateway({ backend: 'pglite', upstreamUrl: upstream.url });
    gw = await startTestGateway({
      backend: 'pglite',
      upstreamUrl: upstream.url,
      env: { TRUST_PROXY: 'true' },
    });
    fetch = (path, init) => gw.app.request(path, init);
  });
  afterAll(async () => {
    await gw?.close();
    await direct?.close();
    await upstream?.close();
  });

  it('ends the session on sign-out: the old cookie no longer opens the dashboard', async () => {
    const { res, cookie } = await signIn(fetch);
    expect(res.status).toBe(303);
    expect((await page(fetch, cookie)).status).toBe(200);
    const out = await post(fetch, 'http://localhost/dashboard/logout', { headers: { cookie } });
    expect(out.status).toBe(303);
    // a copy of the cookie kept from before the sign-out (stolen, or another tab's)
    const after = await page(fetch, cookie);
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toBe('/dashboard/login');
    const csv = await fetch('http://localhost/dashboard/usage.csv', { headers: { cookie } });
    expect(csv.status).toBe(303);
  });

  it('ends the session on every replica: a sign-out on one closes it on another', async () => {
    const replica = new Hono<AppEnv>().route('/dashboard', dashboardRoutes(gw.deps));
    replica.onError((err, c) => renderError(err, c));
    const other: Fetch = (path, init) => replica.request(path, init);
    const { cookie } = await signIn(fetch);
    expect((await page(other, cookie)).status).toBe(200);
    await post(other, 'http://localhost/dashboard/logout', { headers: { cookie } });
    expect((await page(fetch, cookie)).status).toBe(303);
  });

  it('refuses a sign-out or sign-in posted from another site, and a sign-out by GET', async () => {
    const { cookie } = await signIn(fetch);
    const forged = await post(fetch, 'http://localhost/dashboard/logout', {
      headers: { cookie, origin: 'https://evil.example' },
    });
    expect(forged.status).toBe(403);
    const crossSite = await post(fetch, 'http://localhost/dashboard/logout', {
      headers: { cookie, 'sec-fetch-site': 'cross-site' },
    });
    expect(crossSite.status).toBe(403);
    expect((await fetch('http://localhost/dashboard/logout', { headers: { cookie } })).status).toBe(404);
    expect((await page(fetch, cookie)).status).toBe(200);
    const login = await post(fetch, 'http://localhost/dashboard/login', {
      form: { key: ADMIN_KEY },
      headers: { origin: 'https://evil.example' },
    });
    expect(login.status).toBe(403);
    expect(login.headers.get('set-cookie')).toBeNull();
  });

  it('throttles sign-in attempts per client: 429 with retry-after, other clients unaffected', async () => {
    const from = (ip: string) => ({ 'x-forwarded-for': `203.0.113.9, ${ip}` });
    for (let i = 0; i < LOGIN_ATTEMPTS_PER_MINUTE; i++) {
      const wrong = await post(fetch, 'http://localhost/dashboard/login', {
        form: { key: 'tg-admin-guess' },
        headers: from('198.51.100.7'),
      });
      expect(wrong.status).toBe(401);
    }
    // even the right key waits now
    const refused = await signIn(fetch, from('198.51.100.7'));
    expect(refused.res.status).toBe(429);
    const wait = Number(refused.res.headers.get('retry-after'));
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(60);
    expect(refused.setCookie).toBe('');
    expect(await refused.res.text()).toMatch(/Too many sign-in attempts/);
    // the first x-forwarded-for entry is the client's own claim: only the proxy's last entry counts
    expect((await signIn(fetch, from('198.51.100.8'))).res.status).toBe(303);
  });

  it('marks the cookie Secure behind a trusted TLS proxy, and only then', async () => {
    expect((await signIn(fetch, { 'x-forwarded-proto': 'https' })).setCookie).toMatch(/;\s*Secure/i);
    expect((await signIn(fetch)).setCookie).not.toMatch(/Secure/i);
    // without TRUST_PROXY the header is anyone's to send
    const untrusted = await signIn((path, init) => direct.app.request(path, init), {
      'x-forwarded-proto': 'https',
    });
    expect(untrusted.setCookie).toMatch(/HttpOnly/i);
    expect(untrusted.setCookie).not.toMatch(/Secure/i);
  });

  it('sends CSP, X-Frame-Options DENY and nosniff, and the CSP allows exactly its inline style and script', async () => {
    const { cookie } = await signIn(fetch);
    for (const res of [await fetch('http://localhost/dashboard/login'), await page(fetch, cookie)]) {
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toMatch(/default-src 'none'/);
      expect(csp).toMatch(/frame-ancestors 'none'/);
      expect(csp).toMatch(/form-action 'self'/);
      const html = await res.text();
      for (const tag of ['style', 'script']) {
        const body = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(html)?.[1] ?? '';
        expect(body.length).toBeGreaterThan(0);
        const hash = createHash('sha256').update(body).digest('base64');
        expect(csp).toContain(`${tag}-src 'sha256-${hash}'`);
      }
    }
  });

  it('answers a NUL in a /usage or dashboard filter with a 400 naming it, not a 500', async () => {
    await expectError(await gw.call('/usage?model=%00'), 400, 'invalid_parameter', 'model');
    await expectError(await gw.call('/usage?key_id=key%00x'), 400, 'invalid_parameter', 'key_id');
    await expectError(await gw.call('/usage?user=a%00'), 400, 'invalid_parameter', 'user');
    await expectError(
      await gw.call('/usage/summary?group_by=day&served_by=%00'),
      400,
      'invalid_parameter',
      'served_by',
    );
    const { cookie } = await signIn(fetch);
    await expectError(await page(fetch, cookie, '?model=%00'), 400, 'invalid_parameter', 'model');
    await expectError(await page(fetch, cookie, '?user=%00'), 400, 'invalid_parameter', 'user');
    const csv = await fetch('http://localhost/dashboard/usage.csv?key_id=%00', { headers: { cookie } });
    await expectError(csv, 400, 'invalid_parameter', 'key_id');
  });
});
