// usage_corrections reads: the corrections POST /admin/reprice appended, shown with the rows they
// correct, their sum per row for the report's scans of usage_logs, and the reprice's batches.
import { asc, inArray, type SQL, sql } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import { canonical } from '../billing/money.ts';
import type { Database, Db } from './client.ts';
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

/** A usage row with the prices and costs in force (its latest correction's, else its own), money as text. */
export type RepriceRow = {
  id: string;
  request_id: string;
  created_at: Date | string;
  /** created_at as PostgreSQL prints it: the exact (microsecond) keyset cursor */
  cursor_at: string;
  provider: string;
  model: string;
  served_by: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  pricing_id: string | number | null;
  pricing_source: string;
  input_token_cost: string;
  cached_input_token_cost: string | null;
  output_token_cost: string;
  cost_input: string;
  cost_output: string;
  cost_total: string;
  /** the sum of its corrections' deltas (0 when none) */
  corrected_by: string;
};

export type RepriceWindow = {
  from: Date;
  to: Date;
  model?: string | undefined;
  /** a key id, or `master` for rows made with the admin key */
  keyId?: string | undefined;
};

/** Where the previous batch ended: its last row's (created_at, id). */
export type RepriceCursor = { at: string; id: string };

/**
 * The next `limit` rows of the window after `cursor`, by (created_at, id): the usage_logs_created_at
 * index serves the keyset, so a batch costs the same at the window's end as at its start.
 */
export async function selectRepriceBatch(
  kind: Database['kind'],
  db: Db,
  window: RepriceWindow,
  cursor: RepriceCursor | undefined,
  limit: number,
): Promise<RepriceRow[]> {
  const key =
    window.keyId === undefined
      ? sql`true`
      : window.keyId === 'master'
        ? sql`u.api_key_id is null`
        : sql`u.api_key_id = ${window.keyId}`;
  const after =
    cursor === undefined
      ? sql`true`
      : sql`(u.created_at, u.id) > (${cursor.at}::timestamptz, ${cursor.id}::bigint)`;
  const query = sql`
    select u.id::text as id, u.request_id, u.created_at, u.created_at::text as cursor_at, u.provider, u.model,
           u.served_by, u.prompt_tokens, u.completion_tokens, u.cached_tokens,
           case when l.id is null then u.pricing_id else l.new_pricing_id end as pricing_id,
           case when l.id is null then u.pricing_source else l.new_pricing_source end as pricing_source,
           (case when l.id is null then u.input_token_cost else l.new_input_token_cost end)::text as input_token_cost,
           (case when l.id is null then u.cached_input_token_cost else l.new_cached_input_token_cost end)::text
             as cached_input_token_cost,
           (case when l.id is null then u.output_token_cost else l.new_output_token_cost end)::text as output_token_cost,
           (case when l.id is null then u.cost_input else l.new_cost_input end)::text as cost_input,
           (case when l.id is null then u.cost_output else l.new_cost_output end)::text as cost_output,
           u.cost_total::text as cost_total,
           coalesce((select sum(c.delta_usd) from usage_corrections c where c.request_id = u.request_id), 0)::text
             as corrected_by
    from usage_logs u
    left join lateral (
      select c.* from usage_corrections c where c.request_id = u.request_id order by c.id desc limit 1
    ) l on true
    where u.created_at >= ${window.from.toISOString()}::timestamptz and u.created_at < ${window.to.toISOString()}::timestamptz
      and (${window.model === undefined ? sql`true` : sql`u.model = ${window.model}`}) and (${key}) and ${after}
    order by u.created_at, u.id
    limit ${limit}`;
  const result = (await db.execute(query)) as unknown;
  // postgres.js answers an array of rows, PGlite an object holding them
  return [...(kind === 'postgres' ? (result as RepriceRow[]) : (result as { rows: RepriceRow[] }).rows)];
}
