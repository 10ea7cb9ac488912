// The budget-alert outbox (drizzle/0008).
import { sql } from 'drizzle-orm';
import {
  check,
  date,
  index,
  integer,
  numeric,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { createdAt } from './schema-columns.ts';

/**
 * The alert outbox: one row per (key, period, threshold) ever reached, written by a trigger on key_spend
 * in the transaction that moved the spend, and one per (account, type, crossing) of an account's credit
 * (drizzle/0016); POSTed to ALERT_WEBHOOK_URL by the deliverer.
 */
export const budgetAlerts = pgTable(
  'budget_alerts',
  {
    /** alr_…: also the webhook's idempotency-key */
    id: text('id').primaryKey().default(sql`('alr_' || replace(gen_random_uuid()::text, '-', ''))`),
    type: text('type', { enum: ['budget.threshold', 'credits.low', 'credits.exhausted'] })
      .notNull()
      .default('budget.threshold'),
    /** budget.threshold: the key; credits.exhausted: the key refused */
    apiKeyId: text('api_key_id'),
    periodStart: date('period_start', { mode: 'string' }),
    /** the fraction of the budget reached */
    threshold: numeric('threshold'),
    /** the period's spend when the threshold was reached, and the budget then (USD) */
    spentUsd: numeric('spent_usd'),
    budgetUsd: numeric('budget_usd'),
    /** credits.*: the account, its nth crossing of this type, its balance then and the threshold (USD) */
    accountId: text('account_id'),
    crossing: integer('crossing'),
    balanceUsd: numeric('balance_usd'),
    thresholdUsd: numeric('threshold_usd'),
    createdAt: createdAt(),
    state: text('state', { enum: ['pending', 'delivered', 'failed'] })
      .notNull()
      .default('pending'),
    /** delivery attempts made */
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    lastError: text('last_error'),
    deliveredAt: timestamp('delivered_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    check('budget_alerts_state_check', sql`${t.state} IN ('pending', 'delivered', 'failed')`),
    check(
      'budget_alerts_type_check',
      sql`${t.type} IN ('budget.threshold', 'credits.low', 'credits.exhausted')`,
    ),
    uniqueIndex('budget_alerts_key_period_threshold').on(t.apiKeyId, t.periodStart, t.threshold),
    uniqueIndex('budget_alerts_account_crossing')
      .on(t.accountId, t.type, t.crossing)
      .where(sql`${t.accountId} IS NOT NULL`),
    index('budget_alerts_created_at').on(t.createdAt.desc(), t.id.desc()),
    index('budget_alerts_due').on(t.nextAttemptAt).where(sql`${t.state} = 'pending'`),
  ],
);
