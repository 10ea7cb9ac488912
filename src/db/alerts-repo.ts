// The alert outbox (budget_alerts: budget thresholds and account credit alerts): its reads, the raise of
// credits.exhausted on a refusal, and the deliverer's claim: an alert is locked (FOR UPDATE SKIP LOCKED) for the
// whole of one delivery try and its outcome is written in that same transaction, so no two replicas
// ever try the same alert at once, and an alert marked delivered is never tried again.
import { type SQL, sql } from 'drizzle-orm';
import type { Database } from './client.ts';

export type AlertState = 'pending' | 'delivered' | 'failed';
export type AlertType = 'budget.threshold' | 'credits.low' | 'credits.exhausted';

export type AlertRecord = {
  id: string;
  type: AlertType;
  /** budget.threshold: the key; credits.exhausted: the key refused; credits.low: null */
  api_key_id: string | null;
  key_name: string | null;
  budget_period: 'day' | 'week' | 'month' | null;
  /** budget.threshold only (else null) */
  period_start: string | null;
  threshold: string | null;
  spent_usd: string | null;
  budget_usd: string | null;
  /** credits.* only (else null): the account, its balance then and the threshold crossed (USD) */
  account_id: string | null;
  account_name: string | null;
  balance_usd: string | null;
  threshold_usd: string | null;
  /** ISO 8601 with microseconds, UTC: the keyset position too */
  created_at: string;
  state: AlertState;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  delivered_at: string | null;
};

export type AlertFilters = {
  keyId?: string | undefined;
  accountId?: string | undefined;
  state?: AlertState | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
};

/** What one delivery try came to. */
export type TryOutcome =
  | { kind: 'delivered' }
  | { kind: 'retry'; error: string; retryInMs: number }
  | { kind: 'failed'; error: string };

const iso = (column: string) =>
  sql.raw(`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`);

const SELECTED = sql`a.id, a.type, a.api_key_id, k.name as key_name, k.budget_period, a.period_start::text,
  trim_scale(a.threshold)::text as threshold, a.spent_usd::text, a.budget_usd::text,
  a.account_id, ac.name as account_name, a.balance_usd::text, a.threshold_usd::text,
  ${iso('a.created_at')} as created_at, a.state, a.attempts, ${iso('a.next_attempt_at')} as next_attempt_at,
  a.last_error, ${iso('a.delivered_at')} as delivered_at`;

const FROM = sql`budget_alerts a left join api_keys k on k.id = a.api_key_id
  left join accounts ac on ac.id = a.account_id`;

/** Newest first; `after` is the (created_at, id) of the last row of the previous page. */
export async function selectAlerts(
  database: Database,
  {
    filters,
    limit,
    after,
  }: { filters: AlertFilters; limit: number; after?: { createdAt: string; id: string } | undefined },
): Promise<AlertRecord[]> {
  const where: SQL[] = [sql`true`];
  if (filters.keyId !== undefined) where.push(sql`a.api_key_id = ${filters.keyId}`);
  if (filters.accountId !== undefined) where.push(sql`a.account_id = ${filters.accountId}`);
  if (filters.state !== undefined) where.push(sql`a.state = ${filters.state}`);
  if (filters.from) where.push(sql`a.created_at >= ${filters.from.toISOString()}::timestamptz`);
  if (filters.to) where.push(sql`a.created_at < ${filters.to.toISOString()}::timestamptz`);
  if (after) where.push(sql`(a.created_at, a.id) < (${after.createdAt}::timestamptz, ${after.id})`);
  return database.rows<AlertRecord>(sql`
    select ${SELECTED}
    from ${FROM}
    where ${sql.join(where, sql` and `)}
    order by a.created_at desc, a.id desc
    limit ${limit}`);
}

/**
 * credits.exhausted for a refusal of `accountId`'s request, if armed: the flag is cleared and the alert
 * written in one statement, under the balance row's lock, so concurrent refusals on any replica raise it
 * once per crossing (a rise of the balance re-arms it: drizzle/0016). Resolves to the alert's id or null.
 */
export async function raiseCreditsExhausted(
  database: Database,
  { accountId, keyId }: { accountId: string; keyId: string },
): Promise<string | null> {
  const [raised] = await database.rows<{ id: string }>(sql`
    with disarmed as (
      update account_balance ab
      set exhausted_armed = false, exhausted_crossings = ab.exhausted_crossings + 1
      from accounts ac
      where ab.account_id = ${accountId} and ac.id = ab.account_id and ab.exhausted_armed
      returning ab.account_id, ab.exhausted_crossings, ab.balance_usd, -ac.credit_limit_usd as exhausted_at
    ), raised as (
      insert into budget_alerts (type, account_id, api_key_id, crossing, balance_usd, threshold_usd)
      select 'credits.exhausted', account_id, ${keyId}, exhausted_crossings, balance_usd, exhausted_at
      from disarmed
      on conflict (account_id, type, crossing) where account_id is not null do nothing
      returning id
    )
    -- wakes the deliverers at commit; they also poll
    select id, pg_notify('tollgate_alerts', id) from raised`);
  return raised?.id ?? null;
}

/**
 * Claims the next due pending alert, hands it to `attempt` (the HTTP try) and records the outcome.
 * PostgreSQL: all in one transaction holding the row lock, so a replica's claim skips it, and a 2xx is
 * recorded before the lock is let go. PGlite (one process, one connection): no transaction, since one
 * held across an HTTP call would stall every other query; the deliverer there runs one try at a time.
 * Resolves to false when nothing was due.
 */
export async function tryNextDue(
  database: Database,
  attempt: (alert: AlertRecord) => Promise<TryOutcome>,
): Promise<boolean> {
  const claim = sql`
    select ${SELECTED}
    from ${FROM}
    where a.state = 'pending' and a.next_attempt_at <= clock_timestamp()
    -- thresholds raised together (one jump past several) go out lowest first
    order by a.next_attempt_at, a.api_key_id, a.period_start, a.threshold
    limit 1`;
  if (database.kind === 'pglite') {
    const [alert] = await database.rows<AlertRecord>(claim);
    if (!alert) return false;
    await database.rows(record(alert.id, await attempt(alert)));
    return true;
  }
  return database.db.transaction(async (tx) => {
    const [alert] = rowsOf<AlertRecord>(await tx.execute(sql`${claim} for update of a skip locked`));
    if (!alert) return false;
    const outcome = await attempt(alert);
    await tx.execute(record(alert.id, outcome));
    return true;
  });
}

/** The statement that writes a try's outcome (clock_timestamp: the transaction began before the try). */
function record(id: string, outcome: TryOutcome): SQL {
  switch (outcome.kind) {
    case 'delivered':
      return sql`update budget_alerts set state = 'delivered', attempts = attempts + 1,
        delivered_at = clock_timestamp(), last_error = null where id = ${id}`;
    case 'retry':
      return sql`update budget_alerts set attempts = attempts + 1, last_error = ${outcome.error},
        next_attempt_at = clock_timestamp() + ${outcome.retryInMs} * interval '1 millisecond' where id = ${id}`;
    case 'failed':
      return sql`update budget_alerts set state = 'failed', attempts = attempts + 1,
        last_error = ${outcome.error} where id = ${id}`;
  }
}

/** postgres.js answers a row list, PGlite `{ rows }`. */
function rowsOf<T>(result: unknown): T[] {
  return Array.isArray(result) ? (result as T[]) : ((result as { rows: T[] }).rows ?? []);
}
