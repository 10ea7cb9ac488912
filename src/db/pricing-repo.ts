// api_provider_pricing reads and writes. Versions are only ever inserted.
import { and, asc, desc, eq } from 'drizzle-orm';
import type { Db } from './client.ts';
import { apiProviderPricing, type PricingRow } from './schema.ts';

export type NewPriceVersion = {
  provider: string;
  modelName: string;
  /** USD per token, decimal strings */
  inputTokenCost: string;
  outputTokenCost: string;
  /** null or omitted: the input price applies to cached tokens */
  cachedInputTokenCost?: string | null;
  source: 'env' | 'admin' | 'catalog';
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

/** Every version of (provider, model_name), oldest written first. */
export function priceVersionsOf(db: Db, provider: string, modelName: string): Promise<PricingRow[]> {
  return db
    .select()
    .from(apiProviderPricing)
    .where(and(eq(apiProviderPricing.provider, provider), eq(apiProviderPricing.modelName, modelName)))
    .orderBy(asc(apiProviderPricing.id));
}

/** Every version of one source (e.g. `catalog`), newest written first. */
export function priceVersionsBySource(db: Db, source: NewPriceVersion['source']): Promise<PricingRow[]> {
  return db
    .select()
    .from(apiProviderPricing)
    .where(eq(apiProviderPricing.source, source))
    .orderBy(desc(apiProviderPricing.id));
}
