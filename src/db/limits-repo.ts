// Budgets and rate windows: each admission is one call of conditional statements, so replicas sharing
// the database can never both take the last dollar or the last request of a minute. A budget reservation
// is a budget_reservations row keyed by its request id, freed exactly once: by the usage row's trigger
// (drizzle/0010), by releaseReservation, or by reapReservations.
import { sql } from 'drizzle-orm';
import { admitBatched } from './admission-batches.ts';
import type { Database } from './client.ts';

/**
 * Gives back reservation `id` when its request ends without a usage row. Deleting the row is what
 * frees the amount, so a reservation already settled by its usage row, released or reaped frees
 * nothing: calling this twice, or after settlement, is harmless.
 */
export async function releaseReservation(database: Database, id: string): Promise<void> {
  await database.rows(sql`
    with released as (
      delete from budget_reservations where id = ${id} returning api_key_id, period, amount
    )
    update key_spend ks set reserved_usd = greatest(ks.reserved_usd - r.amount, 0)
    from released r where ks.api_key_id = r.api_key_id and ks.period = r.period`);
}

/**
 * Expires reservations older than `olderThanMs` (by the database's clock): their owner crashed or
 * lost its row. Idempotent, so every replica may run it. Resolves with how many it freed.
 */
export async function reapReservations(database: Database, olderThanMs: number): Promise<number> {
  const [row] = await database.rows<{ n: number }>(sql`
    with stale as (
      delete from budget_reservations
      where created_at < now() - make_interval(secs => ${olderThanMs / 1000}::float8)
      returning api_key_id, period, amount
    ), freed as (
      select api_key_id, period, sum(amount) as amount, count(*) as n from stale group by 1, 2
    ), updated as (
      update key_spend ks set reserved_usd = greatest(ks.reserved_usd - f.amount, 0)
      from freed f where ks.api_key_id = f.api_key_id and ks.period = f.period
    )
    select coalesce(sum(n), 0)::int as n from freed`);
  return row?.n ?? 0;
}

export async function spendOf(
  database: Database,
  keyId: string,
  period: string,
): Promise<{ spent: string; reserved: string }> {
  const [row] = await database.rows<{ spent_usd: string; reserved_usd: string }>(sql`
    select spent_usd::text, reserved_usd::text from key_spend where api_key_id = ${keyId} and period = ${period}`);
  return { spent: row?.spent_usd ?? '0', reserved: row?.reserved_usd ?? '0' };
}

/** What tollgate_admit (drizzle/0020) answers: which part refused, if any, and each part's figures. */
export type AdmitResult = {
  outcome: 'admitted' | 'budget' | 'credits' | 'account_budget' | 'rate';
  /** USD held against the key's budget (0 when it tracks none); the worst case when refused */
  amount: string;
  spent: string | null;
  key_reserved: string | null;
  /** USD, the worst-case charge held (or that would have been) against the account */
  account_amount: string | null;
  balance: string | null;
  account_reserved: string | null;
  credit_limit: string | null;
  /** the account's own budget (drizzle/0019): null when it has none */
  account_budget: string | null;
  account_budget_period: 'day' | 'week' | 'month' | null;
  account_spent: string | null;
  account_budget_reserved: string | null;
  /** the rate window's counts: after this request when admitted, before it when refused */
  requests: number | null;
  tokens: number | null;
};

/** What one request asks of admission (tollgate_admit's parameters). */
export type AdmitInput = {
  id: string;
  keyId: string;
  period: string;
  amount: string;
  floor: string;
  trackKey: boolean;
  budget: string | null;
  account: { id: string; markup: string } | null;
  rate: { windowStart: Date; tokens: number; rpm: number | null; tpm: number | null } | null;
};

/**
 * A request's whole admission in one statement and one commit (with its key's other requests waiting
 * at that moment, in one batch: admission-batches.ts): the key's budget (when it tracks one),
 * the account's balance and budget (when the key bills to one), the key's rate window (when it has rpm
 * or tpm). All or nothing: a part that refuses leaves nothing taken (drizzle/0020).
 *
 * The key's part reserves `amount` unless spent + reserved + amount would pass `budget` (null: a soft
 * budget, no ceiling). `amount` trusts the client's output bound (max_tokens), which an upstream may
 * not honour. That trust is given to one request of a key at a time: while others are in flight, at
 * least `floor` is reserved (the bound BUDGET_DEFAULT_MAX_TOKENS stands for), so concurrent requests
 * that ignore their bound overshoot the budget by one request's excess at most, not by all of theirs.
 */
export function admitRequest(database: Database, r: AdmitInput): Promise<AdmitResult> {
  return admitBatched(database, r);
}

/** Drops windows older than `before`; they can never limit anything again. */
export async function pruneRateWindows(database: Database, before: Date): Promise<void> {
  await database.rows(
    sql`delete from key_rate_windows where window_start < ${before.toISOString()}::timestamptz`,
  );
}
