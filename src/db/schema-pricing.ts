// Versioned prices and the corrections a reprice appends to usage rows (drizzle/0011). Money is numeric.
import { bigint, boolean, index, numeric, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { createdAt } from './schema-columns.ts';

/** Versioned prices: never updated in place. A change is a new version; a delete is a retiring version. */
export const apiProviderPricing = pgTable(
  'api_provider_pricing',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    provider: text('provider').notNull(),
    modelName: text('model_name').notNull(),
    /** USD per token */
    inputTokenCost: numeric('input_token_cost').notNull(),
    /** USD per token */
    outputTokenCost: numeric('output_token_cost').notNull(),
    /** USD per cached input token; null: the input price applies */
    cachedInputTokenCost: numeric('cached_input_token_cost'),
    /**
     * `env` (written at start from HUGGINGFACE_*_TOKEN_COST), `admin` (PUT /admin/pricing: always wins
     * for its model name) or `catalog` (read from the router's catalog by pricing:sync)
     */
    source: text('source').notNull(),
    /** a version that ends the price for (provider, model_name): the resolver falls through */
    retired: boolean('retired').notNull().default(false),
    effectiveFrom: timestamp('effective_from', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    createdAt: createdAt(),
  },
  (t) => [index('api_provider_pricing_lookup').on(t.provider, t.modelName, t.effectiveFrom)],
);

/**
 * Corrections of usage rows, appended by POST /admin/reprice: a row's cost is its cost_total plus the
 * delta_usd of its corrections. A trigger adds each delta to usage_hourly and key_spend.
 */
export const usageCorrections = pgTable(
  'usage_corrections',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    /** the usage_logs row corrected */
    requestId: text('request_id').notNull(),
    createdAt: createdAt(),
    /** who asked (`master`: the admin key) */
    actor: text('actor').notNull(),
    /** the reprice run that appended this entry (its audit-log target) */
    repriceId: text('reprice_id').notNull(),
    oldPricingId: bigint('old_pricing_id', { mode: 'number' }),
    oldPricingSource: text('old_pricing_source').notNull(),
    /** USD per token, before this correction */
    oldInputTokenCost: numeric('old_input_token_cost').notNull(),
    oldCachedInputTokenCost: numeric('old_cached_input_token_cost'),
    oldOutputTokenCost: numeric('old_output_token_cost').notNull(),
    /** USD, before this correction */
    oldCostInput: numeric('old_cost_input').notNull(),
    oldCostOutput: numeric('old_cost_output').notNull(),
    oldCostTotal: numeric('old_cost_total').notNull(),
    newPricingId: bigint('new_pricing_id', { mode: 'number' }),
    newPricingSource: text('new_pricing_source').notNull(),
    /** USD per token, applied by this correction */
    newInputTokenCost: numeric('new_input_token_cost').notNull(),
    newCachedInputTokenCost: numeric('new_cached_input_token_cost').notNull(),
    newOutputTokenCost: numeric('new_output_token_cost').notNull(),
    /** USD, after this correction */
    newCostInput: numeric('new_cost_input').notNull(),
    newCostOutput: numeric('new_cost_output').notNull(),
    newCostTotal: numeric('new_cost_total').notNull(),
    /** new_cost_total − old_cost_total, USD, exact */
    deltaUsd: numeric('delta_usd').notNull(),
  },
  (t) => [index('usage_corrections_request_id').on(t.requestId, t.id)],
);
