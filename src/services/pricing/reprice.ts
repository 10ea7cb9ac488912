// POST /admin/reprice: re-prices the usage rows of a window with the prices in effect now for each
// row's time, as appended correction entries (a usage row is never changed). A row's current cost is
// its cost_total plus its corrections' deltas, so a row already corrected is skipped: a run that
// stopped half-way is finished by running it again, and a second run appends nothing.
// Runs go in bounded batches, each its own short transaction, yielding to the event loop between them,
// so metering never waits on a reprice for longer than one batch (see docs/pricing-safety.md).
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
import {
  type RepriceCursor,
  type RepriceRow,
  type RepriceWindow,
  selectRepriceBatch,
} from '../../db/corrections-repo.ts';
import { adminAudit, usageCorrections } from '../../db/schema.ts';
import type { PricingService } from './pricing.ts';

const REPRICE_LOCK = 7_301_116; // arbitrary, constant across replicas
/** SQLSTATEs after which a batch (rolled back whole) is simply run again: deadlock, serialization */
const RETRYABLE = new Set(['40P01', '40001']);
const BATCH_ATTEMPTS = 3;

export type RepriceRequest = RepriceWindow & {
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

type NewCorrection = typeof usageCorrections.$inferInsert;
type Batch = { rows: RepriceRow[]; corrections: NewCorrection[] };

export type RepricerOptions = {
  database: Database;
  pricing: PricingService;
  /** usage rows per batch (one transaction each) */
  batchRows: number;
  /** called after each committed batch but the last (tests stop a run there, as a crash would) */
  afterBatch?: ((batch: number) => Promise<void> | void) | undefined;
};

export function createRepricer({ database, pricing, batchRows, afterBatch }: RepricerOptions) {
  // runs of this process take turns (the second waits, never fails); across replicas each batch takes
  // an advisory lock, and reads what the other run committed before it, so no row is corrected twice
  let queue: Promise<unknown> = Promise.resolve();

  async function run(input: RepriceRequest): Promise<RepriceResult> {
    // the prices "in effect now": whatever any replica wrote up to this instant
    await pricing.reload();
    const runId = randomUUID();
    let examined = 0;
    let corrected = 0;
    let delta: Decimal = ZERO;
    let cursor: RepriceCursor | undefined;
    for (let n = 1; ; n++) {
      const batch = await oneBatch(input, cursor, runId);
      examined += batch.rows.length;
      corrected += batch.corrections.length;
      for (const c of batch.corrections) delta = add(delta, parseDecimal(c.deltaUsd));
      const last = batch.rows.at(-1);
      if (!last || batch.rows.length < batchRows) break;
      cursor = { at: last.cursor_at, id: last.id };
      await afterBatch?.(n);
      // requests queued behind this batch run before the next one starts
      await new Promise<void>((resolve) => setImmediate(resolve));
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
      await database.db
        .insert(adminAudit)
        .values({ actor: input.actor, action: 'usage.reprice', target: runId, details: result });
    }
    return result;
  }

  /** One batch: read (and unless dry, correct) the next rows; a rolled-back batch is run again. */
  async function oneBatch(input: RepriceRequest, cursor: RepriceCursor | undefined, runId: string) {
    const by = { actor: input.actor, repriceId: runId };
    const price = (db: Db) => selectBatch(db, input, cursor).then((rows) => priced(rows, pricing, by));
    // a dry run writes nothing: plain reads, no transaction, no lock
    if (input.dryRun) return price(database.db);
    for (let attempt = 1; ; attempt++) {
      try {
        return await database.db.transaction(async (tx) => {
          const db = tx as unknown as Db;
          if (database.kind === 'postgres') {
            // waits for at most one batch of another replica's run, which lock_timeout could cut short;
            // the batch's own row locks keep the pool's lock_timeout
            await db.execute(sql`set local lock_timeout = 0`);
            await db.execute(sql`select pg_advisory_xact_lock(${REPRICE_LOCK})`);
            await db.execute(sql`reset lock_timeout`);
          }
          const batch = await price(db);
          // the corrections trigger takes the rollups, then key_spend in key order, as the spend trigger does
          if (batch.corrections.length > 0) await db.insert(usageCorrections).values(batch.corrections);
          return batch;
        });
      } catch (err) {
        if (attempt >= BATCH_ATTEMPTS || !RETRYABLE.has(sqlState(err) ?? '')) throw err;
      }
    }
  }

  function selectBatch(db: Db, input: RepriceRequest, cursor: RepriceCursor | undefined) {
    return selectRepriceBatch(database.kind, db, input, cursor, batchRows);
  }

  return function reprice(input: RepriceRequest): Promise<RepriceResult> {
    const turn = queue.then(() => run(input));
    queue = turn.catch(() => {});
    return turn;
  };
}

export type Repricer = ReturnType<typeof createRepricer>;

/** The SQLSTATE of a driver error, or of the error drizzle wrapped around it. */
function sqlState(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++, e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

function priced(
  rows: RepriceRow[],
  pricing: PricingService,
  by: { actor: string; repriceId: string },
): Batch {
  const corrections: NewCorrection[] = [];
  for (const row of rows) {
    const correction = correctionOf(row, pricing, by);
    if (correction) corrections.push(correction);
  }
  return { rows, corrections };
}

/** The correction that brings `row` to the price in effect now for its time; undefined if none is due. */
function correctionOf(
  row: RepriceRow,
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
