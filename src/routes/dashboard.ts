// GET /dashboard and its login: the billing dashboard behind the admin key, kept in an httpOnly,
// SameSite=Strict session cookie (never in a URL) whose session lives in the database, so signing out
// ends it on every replica. Every figure comes from the usage-report service, the same one /usage and
// /usage/summary answer from; the CSV download goes through the same streamer as /usage's.
import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { clientAddress, isHttps, isSameOrigin, securityHeaders } from '../dashboard/guard.ts';
import { LoginPage } from '../dashboard/layout.tsx';
import { DashboardPage } from '../dashboard/pages.tsx';
import { bucketStarts, type PeriodName, resolvePeriod } from '../dashboard/period.ts';
import type { Database } from '../db/client.ts';
import type { EndpointAdapter } from '../endpoints/adapter.ts';
import { ENDPOINTS } from '../endpoints/registry.ts';
import { forbidden } from '../errors.ts';
import type { AppEnv } from '../middleware/context.ts';
import {
  createDashboardSessions,
  SESSION_COOKIE,
  SESSION_TTL_S,
} from '../services/admin/dashboard-sessions.ts';
import type { KeyService } from '../services/admission/keys.ts';
import { refusalsOfKeys } from '../services/admission/refusals.ts';
import type { Alerts } from '../services/alerts/alerts.ts';
import type { PricingService } from '../services/pricing/pricing.ts';
import {
  type GroupBy,
  MAX_PAGE_ROWS,
  type SummaryGroup,
  type UsageFilters,
  type UsageReport,
} from '../services/reports/usage-report.ts';
import { csvResponse } from './csv-stream.ts';
import { parseWith } from './validation.ts';

const PAGE_ROWS = 50;
/** models, keys, end users and tags shown in their breakdowns: the biggest spenders */
const TOP_GROUPS = 10;
/**
 * Values a filter's input suggests, the biggest spenders first: four such lists bound the page's
 * options (issue 23: 20,038 options, 2.9 MB, when every tag was listed).
 */
const SUGGESTED = 20;

// PostgreSQL text cannot hold NUL: a 400 here rather than a 500 from the database
const filterText = (max: number) =>
  z
    .string()
    .max(max, { error: `is too long (at most ${max} characters)` })
    .refine((value) => !value.includes('\u0000'), { error: 'must not contain a NUL character' })
    .optional();

const pageQuery = z.object({
  period: z.enum(['today', '7d', '30d', 'month', 'custom']).catch('7d'),
  from: z.iso.date().optional().catch(undefined),
  to: z.iso.date().optional().catch(undefined),
  model: filterText(512),
  key_id: filterText(512),
  status: z.enum(['ok', 'upstream_error', 'client_aborted', 'gateway_error']).optional().catch(undefined),
  // one of the registered endpoints' names (checked in selection(): the registry is the app's)
  endpoint: filterText(64).catch(undefined),
  served_by: filterText(512),
  user: filterText(256),
  tag: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,64}$/, { error: 'must be 1 to 64 characters of A-Z a-z 0-9 . _ : -' })
    .optional(),
  cursor: filterText(200),
});

const KEPT = ['model', 'key_id', 'status', 'endpoint', 'served_by', 'user', 'tag'] as const;

type Deps = {
  adminApiKey: string;
  config: Pick<Config, 'trustProxy'>;
  database: Database;
  keys: KeyService;
  pricing: PricingService;
  usageReport: UsageReport;
  alerts: Alerts;
  /** the metered endpoints, for the endpoint filter */
  endpoints?: readonly EndpointAdapter[];
};

/** the newest alerts the keys table shows (each key's current period among them) */
const KEY_ALERTS = 500;

