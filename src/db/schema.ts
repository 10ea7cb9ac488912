// The tables (DESIGN §4): keys, the usage ledger and the audit log here, the others in schema-*.ts, all
// re-exported. Money is `numeric` (exact), never float. drizzle-kit reads this file (drizzle.config.ts).
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { DEFAULT_ENDPOINT } from '../endpoints/default-endpoint.ts';

import * as accountTables from './schema-accounts.ts';
import * as alertTables from './schema-alerts.ts';
import { createdAt } from './schema-columns.ts';
import * as dashboardTables from './schema-dashboard.ts';
import * as limitTables from './schema-limits.ts';
import * as pricingTables from './schema-pricing.ts';
import * as rollupTables from './schema-rollups.ts';

// each schema-*.ts file exports only its tables (and their row types): a table added there is
// exported here and given to drizzle without a second list
export * from './schema-accounts.ts';
export * from './schema-alerts.ts';
export * from './schema-dashboard.ts';
export * from './schema-limits.ts';
export * from './schema-pricing.ts';
export * from './schema-rollups.ts';

/** Client keys: only the SHA-256 of the secret is stored. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    keyHash: text('key_hash').notNull().unique(),
    /** the first characters of the key, for display */
    keyPrefix: text('key_prefix').notNull(),
    /** USD per budget period (named for the monthly default); null = no budget */
    monthlyBudgetUsd: numeric('monthly_budget_usd'),
    /** day (UTC) | week (ISO, from Monday 00:00 UTC) | month (calendar, UTC) */
    budgetPeriod: text('budget_period', { enum: ['day', 'week', 'month'] })
      .notNull()
      .default('month'),
    /** fractions of the budget in (0, 1] whose first crossing in a period raises one alert */
    alertThresholds: numeric('alert_thresholds').array().notNull().default(sql`'{0.5,0.8,1.0}'`),
    /** true: reaching the budget alerts but never refuses */
    softBudget: boolean('soft_budget').notNull().default(false),
    /** requests per minute; null = unlimited */
    rpmLimit: integer('rpm_limit'),
    /** tokens per minute (estimated prompt + max_tokens at admission, as OpenAI counts); null = unlimited */
    tpmLimit: integer('tpm_limit'),
    /** requests of this key in flight at once, per gateway process; null = unlimited */
    maxConcurrent: integer('max_concurrent'),
    /** the account (customer) this key bills to; null: a key on its own, charged its cost */
    accountId: text('account_id'),
    createdAt: createdAt(),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [check('api_keys_budget_period_check', sql`${t.budgetPeriod} IN ('day', 'week', 'month')`)],
);

