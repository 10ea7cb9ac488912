// The reads plan grants and their expiry need: an account's plan, its grants past their end without an
// expiry entry, and the charges a grant's period burnt.
import { sql } from 'drizzle-orm';
import type { Database } from './client.ts';

export type AccountPlan = {
  account_id: string;
  period: 'day' | 'week' | 'month';
  included_usd: string;
  rollover: boolean;
  rollover_cap_usd: string | null;
};

export async function planOfAccount(database: Database, accountId: string): Promise<AccountPlan | undefined> {
  const [row] = await database.rows<AccountPlan>(sql`
    select a.id as account_id, p.period, p.included_usd::text, p.rollover, p.rollover_cap_usd::text
    from accounts a join plans p on p.id = a.plan_id where a.id = ${accountId}`);
  return row;
}

export function accountsOnPlans(database: Database): Promise<AccountPlan[]> {
  return database.rows<AccountPlan>(sql`
    select a.id as account_id, p.period, p.included_usd::text, p.rollover, p.rollover_cap_usd::text
    from accounts a join plans p on p.id = a.plan_id order by a.id`);
}

export type EndedGrant = { id: number; amount_usd: string; idempotency_key: string; expires_at: string };

/** Grants of the account whose expires_at has passed and that have no expiry entry yet. */
export function endedGrants(database: Database, accountId: string, at: string): Promise<EndedGrant[]> {
  return database.rows<EndedGrant>(sql`
    select g.id::int as id, g.amount_usd::text, g.idempotency_key,
           to_char(g.expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as expires_at
    from account_credits g
    where g.account_id = ${accountId} and g.kind = 'grant' and g.expires_at <= ${at}::timestamptz
      and not exists (select 1 from account_credits e
                      where e.account_id = g.account_id and e.idempotency_key = 'expiry:' || g.id)
    order by g.expires_at, g.id`);
}

/** The account's charges (rows and their corrections) of rows written in [from, to). */
export async function chargesBetween(
  database: Database,
  accountId: string,
  from: string,
  to: string,
): Promise<string> {
  const [row] = await database.rows<{ total: string }>(sql`
    select (coalesce((select sum(coalesce(charge_usd, cost_total * markup)) from usage_logs
                      where account_id = ${accountId} and created_at >= ${from}::timestamptz
                        and created_at < ${to}::timestamptz), 0)
          + coalesce((select sum(c.delta_usd * u.markup) from usage_corrections c
                      join usage_logs u on u.request_id = c.request_id
                      where u.account_id = ${accountId} and u.created_at >= ${from}::timestamptz
                        and u.created_at < ${to}::timestamptz), 0))::text as total`);
  return row?.total ?? '0';
}
