// Budgets and rate windows: each admission is one conditional statement, so replicas sharing the
// database can never both take the last dollar or the last request of a minute.
import { sql } from 'drizzle-orm';
import type { Database } from './client.ts';

/** Reserves `amount` USD unless spent + reserved + amount would pass `budget` (null: no ceiling). */
export async function reserveBudget(
  database: Database,
  { keyId, period, amount, budget }: { keyId: string; period: string; amount: string; budget: string | null },
): Promise<{ admitted: boolean; spent: string; reserved: string }> {
  const [row] = await database.rows<{ spent_usd: string; reserved_usd: string }>(sql`
    insert into key_spend as ks (api_key_id, period, spent_usd, reserved_usd)
    values (${keyId}, ${period}, 0, ${amount}::numeric)
    on conflict (api_key_id, period) do update
      set reserved_usd = ks.reserved_usd + excluded.reserved_usd
      where ${budget}::numeric is null
        or ks.spent_usd + ks.reserved_usd + excluded.reserved_usd <= ${budget}::numeric
    returning spent_usd::text, reserved_usd::text`);
  if (row) return { admitted: true, spent: row.spent_usd, reserved: row.reserved_usd };
  const spend = await spendOf(database, keyId, period);
  return { admitted: false, ...spend };
}

/** Gives back a reservation whose request never produced a usage row. */
export async function releaseBudget(
  database: Database,
  { keyId, period, amount }: { keyId: string; period: string; amount: string },
): Promise<void> {
  await database.rows(sql`
    update key_spend set reserved_usd = greatest(reserved_usd - ${amount}::numeric, 0)
    where api_key_id = ${keyId} and period = ${period}`);
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

/** Month-to-date spend of every key that has any. */
export async function spendForPeriod(
  database: Database,
  period: string,
): Promise<Map<string, { spent: string; reserved: string }>> {
  const rows = await database.rows<{ api_key_id: string; spent_usd: string; reserved_usd: string }>(sql`
    select api_key_id, spent_usd::text, reserved_usd::text from key_spend where period = ${period}`);
  return new Map(rows.map((r) => [r.api_key_id, { spent: r.spent_usd, reserved: r.reserved_usd }]));
}

/**
 * Counts one request and `tokens` in the key's current minute unless that passes a limit.
 * Returns the window's counts after the request, or undefined when it was refused.
 */
export async function takeRateSlot(
  database: Database,
  {
    keyId,
    windowStart,
    tokens,
    rpm,
    tpm,
  }: { keyId: string; windowStart: Date; tokens: number; rpm: number | null; tpm: number | null },
): Promise<{ requests: number; tokens: number } | undefined> {
  const [row] = await database.rows<{ requests: number; tokens: string }>(sql`
    insert into key_rate_windows as w (api_key_id, window_start, requests, tokens)
    values (${keyId}, ${windowStart.toISOString()}::timestamptz, 1, ${tokens})
    on conflict (api_key_id, window_start) do update
      set requests = w.requests + 1, tokens = w.tokens + excluded.tokens
      where (${rpm}::int is null or w.requests + 1 <= ${rpm}::int)
        and (${tpm}::bigint is null or w.tokens + excluded.tokens <= ${tpm}::bigint)
    returning requests, tokens::text`);
  return row ? { requests: row.requests, tokens: Number(row.tokens) } : undefined;
}

export async function rateWindowOf(
  database: Database,
  keyId: string,
  windowStart: Date,
): Promise<{ requests: number; tokens: number }> {
  const [row] = await database.rows<{ requests: number; tokens: string }>(sql`
    select requests, tokens::text from key_rate_windows
    where api_key_id = ${keyId} and window_start = ${windowStart.toISOString()}::timestamptz`);
  return { requests: row?.requests ?? 0, tokens: Number(row?.tokens ?? 0) };
}

/** Drops windows older than `before`; they can never limit anything again. */
export async function pruneRateWindows(database: Database, before: Date): Promise<void> {
  await database.rows(
    sql`delete from key_rate_windows where window_start < ${before.toISOString()}::timestamptz`,
  );
}
