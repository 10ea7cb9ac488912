// POST /admin/reprice: re-prices the usage rows of a window with the prices in effect now for each
// row's time, as appended correction entries (a usage row is never changed). A row's current cost is
// its cost_total plus its corrections' deltas, so a second run over the same window appends nothing.
// The whole run is one transaction; on PostgreSQL an advisory lock makes concurrent runs take turns.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { costOf } from '../../billing/cost.ts';
import {
  add,
  canonical,
  type Decimal,
  formatDecimal,
  parseDecimal,
  subtract,
  ZERO,
} from '../../billing/money.ts';
import type { Database, Db } from '../../db/client.ts';
import { adminAudit, usageCorrections } from '../../db/schema.ts';
import type { PricingService } from './pricing.ts';

const REPRICE_LOCK = 7_301_116; // arbitrary, constant across replicas
const BATCH_ROWS = 2000;

export type RepriceRequest = {
  /** inclusive */
  from: Date;
  /** exclusive */
  to: Date;
  model?: string | undefined;
  /** a key id, or `master` for rows made with the admin key */
  keyId?: string | undefined;
  dryRun: boolean;
  /** who asked, for the corrections and the audit log */
  actor: string;
};

export type RepriceResult = {
  object: 'reprice';
  /** the run's id: each correction's reprice_id, the audit entry's target; null for a dry run */
  id: string | null;
  dry_run: boolean;
  from: string;
  to: string;
  model: string | null;
  key_id: string | null;
  rows_examined: number;
  /** rows whose cost changed: one correction each (appended unless dry_run) */
  rows_corrected: number;
  /** USD, exact: the sum of the corrections' deltas */
  delta_usd: string;
};

/** A usage row with what its corrections have made of it, all money as text. */
type LedgerRow = {
  id: string;
  request_id: string;
  created_at: Date | string;
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

type NewCorrection = typeof usageCorrections.$inferInsert;

export function createRepricer({ database, pricing }: { database: Database; pricing: PricingService }) {
  return async function reprice(input: RepriceRequest): Promise<RepriceResult> {
    // the prices "in effect now": whatever any replica wrote up to this instant
    await pricing.reload();
    const runId = randomUUID();
    return database.db.transaction(async (tx) => {
      const db = tx as unknown as Db;
      if (database.kind === 'postgres') await db.execute(sql`select pg_advisory_xact_lock(${REPRICE_LOCK})`);
      let examined = 0;
      let corrected = 0;
      let delta: Decimal = ZERO;
      let after = '0';
      for (;;) {
        const rows = await rowsAfter(database, db, input, after);
        const corrections: NewCorrection[] = [];
        for (const row of rows) {
          examined += 1;
          const correction = correctionOf(row, pricing, { actor: input.actor, repriceId: runId });
          if (!correction) continue;
          corrected += 1;
          delta = add(delta, parseDecimal(correction.deltaUsd));
          corrections.push(correction);
        }
        if (!input.dryRun && corrections.length > 0) await db.insert(usageCorrections).values(corrections);
        const last = rows.at(-1);
        if (!last || rows.length < BATCH_ROWS) break;
        after = last.id;
      }
      const result: RepriceResult = {
        object: 'reprice',
        id: input.dryRun ? null : runId,
        dry_run: input.dryRun,
        from: input.from.toISOString(),
        to: input.to.toISOString(),
        model: input.model ?? null,
        key_id: input.keyId ?? null,
        rows_examined: examined,
        rows_corrected: corrected,
        delta_usd: formatDecimal(delta),
      };
      if (!input.dryRun) {
        await db
          .insert(adminAudit)
          .values({ actor: input.actor, action: 'usage.reprice', target: runId, details: result });
      }
      return result;
    });
  };
}

export type Repricer = ReturnType<typeof createRepricer>;

/** The next batch of the window's rows by id, each with the sum of its corrections so far. */
async function rowsAfter(database: Database, db: Db, input: RepriceRequest, afterId: string) {
  const key =
    input.keyId === undefined
      ? sql`true`
      : input.keyId === 'master'
        ? sql`u.api_key_id is null`
        : sql`u.api_key_id = ${input.keyId}`;
  // the prices and costs in force: the latest correction's, else the row's own
  const query = sql`
    select u.id::text as id, u.request_id, u.created_at, u.provider, u.model, u.served_by,
           u.prompt_tokens, u.completion_tokens, u.cached_tokens,
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
    where u.created_at >= ${input.from.toISOString()}::timestamptz and u.created_at < ${input.to.toISOString()}::timestamptz
      and (${input.model === undefined ? sql`true` : sql`u.model = ${input.model}`}) and (${key})
      and u.id > ${afterId}::bigint
    order by u.id
    limit ${BATCH_ROWS}`;
  const result = (await db.execute(query)) as unknown;
  // postgres.js answers an array of rows, PGlite an object holding them
  const rows =
    database.kind === 'postgres' ? (result as LedgerRow[]) : (result as { rows: LedgerRow[] }).rows;
  return [...rows];
}

/** The correction that brings `row` to the price in effect now for its time; undefined if none is due. */
function correctionOf(
  row: LedgerRow,
  pricing: PricingService,
  by: { actor: string; repriceId: string },
): NewCorrection | undefined {
  const at = row.created_at instanceof Date ? row.created_at : new Date(row.created_at);
  const price = pricing.priceBook.resolve(row.provider, row.model, at, row.served_by);
  const cost = costOf(
    {
      promptTokens: row.prompt_tokens,
      completionTokens: row.completion_tokens,
      cachedTokens: row.cached_tokens,
    },
    price,
  );
  const current = add(parseDecimal(row.cost_total), parseDecimal(row.corrected_by));
  if (cost.total === current) return undefined;
  return {
    requestId: row.request_id,
    actor: by.actor,
    repriceId: by.repriceId,
    oldPricingId: row.pricing_id === null ? null : Number(row.pricing_id),
    oldPricingSource: row.pricing_source,
    oldInputTokenCost: canonical(row.input_token_cost),
    oldCachedInputTokenCost:
      row.cached_input_token_cost === null ? null : canonical(row.cached_input_token_cost),
    oldOutputTokenCost: canonical(row.output_token_cost),
    oldCostInput: canonical(row.cost_input),
    oldCostOutput: canonical(row.cost_output),
    oldCostTotal: formatDecimal(current),
    newPricingId: price.pricingId,
    newPricingSource: price.source,
    newInputTokenCost: formatDecimal(price.inputTokenCost),
    newCachedInputTokenCost: formatDecimal(price.cachedInputTokenCost),
    newOutputTokenCost: formatDecimal(price.outputTokenCost),
    newCostInput: formatDecimal(cost.input),
    newCostOutput: formatDecimal(cost.output),
    newCostTotal: formatDecimal(cost.total),
    deltaUsd: formatDecimal(subtract(cost.total, current)),
  };
}
