// /dashboard/accounts: the Accounts page and an account's statement, behind the dashboard's session
// (the same cookie and security headers as /dashboard).
import { Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import { z } from 'zod';
import { AccountsPage, StatementPage } from '../dashboard/accounts.tsx';
import { securityHeaders } from '../dashboard/guard.ts';
import type { Database } from '../db/client.ts';
import type { AppEnv } from '../middleware/context.ts';
import type { AccountService } from '../services/accounts/accounts.ts';
import type { Grants } from '../services/accounts/grants.ts';
import { statementOf } from '../services/accounts/statements.ts';
import { createDashboardSessions, SESSION_COOKIE } from '../services/admin/dashboard-sessions.ts';
import { creditRefusalsOfAccounts } from '../services/admission/refusals.ts';
import { parseWith } from './validation.ts';

const statementQuery = z.object({
  period: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month as YYYY-MM, e.g. 2026-03'),
});

export function dashboardAccountsRoutes({
  adminApiKey,
  database,
  accounts,
  grants,
}: {
  adminApiKey: string;
  database: Database;
  accounts: AccountService;
  grants: Grants;
}) {
  const sessions = createDashboardSessions({ database, adminApiKey });
  return new Hono<AppEnv>()
    .use(securityHeaders())
    .use(async function signedIn(c, next) {
      if (!(await sessions.isOpen(getCookie(c, SESSION_COOKIE)))) return c.redirect('/dashboard/login', 303);
      c.header('cache-control', 'no-store');
      await next();
    })
    .get('/', async function accountsPage(c) {
      const period = new Date().toISOString().slice(0, 7);
      const [list, plans, creditRefusals] = await Promise.all([
        accounts.list(),
        accounts.listPlans(),
        creditRefusalsOfAccounts(database, `${period}-01`),
      ]);
      return c.html(AccountsPage({ accounts: list, plans, period, creditRefusals }));
    })
    .get('/:id', async function statementPage(c) {
      const { period } = parseWith(statementQuery, c.req.query(), 'query');
      const account = await accounts.get(c.req.param('id'));
      await grants.settle(account.id);
      return c.html(
        StatementPage({ name: account.name, s: await statementOf(database, account.id, period) }),
      );
    });
}
