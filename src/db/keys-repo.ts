// api_keys reads and writes. Only SHA-256 hashes of secrets are stored.
import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import type { Database, Db } from './client.ts';
import { type ApiKeyRow, apiKeys } from './schema.ts';

export function listKeys(db: Db): Promise<ApiKeyRow[]> {
  return db.select().from(apiKeys).orderBy(asc(apiKeys.createdAt));
}

export async function findKeyByHash(db: Db, keyHash: string): Promise<ApiKeyRow | undefined> {
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.keyHash, keyHash));
  return row;
}

export async function insertKey(db: Db, key: typeof apiKeys.$inferInsert): Promise<ApiKeyRow> {
  const [row] = await db.insert(apiKeys).values(key).returning();
  if (!row) throw new Error('insert returned no row');
  return row;
}

/** Marks a key revoked; undefined when no such key exists. Revoking twice keeps the first time. */
export async function revokeKey(db: Db, id: string): Promise<ApiKeyRow | undefined> {
  await db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)));
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, id));
  return row;
}

export async function updateKey(
  db: Db,
  id: string,
  changes: Partial<
    Pick<
      ApiKeyRow,
      | 'name'
      | 'monthlyBudgetUsd'
      | 'rpmLimit'
      | 'tpmLimit'
      | 'budgetPeriod'
      | 'alertThresholds'
      | 'softBudget'
      | 'maxConcurrent'
      | 'accountId'
    >
  >,
): Promise<ApiKeyRow | undefined> {
  if (Object.keys(changes).length === 0) return findKey(db, id);
  const [row] = await db.update(apiKeys).set(changes).where(eq(apiKeys.id, id)).returning();
  return row;
}

export async function findKey(db: Db, id: string): Promise<ApiKeyRow | undefined> {
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, id));
  return row;
}

/** Each key's spend and reservations in its own current budget period (as of `at`). */
export async function currentSpend(
  database: Database,
  at: Date,
): Promise<Map<string, { spent: string; reserved: string }>> {
  const rows = await database.rows<{ api_key_id: string; spent_usd: string; reserved_usd: string }>(sql`
    select ks.api_key_id, ks.spent_usd::text, ks.reserved_usd::text
    from key_spend ks
    join api_keys k on k.id = ks.api_key_id
    where ks.period = tollgate_period_start(k.budget_period, ${at.toISOString()}::timestamptz)`);
  return new Map(rows.map((r) => [r.api_key_id, { spent: r.spent_usd, reserved: r.reserved_usd }]));
}
