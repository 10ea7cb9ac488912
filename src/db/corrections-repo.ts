// usage_corrections reads: the corrections POST /admin/reprice appended, shown with the rows they
// correct, and their sum per row for the report's scans of usage_logs.
import { asc, inArray, type SQL, sql } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import { canonical } from '../billing/money.ts';
import type { Database } from './client.ts';
import { usageCorrections } from './schema.ts';

/** The sum of the corrections of the row with this request id, USD (0 when none). */
export function correctionsOf(requestId: AnyPgColumn): SQL {
  return sql`coalesce((select sum(${usageCorrections.deltaUsd}) from ${usageCorrections} where ${usageCorrections.requestId} = ${requestId}), 0)`;
}

export type CorrectionView = {
  id: number;
  request_id: string;
  created_at: string;
  actor: string;
  reprice_id: string;
  old_pricing_source: string;
  old_input_token_cost: string;
  old_cached_input_token_cost: string | null;
  old_output_token_cost: string;
  old_cost_total: string;
  new_pricing_id: number | null;
  new_pricing_source: string;
  new_input_token_cost: string;
  new_cached_input_token_cost: string;
  new_output_token_cost: string;
  new_cost_input: string;
  new_cost_output: string;
  new_cost_total: string;
  delta_usd: string;
};

/** The corrections of these rows, oldest first, by request id. */
export async function selectCorrections(
  database: Database,
  requestIds: string[],
): Promise<Map<string, CorrectionView[]>> {
  const byRequest = new Map<string, CorrectionView[]>();
  if (requestIds.length === 0) return byRequest;
  const rows = await database.db
    .select()
    .from(usageCorrections)
    .where(inArray(usageCorrections.requestId, requestIds))
    .orderBy(asc(usageCorrections.id));
  for (const c of rows) {
    const view: CorrectionView = {
      id: c.id,
      request_id: c.requestId,
      created_at: c.createdAt.toISOString(),
      actor: c.actor,
      reprice_id: c.repriceId,
      old_pricing_source: c.oldPricingSource,
      old_input_token_cost: canonical(c.oldInputTokenCost),
      old_cached_input_token_cost:
        c.oldCachedInputTokenCost === null ? null : canonical(c.oldCachedInputTokenCost),
      old_output_token_cost: canonical(c.oldOutputTokenCost),
      old_cost_total: canonical(c.oldCostTotal),
      new_pricing_id: c.newPricingId,
      new_pricing_source: c.newPricingSource,
      new_input_token_cost: canonical(c.newInputTokenCost),
      new_cached_input_token_cost: canonical(c.newCachedInputTokenCost),
      new_output_token_cost: canonical(c.newOutputTokenCost),
      new_cost_input: canonical(c.newCostInput),
      new_cost_output: canonical(c.newCostOutput),
      new_cost_total: canonical(c.newCostTotal),
      delta_usd: canonical(c.deltaUsd),
    };
    byRequest.set(c.requestId, [...(byRequest.get(c.requestId) ?? []), view]);
  }
  return byRequest;
}
