// plans, accounts and account_balance reads and writes (drizzle/0014). The balance itself is only ever
// moved by triggers; admission's hold on it is tollgate_admit's (limits-repo.ts, drizzle/0020).
import { sql } from 'drizzle-orm';
import type { Database } from './client.ts';

export type PlanRecord = {
  id: string;
  name: string;
  markup: string;
  included_usd: string;
  period: 'day' | 'week' | 'month';
  rollover: boolean;
  rollover_cap_usd: string | null;
  overage: 'block' | 'allow';
  created_at: string;
};

export type AccountRecord = {
  id: string;
  name: string;
  plan_id: string | null;
  credit_limit_usd: string;
  low_balance_usd: string | null;
  budget_usd: string | null;
  budget_period: 'day' | 'week' | 'month';
  balance_usd: string;
  reserved_usd: string;
  created_at: string;
};

const iso = (column: string) =>
  sql.raw(`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);

const PLAN = sql`id, name, markup::text, included_usd::text, period, rollover, rollover_cap_usd::text,
  overage, ${iso('created_at')} as created_at`;

export async function insertPlan(
  database: Database,
  plan: Omit<PlanRecord, 'created_at'>,
): Promise<PlanRecord> {
  const [row] = await database.rows<PlanRecord>(sql`
    insert into plans (id, name, markup, included_usd, period, rollover, rollover_cap_usd, overage)
    values (${plan.id}, ${plan.name}, ${plan.markup}::numeric, ${plan.included_usd}::numeric, ${plan.period},
      ${plan.rollover}, ${plan.rollover_cap_usd}::numeric, ${plan.overage})
    returning ${PLAN}`);
  if (!row) throw new Error('insert returned no plan');
  return row;
}

export function listPlans(database: Database): Promise<PlanRecord[]> {
  return database.rows<PlanRecord>(sql`select ${PLAN} from plans order by created_at, id`);
}

export async function findPlan(database: Database, id: string): Promise<PlanRecord | undefined> {
  const [row] = await database.rows<PlanRecord>(sql`select ${PLAN} from plans where id = ${id}`);
  return row;
}

const ACCOUNT = sql`a.id, a.name, a.plan_id, a.credit_limit_usd::text, a.low_balance_usd::text,
  a.budget_usd::text, a.budget_period, coalesce(b.balance_usd, 0)::text as balance_usd,
  coalesce(b.reserved_usd, 0)::text as reserved_usd, ${iso('a.created_at')} as created_at`;

export type AccountFields = Omit<AccountRecord, 'id' | 'balance_usd' | 'reserved_usd' | 'created_at'>;

/** The account and its balance row, in one statement (admission expects the balance row to exist). */
export async function insertAccount(
  database: Database,
  account: AccountFields & { id: string },
): Promise<AccountRecord> {
  await database.rows(sql`
    with made as (
      insert into accounts (id, name, plan_id, credit_limit_usd, low_balance_usd, budget_usd, budget_period)
      values (${account.id}, ${account.name}, ${account.plan_id}, ${account.credit_limit_usd}::numeric,
        ${account.low_balance_usd}::numeric, ${account.budget_usd}::numeric, ${account.budget_period})
      returning id
    )
    insert into account_balance (account_id) select id from made`);
  const made = await findAccount(database, account.id);
  if (!made) throw new Error('insert returned no account');
  return made;
}

export async function updateAccount(
  database: Database,
  id: string,
  changes: Partial<AccountFields>,
): Promise<AccountRecord | undefined> {
  const sets = Object.entries(changes).map(([column, value]) =>
    column === 'name' || column === 'plan_id' || column === 'budget_period'
      ? sql`${sql.identifier(column)} = ${value}`
      : sql`${sql.identifier(column)} = ${value}::numeric`,
  );
  if (sets.length > 0)
    await database.rows(sql`update accounts set ${sql.join(sets, sql`, `)} where id = ${id}`);
  return findAccount(database, id);
}

export async function findAccount(database: Database, id: string): Promise<AccountRecord | undefined> {
  const [row] = await database.rows<AccountRecord>(sql`
    select ${ACCOUNT} from accounts a left join account_balance b on b.account_id = a.id where a.id = ${id}`);
  return row;
}

export function listAccounts(database: Database): Promise<AccountRecord[]> {
  return database.rows<AccountRecord>(sql`
    select ${ACCOUNT} from accounts a left join account_balance b on b.account_id = a.id
    order by a.created_at, a.id`);
}

/** The markup a key of account `id` is charged at: its plan's, or 1 without a plan. */
export async function markupOf(database: Database, id: string): Promise<string | undefined> {
  const [row] = await database.rows<{ markup: string }>(sql`
    select coalesce(p.markup, 1)::text as markup from accounts a left join plans p on p.id = a.plan_id
    where a.id = ${id}`);
  return row?.markup;
}

/** The cost and charge of an account's rows (with their corrections) since `from`. */
export async function periodChargeOf(
  database: Database,
  id: string,
  from: string,
): Promise<{ cost_usd: string; charge_usd: string }> {
  const [row] = await database.rows<{ cost_usd: string; charge_usd: string }>(sql`
    select coalesce(sum(u.cost_total + coalesce(c.delta, 0)), 0)::text as cost_usd,
           coalesce(sum(coalesce(u.charge_usd, u.cost_total * u.markup) + coalesce(c.delta, 0) * u.markup), 0)::text
             as charge_usd
    from usage_logs u
    left join lateral (select sum(delta_usd) as delta from usage_corrections uc where uc.request_id = u.request_id) c
      on true
    where u.account_id = ${id} and u.created_at >= ${from}::timestamptz`);
  return row ?? { cost_usd: '0', charge_usd: '0' };
}
