// GET /dashboard and its login: the billing dashboard behind the admin key, kept in an httpOnly,
// SameSite=Strict session cookie (never in a URL). Every figure comes from the usage-report service,
// the same one /usage and /usage/summary answer from.
import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { stream } from 'hono/streaming';
import { z } from 'zod';
import { DashboardPage, LoginPage } from '../dashboard/pages.tsx';
import { bucketStarts, type PeriodName, resolvePeriod } from '../dashboard/period.ts';
import { issueSession, isValidSession, SESSION_COOKIE, SESSION_TTL_S } from '../dashboard/session.ts';
import type { AppEnv } from '../middleware/context.ts';
import type { Alerts } from '../services/alerts.ts';
import type { KeyService } from '../services/keys.ts';
import type { PricingService } from '../services/pricing.ts';
import type { SummaryGroup, UsageFilters, UsageReport } from '../services/usage-report.ts';
import { parseWith } from './validation.ts';

const PAGE_ROWS = 50;

const pageQuery = z.object({
  period: z.enum(['today', '7d', '30d', 'month', 'custom']).catch('7d'),
  from: z.iso.date().optional().catch(undefined),
  to: z.iso.date().optional().catch(undefined),
  model: z.string().optional(),
  key_id: z.string().optional(),
  status: z.enum(['ok', 'upstream_error', 'client_aborted', 'gateway_error']).optional().catch(undefined),
  cursor: z.string().optional(),
});

type Deps = {
  adminApiKey: string;
  keys: KeyService;
  pricing: PricingService;
  usageReport: UsageReport;
  alerts: Alerts;
};

/** the newest alerts the keys table shows (each key's current period among them) */
const KEY_ALERTS = 500;

export function dashboardRoutes({ adminApiKey, keys, pricing, usageReport, alerts }: Deps) {
  const signedIn = (cookie: string | undefined) => isValidSession(adminApiKey, cookie);

  /** The page's selection, from its query string: what the filters form sends. */
  function selection(raw: Record<string, string>) {
    const q = parseWith(
      pageQuery,
      Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== '')),
      'query',
    );
    const period = resolvePeriod(q.period as PeriodName, new Date(), { from: q.from, to: q.to });
    const filters: UsageFilters = {
      from: period.from,
      to: period.to,
      model: q.model,
      keyId: q.key_id,
      status: q.status,
    };
    const keep = new URLSearchParams({ period: q.period });
    if (q.period === 'custom') {
      if (q.from) keep.set('from', q.from);
      if (q.to) keep.set('to', q.to);
    }
    for (const field of ['model', 'key_id', 'status'] as const) if (q[field]) keep.set(field, q[field]);
    return { q, period, filters, query: keep.toString() };
  }

  return new Hono<AppEnv>()
    .get('/login', (c) =>
      signedIn(getCookie(c, SESSION_COOKIE)) ? c.redirect('/dashboard', 303) : c.html(LoginPage({})),
    )
    .post('/login', async function login(c) {
      const form = await c.req.parseBody();
      const key = typeof form.key === 'string' ? form.key.trim() : '';
      const principal = key ? await keys.authenticate(key) : undefined;
      if (principal?.kind !== 'admin') {
        return c.html(LoginPage({ error: 'That is not the admin key.' }), 401);
      }
      setCookie(c, SESSION_COOKIE, issueSession(adminApiKey), {
        httpOnly: true,
        sameSite: 'Strict',
        secure: new URL(c.req.url).protocol === 'https:',
        path: '/dashboard',
        maxAge: SESSION_TTL_S,
      });
      return c.redirect('/dashboard', 303);
    })
    .post('/logout', (c) => {
      deleteCookie(c, SESSION_COOKIE, { path: '/dashboard' });
      return c.redirect('/dashboard/login', 303);
    })
    .get('/usage.csv', async function dashboardCsv(c) {
      if (!signedIn(getCookie(c, SESSION_COOKIE))) return c.redirect('/dashboard/login', 303);
      const { filters } = selection(c.req.query());
      c.header('content-type', 'text/csv; charset=utf-8');
      c.header('content-disposition', 'attachment; filename="usage.csv"');
      return stream(c, async (out) => {
        for await (const chunk of usageReport.csv(filters)) await out.write(chunk);
      });
    })
    .get('/', async function dashboard(c) {
      if (!signedIn(getCookie(c, SESSION_COOKIE))) return c.redirect('/dashboard/login', 303);
      const { q, period, filters, query } = selection(c.req.query());
      const { model: _m, ...withoutModel } = filters;
      const [
        totals,
        series,
        byModel,
        byKey,
        byStatus,
        page,
        allModels,
        keyList,
        prices,
        priceHistory,
        recent,
      ] = await Promise.all([
        usageReport.totals(filters),
        usageReport.summary(filters, period.bucket),
        usageReport.summary(filters, 'model'),
        usageReport.summary(filters, 'key'),
        usageReport.summary(filters, 'status'),
        usageReport.list(filters, { limit: PAGE_ROWS, cursor: q.cursor }),
        usageReport.summary(withoutModel, 'model'),
        keys.list(),
        pricing.list(),
        pricing.list({ history: true }),
        alerts.list({}, { limit: KEY_ALERTS }),
      ]);
      c.header('cache-control', 'no-store');
      return c.html(
        DashboardPage({
          data: {
            period,
            filters: { model: q.model, key_id: q.key_id, status: q.status },
            query,
            totals,
            errors: byStatus.filter((g) => g.group !== 'ok').reduce((n, g) => n + g.requests, 0),
            series: dense(series, bucketStarts(period)),
            byModel,
            byKey,
            rows: page.data,
            nextCursor: page.next_cursor,
            models: allModels.map((g) => g.group).sort(),
            keys: keyList,
            alerts: recent.data,
            prices,
            priceHistory: [...priceHistory].reverse(),
          },
        }),
      );
    });
}

/** The summary's groups on every bucket of the period; buckets without requests are zero. */
function dense(groups: SummaryGroup[], starts: string[]): SummaryGroup[] {
  const byStart = new Map(groups.map((g) => [g.group, g]));
  const zero = { requests: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost_usd: '0' };
  return starts.map((start) => byStart.get(start) ?? { group: start, ...zero });
}
