// key_refusals (drizzle/0018): requests refused at admission, counted per key, UTC day and reason.
import { sql } from 'drizzle-orm';
import type { Database } from './client.ts';

export type RefusalCount = { keyId: string; day: string; reason: string; count: number };

/**
 * Adds a batch of counts in one statement. Rows go in key order, so two replicas flushing at once
 * lock the same rows in the same order and never deadlock.
 */
export async function addRefusals(database: Database, counts: RefusalCount[]): Promise<void> {
  if (counts.length === 0) return;
  const sorted = [...counts].sort(
    (a, b) =>
      a.keyId.localeCompare(b.keyId) || a.day.localeCompare(b.day) || a.reason.localeCompare(b.reason),
  );
  const values = sql.join(
    sorted.map((c) => sql`(${c.keyId}, ${c.day}::date, ${c.reason}, ${c.count}::bigint)`),
    sql`, `,
  );
  await database.rows(sql`
    insert into key_refusals as r (api_key_id, day, reason, count) values ${values}
    on conflict (api_key_id, day, reason) do update set count = r.count + excluded.count`);
}

/** Per key and reason: refusals on `today` and since `since` (a day), for the keys refused since then. */
export async function refusalsSince(
  database: Database,
  { since, today }: { since: string; today: string },
): Promise<Array<{ api_key_id: string; reason: string; day: string; count: string }>> {
  return database.rows(sql`
    select api_key_id, reason, to_char(day, 'YYYY-MM-DD') as day, count::text as count
    from key_refusals where day >= least(${since}::date, ${today}::date)
    order by api_key_id, reason, day`);
}

/** Per account: credit refusals of its keys since `since` (a day), by the key's account today. */
export async function creditRefusalsByAccount(
  database: Database,
  since: string,
): Promise<Map<string, number>> {
  const rows = await database.rows<{ account_id: string; count: string }>(sql`
    select k.account_id, sum(r.count)::text as count
    from key_refusals r join api_keys k on k.id = r.api_key_id
    where r.reason = 'credits' and r.day >= ${since}::date and k.account_id is not null
    group by k.account_id`);
  return new Map(rows.map((r) => [r.account_id, Number(r.count)]));
}
