// Budgets and rate limits: spend and reservations per key and period, one-minute windows (drizzle/0010).
import {
  bigint,
  date,
  index,
  integer,
  numeric,
  pgTable,
  primaryKey,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';
import { createdAt } from './schema-columns.ts';

/**
 * Spend per key and budget period (period = the period's first day, UTC: see tollgate_period_start). `spent_usd` is maintained by a
 * trigger on usage_logs in the same transaction as the row insert; `reserved_usd` holds the worst
 * case of requests in flight (the sum of their budget_reservations rows), added at admission by one
 * conditional statement.
 */
export const keySpend = pgTable(
  'key_spend',
  {
    apiKeyId: text('api_key_id').notNull(),
    period: date('period', { mode: 'string' }).notNull(),
    spentUsd: numeric('spent_usd').notNull().default('0'),
    reservedUsd: numeric('reserved_usd').notNull().default('0'),
  },
  (t) => [primaryKey({ columns: [t.apiKeyId, t.period] })],
);

/**
 * One row per budget reservation in flight, keyed by the request id that holds it (= usage_logs.request_id).
 * The usage row's insert trigger deletes it and subtracts `amount` from key_spend.reserved_usd; a request
 * that ends without a row deletes it itself; the reaper deletes the ones whose owner died (migration 0010).
 */
export const budgetReservations = pgTable(
  'budget_reservations',
  {
    id: text('id').primaryKey(),
    apiKeyId: text('api_key_id').notNull(),
    period: date('period', { mode: 'string' }).notNull(),
    /** USD, the request's worst case */
    amount: numeric('amount').notNull(),
    /** the account whose balance this request's worst-case charge is held against (drizzle/0014) */
    accountId: text('account_id'),
    /** USD, the worst-case charge held in account_balance.reserved_usd */
    accountAmount: numeric('account_amount'),
    /** the account_spend period this charge is held in; null when the account has no budget (drizzle/0019) */
    accountPeriod: date('account_period', { mode: 'string' }),
    createdAt: createdAt(),
  },
  (t) => [index('budget_reservations_created_at').on(t.createdAt)],
);

/** Fixed one-minute windows of requests and tokens per key, shared by every replica. */
export const keyRateWindows = pgTable(
  'key_rate_windows',
  {
    apiKeyId: text('api_key_id').notNull(),
    windowStart: timestamp('window_start', { withTimezone: true, mode: 'date' }).notNull(),
    requests: integer('requests').notNull().default(0),
    tokens: bigint('tokens', { mode: 'number' }).notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.apiKeyId, t.windowStart] })],
);
