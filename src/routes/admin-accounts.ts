// /admin/accounts: customers (plan, credit limit, low-balance threshold, own budget), their balance,
// and their credit ledger (idempotent top-ups and adjustments).
import { Hono } from 'hono';
import { z } from 'zod';
import type { Database } from '../db/client.ts';
import type { AppEnv } from '../middleware/context.ts';
import type { AccountService } from '../services/accounts/accounts.ts';
import type { CreditService } from '../services/accounts/credits.ts';
import type { Grants } from '../services/accounts/grants.ts';
import { statementCsv, statementOf } from '../services/accounts/statements.ts';
import type { Audit } from '../services/admin/audit.ts';
import { name, nonNegativeUsd, period, positiveUsd, signedUsd } from './money-fields.ts';
import { parseJsonBody, parseWith } from './validation.ts';

const id = z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').max(200);
const fields = {
  plan_id: id.nullish(),
  credit_limit_usd: nonNegativeUsd.optional(),
  low_balance_usd: nonNegativeUsd.nullish(),
  budget_usd: nonNegativeUsd.nullish(),
  budget_period: period.optional(),
};
export const createAccountBody = z.strictObject({ name, ...fields });
export const patchAccountBody = z.strictObject({ name: name.optional(), ...fields });

export const creditBody = z
  .strictObject({
    /** topup (default): bought credit, > 0; adjustment: an admin's signed correction, with a note */
    kind: z.enum(['topup', 'adjustment'], { error: 'must be topup or adjustment' }).default('topup'),
    amount_usd: signedUsd,
    idempotency_key: z
      .string({ error: 'must be a string' })
      .trim()
      .min(1, 'must not be empty')
      .max(200, 'must be at most 200 characters'),
    expires_at: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 time' }).nullish(),
    note: z.string({ error: 'must be a string' }).max(1000, 'must be at most 1000 characters').nullish(),
  })
  .superRefine((b, ctx) => {
    if (b.kind === 'topup' && !positiveUsd.safeParse(b.amount_usd).success)
      ctx.addIssue({
        code: 'custom',
        message: 'must be a decimal string greater than 0',
        path: ['amount_usd'],
      });
    if (b.kind === 'adjustment' && !b.note)
      ctx.addIssue({ code: 'custom', message: 'an adjustment needs a note', path: ['note'] });
  });

export const statementQuery = z.strictObject({
  period: z
    .string({ error: 'is required, as YYYY-MM' })
    .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month as YYYY-MM, e.g. 2026-03'),
  format: z.enum(['json', 'csv'], { error: 'must be json or csv' }).optional(),
});

const bodyOf = async (c: { req: { arrayBuffer(): Promise<ArrayBuffer> } }) =>
  parseJsonBody(new Uint8Array(await c.req.arrayBuffer()));

export function adminAccountsRoutes({
  accounts,
  credits,
  audit,
  database,
  grants,
}: {
  database: Database;
  grants: Grants;
  accounts: AccountService;
  credits: CreditService;
  audit: Audit;
}) {
  return new Hono<AppEnv>()
    .post('/accounts', async function createAccount(c) {
      const body = parseWith(createAccountBody, await bodyOf(c), 'body');
      const account = await accounts.create({
        name: body.name,
        plan_id: body.plan_id ?? null,
        credit_limit_usd: body.credit_limit_usd ?? '0',
        low_balance_usd: body.low_balance_usd ?? null,
        budget_usd: body.budget_usd ?? null,
        budget_period: body.budget_period ?? 'month',
      });
      await audit.record({ actor: 'master', action: 'account.create', target: account.id, details: body });
      return c.json(account, 201);
    })
    .get('/accounts', async function listAccounts(c) {
      return c.json({ object: 'list', data: await accounts.list() });
    })
    .get('/accounts/:id', async function getAccount(c) {
      const account = await accounts.get(c.req.param('id'));
      // the period's grant and ended grants' expiries are written before the balance is shown
      await grants.settle(account.id);
      return c.json(await accounts.get(account.id));
    })
    .patch('/accounts/:id', async function updateAccount(c) {
      const body = parseWith(patchAccountBody, await bodyOf(c), 'body');
      const updated = await accounts.update(c.req.param('id'), body);
      await audit.record({ actor: 'master', action: 'account.update', target: updated.id, details: body });
      return c.json(updated);
    })
    .post('/accounts/:id/credits', async function addCredit(c) {
      const body = parseWith(creditBody, await bodyOf(c), 'body');
      const { entry, created } = await credits.add(c.req.param('id'), {
        kind: body.kind,
        amountUsd: body.amount_usd,
        idempotencyKey: body.idempotency_key,
        expiresAt: body.expires_at ? new Date(body.expires_at).toISOString() : null,
        note: body.note ?? null,
        actor: 'master',
      });
      if (created)
        await audit.record({
          actor: 'master',
          action: `credit.${entry.kind}`,
          target: c.req.param('id'),
          details: entry,
        });
      return c.json(entry, created ? 201 : 200);
    })
    .get('/accounts/:id/credits', async function listCredits(c) {
      return c.json({ object: 'list', data: await credits.list(c.req.param('id')) });
    })
    .get('/accounts/:id/statement', async function statement(c) {
      const query = parseWith(statementQuery, c.req.query(), 'query');
      await accounts.get(c.req.param('id'));
      await grants.settle(c.req.param('id'));
      const s = await statementOf(database, c.req.param('id'), query.period);
      const csv =
        query.format === 'csv' ||
        (query.format === undefined && /text\/csv/.test(c.req.header('accept') ?? ''));
      if (!csv) return c.json(s);
      return c.body(statementCsv(s), 200, {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': `attachment; filename="statement-${s.account_id}-${s.period}.csv"`,
      });
    });
}