export function dashboardRoutes({
  adminApiKey,
  config,
  database,
  keys,
  pricing,
  usageReport,
  alerts,
  endpoints = ENDPOINTS,
}: Deps) {
  const endpointNames = endpoints.map((adapter) => adapter.name);
  const sessions = createDashboardSessions({ database, adminApiKey });
  const proxy = { trustProxy: config.trustProxy };

  /** The page's selection, from its query string: what the filters form sends. */
  function selection(raw: Record<string, string>) {
    const q = parseWith(
      pageQuery,
      Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== '')),
      'query',
    );
    if (q.endpoint !== undefined && !endpointNames.includes(q.endpoint)) q.endpoint = undefined;
    const period = resolvePeriod(q.period as PeriodName, new Date(), { from: q.from, to: q.to });
    const filters: UsageFilters = {
      from: period.from,
      to: period.to,
      model: q.model,
      keyId: q.key_id,
      status: q.status,
      endpoint: q.endpoint,
      servedBy: q.served_by,
      user: q.user,
      tag: q.tag,
    };
    const keep = new URLSearchParams({ period: q.period });
    if (q.period === 'custom') {
      if (q.from) keep.set('from', q.from);
      if (q.to) keep.set('to', q.to);
    }
    for (const field of KEPT) {
      const value = q[field];
      if (value) keep.set(field, value);
    }
    return { q, period, filters, query: keep.toString() };
  }

  return (
    new Hono<AppEnv>()
      .use(securityHeaders())
      // every form that changes state (sign in, sign out) posts from this origin only
      .post('*', async function sameOriginForms(c, next) {
        if (!isSameOrigin(c, proxy)) throw forbidden('Cross-site form posts to the dashboard are refused.');
        await next();
      })
      .get('/login', async (c) =>
        (await sessions.isOpen(getCookie(c, SESSION_COOKIE)))
          ? c.redirect('/dashboard', 303)
          : c.html(LoginPage({})),
      )
      .post('/login', async function login(c) {
        const admission = await sessions.admitLogin(clientAddress(c, proxy));
        if (!admission.allowed) {
          c.header('retry-after', String(admission.retryAfterS));
          return c.html(
            LoginPage({ error: `Too many sign-in attempts. Try again in ${admission.retryAfterS} s.` }),
            429,
          );
        }
        const form = await c.req.parseBody();
        const key = typeof form.key === 'string' ? form.key.trim() : '';
        const principal = key ? await keys.authenticate(key) : undefined;
        if (principal?.kind !== 'admin') {
          return c.html(LoginPage({ error: 'That is not the admin key.' }), 401);
        }
        setCookie(c, SESSION_COOKIE, await sessions.open(), {
          httpOnly: true,
          sameSite: 'Strict',
          secure: isHttps(c, proxy),
          path: '/dashboard',
          maxAge: SESSION_TTL_S,
        });
        return c.redirect('/dashboard', 303);
      })
      .post('/logout', async function logout(c) {
        await sessions.close(getCookie(c, SESSION_COOKIE));
        deleteCookie(c, SESSION_COOKIE, { path: '/dashboard' });
        return c.redirect('/dashboard/login', 303);
      })
      .get('/usage.csv', async function dashboardCsv(c) {
        if (!(await sessions.isOpen(getCookie(c, SESSION_COOKIE))))
          return c.redirect('/dashboard/login', 303);
        const { filters } = selection(c.req.query());
        return csvResponse(c, { chunks: usageReport.csv(filters), filename: 'usage.csv' });
      })
      .get('/', async function dashboard(c) {
        if (!(await sessions.isOpen(getCookie(c, SESSION_COOKIE))))
          return c.redirect('/dashboard/login', 303);
        const { q, period, filters, query } = selection(c.req.query());
        const [totals, series, byStatus, page, model, key, user, tag] = await Promise.all([
          usageReport.totals(filters),
          usageReport.summary(filters, period.bucket, { limit: MAX_PAGE_ROWS }),
          usageReport.summary(filters, 'status'),
          usageReport.list(filters, { limit: PAGE_ROWS, cursor: q.cursor }),
          top(usageReport, filters, { field: 'model', groupBy: 'model' }),
          top(usageReport, filters, { field: 'keyId', groupBy: 'key' }),
          top(usageReport, filters, { field: 'user', groupBy: 'user' }),
          top(usageReport, filters, { field: 'tag', groupBy: 'tag' }),
        ]);
        const [keyList, prices, priceHistory, recent] = await Promise.all([
          keys.list(),
          pricing.list(),
          pricing.list({ history: true }),
          alerts.list({}, { limit: KEY_ALERTS }),
        ]);
        const refusals = await refusalsOfKeys(database, keyList);
        const keyLabel = new Map<string, string>([
          ['master', 'master (admin key)'],
          ...keyList.map((k): [string, string] => [k.id, `${k.name} (${k.key_prefix}…)`]),
        ]);
        c.header('cache-control', 'no-store');
        return c.html(
          DashboardPage({
            data: {
              period,
              filters: Object.fromEntries(KEPT.map((field) => [field, q[field]])),
              endpoints: endpointNames,
              query,
              totals,
              errors: byStatus.data.filter((g) => g.group !== 'ok').reduce((n, g) => n + g.requests, 0),
              series: dense(series.data, bucketStarts(period)),
              byModel: model.shown,
              modelsCount: model.count,
              byKey: key.shown,
              keysCount: key.count,
              byUser: user.shown,
              usersCount: user.count,
              byTag: tag.shown,
              tagsCount: tag.count,
              rows: page.data,
              nextCursor: page.next_cursor,
              suggestions: {
                model: model.values.map((v) => [v, '']),
                key_id: key.values.map((id) => [id, keyLabel.get(id) ?? '']),
                user: user.values.map((v) => [v, '']),
                tag: tag.values.map((v) => [v, '']),
              },
              keys: keyList,
              refusals,
              alerts: recent.data,
              prices,
              priceHistory: [...priceHistory].reverse(),
            },
          }),
        );
      })
  );
}

/**
 * A dimension's biggest spenders in the selection (the breakdown's rows and how many groups there are)
 * and the values its filter suggests: the top of the same selection without that filter, so a filter
 * set does not hide the others to choose from. Neither reads more than SUGGESTED groups.
 */
async function top(
  usageReport: UsageReport,
  filters: UsageFilters,
  { field, groupBy }: { field: 'model' | 'keyId' | 'user' | 'tag'; groupBy: GroupBy },
) {
  const { [field]: set, ...without } = filters;
  const [shown, others] = await Promise.all([
    usageReport.summary(filters, groupBy, { limit: SUGGESTED }),
    set === undefined ? undefined : usageReport.summary(without, groupBy, { limit: SUGGESTED }),
  ]);
  return {
    shown: shown.data.slice(0, TOP_GROUPS),
    count: shown.data.length + shown.other.groups,
    // '' is "no end user" or "untagged": not a value to filter on
    values: (others ?? shown).data.map((g) => g.group).filter((v) => v !== ''),
  };
}

/** The summary's groups on every bucket of the period; buckets without requests are zero. */
function dense(groups: SummaryGroup[], starts: string[]): SummaryGroup[] {
  const byStart = new Map(groups.map((g) => [g.group, g]));
  const zero = {
    requests: 0,
    prompt_tokens: 0,
    completion_tokens: 0,
    total_tokens: 0,
    cost_usd: '0',
    charge_usd: '0',
  };
  return starts.map((start) => byStart.get(start) ?? { group: start, ...zero });
}
