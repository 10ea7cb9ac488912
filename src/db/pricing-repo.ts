// api_provider_pricing reads and writes. Versions are only ever inserted.
import { and, asc, desc, eq } from 'drizzle-orm';
import type { Db } from './client.ts';
import { apiProviderPricing, type PricingRow } from './schema.ts';

export type NewPriceVersion = {
  provider: string;
  modelName: string;
  inputTokenCost: string;
  outputTokenCost: string;
  source: 'env' | 'admin';
  retired?: boolean;
  effectiveFrom?: Date;
};

export function listPriceVersions(db: Db): Promise<PricingRow[]> {
  return db.select().from(apiProviderPricing).orderBy(asc(apiProviderPricing.id));
}

export async function insertPriceVersion(db: Db, version: NewPriceVersion): Promise<PricingRow> {
  const [row] = await db.insert(apiProviderPricing).values(version).returning();
  if (!row) throw new Error('insert returned no row');
  return row;
}

export async function findPriceVersion(db: Db, id: number): Promise<PricingRow | undefined> {
  const [row] = await db.select().from(apiProviderPricing).where(eq(apiProviderPricing.id, id));
  return row;
}

/** The newest version for (provider, model_name), whatever its source. */
export async function latestPriceVersion(
  db: Db,
  provider: string,
  modelName: string,
): Promise<PricingRow | undefined> {
  const [row] = await db
    .select()
    .from(apiProviderPricing)
    .where(and(eq(apiProviderPricing.provider, provider), eq(apiProviderPricing.modelName, modelName)))
    .orderBy(desc(apiProviderPricing.effectiveFrom), desc(apiProviderPricing.id))
    .limit(1);
  return row;
}