/** The append-only ledger: one row per request, never updated. */
export const usageLogs = pgTable(
  'usage_logs',
  {
    id: bigint('id', { mode: 'number' }).generatedAlwaysAsIdentity(),
    /** the id the client got in x-request-id; unique with created_at (the request's start), so a spool
     * replay never counts twice */
    requestId: text('request_id').notNull(),
    createdAt: createdAt(),
    /** null for the master (admin) key */
    apiKeyId: text('api_key_id'),
    provider: text('provider').notNull(),
    /** as requested */
    model: text('model').notNull(),
    /** as answered */
    upstreamModel: text('upstream_model'),
    /** the router's serving provider: the x-inference-provider reply header, else the model's :provider suffix */
    servedBy: text('served_by'),
    /** the endpoint's name (src/endpoints/registry.ts) */
    endpoint: text('endpoint').notNull().default(DEFAULT_ENDPOINT),
    /** the OpenAI `user` field or the x-tollgate-user header (at most 256 characters) */
    endUser: text('end_user'),
    /** x-tollgate-tags: at most 10 tags of at most 64 characters of [A-Za-z0-9._:-] */
    tags: text('tags').array(),
    stream: boolean('stream').notNull(),
    /** ok | upstream_error | client_aborted | gateway_error */
    status: text('status').notNull(),
    httpStatus: integer('http_status').notNull(),
    promptTokens: integer('prompt_tokens').notNull().default(0),
    completionTokens: integer('completion_tokens').notNull().default(0),
    totalTokens: integer('total_tokens').notNull().default(0),
    cachedTokens: integer('cached_tokens').notNull().default(0),
    /** part of completion_tokens for gpt-oss: never counted twice */
    reasoningTokens: integer('reasoning_tokens').notNull().default(0),
    /** upstream | estimated */
    usageSource: text('usage_source').notNull(),
    usageRaw: jsonb('usage_raw'),
    /** the api_provider_pricing version applied; null for env/builtin prices */
    pricingId: bigint('pricing_id', { mode: 'number' }),
    /** USD per token, as applied */
    inputTokenCost: numeric('input_token_cost').notNull(),
    /** USD per cached input token, as applied (null on rows written before cached prices existed) */
    cachedInputTokenCost: numeric('cached_input_token_cost'),
    outputTokenCost: numeric('output_token_cost').notNull(),
    /** db:served | db:exact | db:short | db:default | env | builtin */
    pricingSource: text('pricing_source').notNull(),
    costInput: numeric('cost_input').notNull(),
    costOutput: numeric('cost_output').notNull(),
    costTotal: numeric('cost_total').notNull(),
    latencyMs: integer('latency_ms').notNull(),
    /** time to first token (first byte of the reply for non-streaming) */
    ttftMs: integer('ttft_ms'),
    upstreamRequestId: text('upstream_request_id'),
    error: text('error'),
    /** USD reserved against the key's budget at admission, for the record: the insert trigger releases
     * the budget_reservations row with this request_id, never this figure (migration 0010) */
    reservedUsd: numeric('reserved_usd'),
    /** the key's account when the row was written (drizzle/0014); null: a key without an account */
    accountId: text('account_id'),
    /** the account plan's markup applied (1 without an account) */
    markup: numeric('markup').notNull().default('1'),
    /** cost_total × markup, exact; null on rows written before accounts existed (read as cost_total) */
    chargeUsd: numeric('charge_usd'),
  },
  (t) => [
    // partitioned by UTC month on created_at (drizzle/0015): every unique key includes it
    primaryKey({ name: 'usage_logs_pkey', columns: [t.id, t.createdAt] }),
    uniqueIndex('usage_logs_request_id').on(t.requestId, t.createdAt),
    index('usage_logs_created_at').on(t.createdAt.desc(), t.id.desc()),
    index('usage_logs_key_created_at').on(t.apiKeyId, t.createdAt.desc()),
    index('usage_logs_model_created_at').on(t.model, t.createdAt.desc()),
    index('usage_logs_end_user_created_at')
      .on(t.endUser, t.createdAt.desc())
      .where(sql`${t.endUser} is not null`),
    index('usage_logs_tags').using('gin', t.tags),
  ],
);

/** Who changed what: keys created, revoked, limits and prices changed. Append-only. */
export const adminAudit = pgTable(
  'admin_audit',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    createdAt: createdAt(),
    /** `master` (ADMIN_API_KEY) */
    actor: text('actor').notNull(),
    action: text('action').notNull(),
    target: text('target'),
    details: jsonb('details'),
  },
  (t) => [index('admin_audit_created_at').on(t.createdAt.desc())],
);

export const schema = {
  apiKeys,
  usageLogs,
  adminAudit,
  ...pricingTables,
  ...rollupTables,
  ...dashboardTables,
  ...limitTables,
  ...alertTables,
  ...accountTables,
};

export type UsageLogInsert = typeof usageLogs.$inferInsert;
export type UsageLogRow = typeof usageLogs.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type BudgetAlertRow = typeof alertTables.budgetAlerts.$inferSelect;
export type PricingRow = typeof pricingTables.apiProviderPricing.$inferSelect;
export type UsageCorrectionRow = typeof pricingTables.usageCorrections.$inferSelect;
