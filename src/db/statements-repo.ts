// The sums a statement is made of, each by ledger time (a credit entry's created_at, a usage row's
// created_at, a correction's created_at), so opening + entries − charges = closing holds exactly.
import { sql } from 'drizzle-orm';
import type { Database } from './client.ts';

export type StatementUsage = {
  model: string;
  requests: number;
  prompt_tokens: string;
  completion_tokens: string;
  cost_usd: string;
  charge_usd: string;
};

/** The balance as of `at`: credits written before it, less the charges of rows and corrections before it. */
export async function balanceAt(database: Database, accountId: string, at: string): Promise<string> {
  const [row] = await database.rows<{ balance: string }>(sql`
    select (
      coalesce((select sum(amount_usd) from account_credits
                where account_id = ${accountId} and created_at < ${at}::timestamptz), 0)
      - coalesce((select sum(coalesce(charge_usd, cost_total * markup)) from usage_logs
                  where account_id = ${accountId} and created_at < ${at}::timestamptz), 0)
      - coalesce((select sum(c.delta_usd * u.markup) from usage_corrections c
                  join usage_logs u on u.request_id = c.request_id
                  where u.account_id = ${accountId} and c.created_at < ${at}::timestamptz), 0)
    )::text as balance`);
  return row?.balance ?? '0';
}

/** The account's usage in [from, to) per model: cost and charge of the rows as written. */
export function usageByModel(
  database: Database,
  accountId: string,
  from: string,
  to: string,
): Promise<StatementUsage[]> {
  return database.rows<StatementUsage>(sql`
    select model, count(*)::int as requests, sum(prompt_tokens)::text as prompt_tokens,
           sum(completion_tokens)::text as completion_tokens, sum(cost_total)::text as cost_usd,
           sum(coalesce(charge_usd, cost_total * markup))::text as charge_usd
    from usage_logs
    where account_id = ${accountId} and created_at >= ${from}::timestamptz and created_at < ${to}::timestamptz
    group by model order by model`);
}

/** What corrections written in [from, to) changed the account's charges by (delta × the row's markup). */
export async function correctionsCharge(
  database: Database,
  accountId: string,
  from: string,
  to: string,
): Promise<string> {
  const [row] = await database.rows<{ total: string }>(sql`
    select coalesce(sum(c.delta_usd * u.markup), 0)::text as total
    from usage_corrections c join usage_logs u on u.request_id = c.request_id
    where u.account_id = ${accountId} and c.created_at >= ${from}::timestamptz and c.created_at < ${to}::timestamptz`);
  return row?.total ?? '0';
}
