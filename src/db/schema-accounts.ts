// Accounts, plans and the credit ledger (DESIGN §6c; drizzle/0014, hand-written). Money is numeric.
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  date,
  index,
  integer,
  numeric,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { createdAt } from './schema-columns.ts';

/** A plan is immutable once written: a change is a new plan. */
export const plans = pgTable(
  'plans',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    /** USD charged per USD of cost (>= 0) */
    markup: numeric('markup').notNull().default('1'),
    /** USD granted to each account on the plan at the start of every period */
    includedUsd: numeric('included_usd').notNull().default('0'),
    period: text('period', { enum: ['day', 'week', 'month'] })
      .notNull()
      .default('month'),
    /** unused included credit carries over (up to rollover_cap_usd) instead of expiring */
    rollover: boolean('rollover').notNull().default(false),
    rolloverCapUsd: numeric('rollover_cap_usd'),
    /** block: refuse what the balance cannot cover; allow: serve and let the balance go negative */
    overage: text('overage', { enum: ['block', 'allow'] })
      .notNull()
      .default('block'),
    createdAt: createdAt(),
  },
  (t) => [
    check('plans_markup_check', sql`${t.markup} >= 0`),
    check('plans_included_usd_check', sql`${t.includedUsd} >= 0`),
  ],
);

/** A customer: owns keys, has a plan, holds a prepaid balance (account_balance). */
export const accounts = pgTable('accounts', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  planId: text('plan_id').references(() => plans.id),
  /** how far below zero the balance may go before `block` refuses (USD, >= 0) */
  creditLimitUsd: numeric('credit_limit_usd').notNull().default('0'),
  /** credits.low fires when the balance first drops below this (USD); null: never */
  lowBalanceUsd: numeric('low_balance_usd'),
  /** the account's own budget per budget_period (USD); null: none */
  budgetUsd: numeric('budget_usd'),
  budgetPeriod: text('budget_period', { enum: ['day', 'week', 'month'] })
    .notNull()
    .default('month'),
  createdAt: createdAt(),
});

/**
 * The balance, kept by triggers in the same transaction as what moves it (credit entries, usage rows'
 * charges, corrections); reserved_usd = worst-case charges of requests in flight (their
 * budget_reservations rows' account_amount).
 */
export const accountBalance = pgTable('account_balance', {
  accountId: text('account_id')
    .primaryKey()
    .references(() => accounts.id),
  balanceUsd: numeric('balance_usd').notNull().default('0'),
  reservedUsd: numeric('reserved_usd').notNull().default('0'),
  /** whether the next fall below low_balance_usd / refusal for credit raises an alert (drizzle/0016) */
  lowArmed: boolean('low_armed').notNull().default(true),
  lowCrossings: integer('low_crossings').notNull().default(0),
  exhaustedArmed: boolean('exhausted_armed').notNull().default(true),
  exhaustedCrossings: integer('exhausted_crossings').notNull().default(0),
});

/**
 * An account's budget per period (drizzle/0019), as key_spend for a key: the period's settled charges
 * (with corrections × markup) and the worst-case charges in flight. Kept only while budget_usd is set.
 */
export const accountSpend = pgTable(
  'account_spend',
  {
    accountId: text('account_id')
      .notNull()
      .references(() => accounts.id),
    period: date('period', { mode: 'string' }).notNull(),
    spentUsd: numeric('spent_usd').notNull().default('0'),
    reservedUsd: numeric('reserved_usd').notNull().default('0'),
  },
  (t) => [primaryKey({ name: 'account_spend_pk', columns: [t.accountId, t.period] })],
);

/** The credit ledger: append-only, one entry per (account, idempotency_key). */
export const accountCredits = pgTable(
  'account_credits',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    accountId: text('account_id')
      .notNull()
      .references(() => accounts.id),
    /** grant | topup | adjustment | expiry */
    kind: text('kind', { enum: ['grant', 'topup', 'adjustment', 'expiry'] }).notNull(),
    /** USD, signed: expiries are negative, adjustments either way */
    amountUsd: numeric('amount_usd').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
    idempotencyKey: text('idempotency_key').notNull(),
    /** what the writing request asked for: a replay with another body is a 409 */
    requestFingerprint: text('request_fingerprint').notNull(),
    note: text('note'),
    actor: text('actor').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('account_credits_idempotency').on(t.accountId, t.idempotencyKey),
    index('account_credits_account_created_at').on(t.accountId, t.createdAt),
  ],
);

export type PlanRow = typeof plans.$inferSelect;
export type AccountRow = typeof accounts.$inferSelect;
export type CreditRow = typeof accountCredits.$inferSelect;
