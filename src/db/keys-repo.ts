// api_keys reads and writes. Only SHA-256 hashes of secrets are stored.
import { and, asc, eq, isNull } from 'drizzle-orm';
import type { Db } from './client.ts';
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
  changes: Partial<Pick<ApiKeyRow, 'name' | 'monthlyBudgetUsd' | 'rpmLimit' | 'tpmLimit' | 'maxConcurrent'>>,
): Promise<ApiKeyRow | undefined> {
  if (Object.keys(changes).length === 0) {
    const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, id));
    return row;
  }
  const [row] = await db.update(apiKeys).set(changes).where(eq(apiKeys.id, id)).returning();
  return row;
}
