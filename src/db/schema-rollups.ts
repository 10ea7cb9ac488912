// The summary rollups over usage_logs (drizzle/0004, 0009, 0015, 0017, 0022, 0023, 0024): hourly and daily sums kept by
// triggers, read by /usage/summary.
import {
  bigint,
  boolean,
  index,
  numeric,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';

/**
 * Hourly sums of usage_logs per key, model and status, kept by a trigger in the same transaction as
 * every insert (and delete, update, truncate) of usage rows: /usage/summary reads whole hours here
 * and only the partial hours at the edges of its range from usage_logs. `api_key_id` is '' for the
 * master key (a key column that is never null keeps it in the primary key).
 */
export const usageHourly = pgTable(
  'usage_hourly',
  {
    hour: timestamp('hour', { withTimezone: true, mode: 'date' }).notNull(),
    apiKeyId: text('api_key_id').notNull(),
    model: text('model').notNull(),
    status: text('status').notNull(),
    requests: bigint('requests', { mode: 'bigint' }).notNull(),
    promptTokens: bigint('prompt_tokens', { mode: 'bigint' }).notNull(),
    completionTokens: bigint('completion_tokens', { mode: 'bigint' }).notNull(),
    totalTokens: bigint('total_tokens', { mode: 'bigint' }).notNull(),
    costUsd: numeric('cost_usd').notNull(),
    /** rows priced by a guess: the env fallback or the built-in price (pricing_source env | builtin) */
    unpricedRequests: bigint('unpriced_requests', { mode: 'bigint' }).notNull(),
    /** what the rows were charged (charge_usd, or cost × markup) with their corrections × markup (drizzle/0017) */
    chargeUsd: numeric('charge_usd').notNull().default('0'),
  },
  (t) => [primaryKey({ columns: [t.hour, t.apiKeyId, t.model, t.status] })],
);

/** The sums every rollup keeps per group (see usageHourly). */
const rollupSums = () => ({
  requests: bigint('requests', { mode: 'bigint' }).notNull(),
  promptTokens: bigint('prompt_tokens', { mode: 'bigint' }).notNull(),
  completionTokens: bigint('completion_tokens', { mode: 'bigint' }).notNull(),
  totalTokens: bigint('total_tokens', { mode: 'bigint' }).notNull(),
  costUsd: numeric('cost_usd').notNull(),
  unpricedRequests: bigint('unpriced_requests', { mode: 'bigint' }).notNull(),
  chargeUsd: numeric('charge_usd').notNull().default('0'),
});

/**
 * Narrow rollups beside usage_hourly, kept by their own triggers (drizzle/0009), each read only by the
 * reports that need its dimension, so many end users never slow the key/model/status reports. '' stands
 * for none (served_by or end_user null, a row without tags). A row counts once per distinct tag.
 */
export const usageHourlyRoutes = pgTable(
  'usage_hourly_routes',
  {
    hour: timestamp('hour', { withTimezone: true, mode: 'date' }).notNull(),
    endpoint: text('endpoint').notNull(),
    servedBy: text('served_by').notNull(),
    model: text('model').notNull(),
    status: text('status').notNull(),
    ...rollupSums(),
  },
  (t) => [
    primaryKey({
      name: 'usage_hourly_routes_pk',
      columns: [t.hour, t.endpoint, t.servedBy, t.model, t.status],
    }),
  ],
);

export const usageHourlyUsers = pgTable(
  'usage_hourly_users',
  {
    hour: timestamp('hour', { withTimezone: true, mode: 'date' }).notNull(),
    endUser: text('end_user').notNull(),
    apiKeyId: text('api_key_id').notNull(),
    ...rollupSums(),
  },
  (t) => [
    primaryKey({ name: 'usage_hourly_users_pk', columns: [t.hour, t.endUser, t.apiKeyId] }),
    // one end user's hours, without reading every other's
    index('usage_hourly_users_end_user').on(t.endUser, t.hour),
  ],
);

export const usageHourlyTags = pgTable(
  'usage_hourly_tags',
  {
    hour: timestamp('hour', { withTimezone: true, mode: 'date' }).notNull(),
    tag: text('tag').notNull(),
    apiKeyId: text('api_key_id').notNull(),
    model: text('model').notNull(),
    ...rollupSums(),
  },
  (t) => [
    primaryKey({ name: 'usage_hourly_tags_pk', columns: [t.hour, t.tag, t.apiKeyId, t.model] }),
    index('usage_hourly_tags_tag').on(t.tag, t.hour),
  ],
);

/**
 * The daily layer (drizzle/0015): each usage_hourly* table has a usage_daily* twin with the same
 * dimensions and sums per UTC day (`day`, the day's start), kept from the hourly table by its triggers
 * in the same transaction, so corrections and deletes reach it too. Summaries read whole days here.
 */
const day = () => timestamp('day', { withTimezone: true, mode: 'date' }).notNull();

export const usageDaily = pgTable(
  'usage_daily',
  {
    day: day(),
    apiKeyId: text('api_key_id').notNull(),
    model: text('model').notNull(),
    status: text('status').notNull(),
    ...rollupSums(),
  },
  (t) => [primaryKey({ name: 'usage_daily_pk', columns: [t.day, t.apiKeyId, t.model, t.status] })],
);

export const usageDailyRoutes = pgTable(
  'usage_daily_routes',
  {
    day: day(),
    endpoint: text('endpoint').notNull(),
    servedBy: text('served_by').notNull(),
    model: text('model').notNull(),
    status: text('status').notNull(),
    ...rollupSums(),
  },
  (t) => [
    primaryKey({
      name: 'usage_daily_routes_pk',
      columns: [t.day, t.endpoint, t.servedBy, t.model, t.status],
    }),
  ],
);

export const usageDailyUsers = pgTable(
  'usage_daily_users',
  {
    day: day(),
    endUser: text('end_user').notNull(),
    apiKeyId: text('api_key_id').notNull(),
    ...rollupSums(),
  },
  (t) => [
    primaryKey({ name: 'usage_daily_users_pk', columns: [t.day, t.endUser, t.apiKeyId] }),
    index('usage_daily_users_end_user').on(t.endUser, t.day),
  ],
);

export const usageDailyTags = pgTable(
  'usage_daily_tags',
  {
    day: day(),
    tag: text('tag').notNull(),
    apiKeyId: text('api_key_id').notNull(),
    model: text('model').notNull(),
    ...rollupSums(),
  },
  (t) => [
    primaryKey({ name: 'usage_daily_tags_pk', columns: [t.day, t.tag, t.apiKeyId, t.model] }),
    index('usage_daily_tags_tag').on(t.tag, t.day),
  ],
);

/**
 * Closed days (drizzle/0022): a UTC day that is over is summed once more, coarser than any rollup, by
 * tollgate_close_usage_day (services/ledger/partitions.ts runs it hourly): per day and per hour by
 * endpoint and status, per tag, per key. A report reads a day here only while usage_closed_days lists
 * it; any later write to that day's rollups (a replayed row, a correction, an update) removes it from
 * the list in the same transaction, and the next run sums it again. Nothing on the recorder's path
 * writes here.
 */
export const usageClosedDays = pgTable('usage_closed_days', {
  day: day().primaryKey(),
  /** the day's sums per tag and status were taken from its rows (drizzle/0024) */
  tagStatuses: boolean('tag_statuses').notNull().default(false),
});

/** A day being closed from its rows (drizzle/0024): the run's token, removed by any write to the day. */
export const usageClosingDays = pgTable('usage_closing_days', {
  day: day().primaryKey(),
  token: bigint('token', { mode: 'number' }).notNull(),
});

export const usageClosedTotals = pgTable(
  'usage_closed_totals',
  { day: day(), endpoint: text('endpoint').notNull(), status: text('status').notNull(), ...rollupSums() },
  (t) => [primaryKey({ name: 'usage_closed_totals_pk', columns: [t.day, t.endpoint, t.status] })],
);

export const usageClosedKeys = pgTable(
  'usage_closed_keys',
  { day: day(), apiKeyId: text('api_key_id').notNull(), ...rollupSums() },
  (t) => [primaryKey({ name: 'usage_closed_keys_pk', columns: [t.day, t.apiKeyId] })],
);

export const usageClosedTags = pgTable(
  'usage_closed_tags',
  { day: day(), tag: text('tag').notNull(), ...rollupSums() },
  (t) => [
    primaryKey({ name: 'usage_closed_tags_pk', columns: [t.day, t.tag] }),
    index('usage_closed_tags_tag').on(t.tag, t.day),
  ],
);

/**
 * A closed day's sums per tag and status, summed from its rows when it was closed (drizzle/0024): no
 * rollup keeps a tag with a status. Read only for days usage_closed_days lists with tag_statuses.
 */
export const usageClosedTagStatuses = pgTable(
  'usage_closed_tag_statuses',
  { day: day(), tag: text('tag').notNull(), status: text('status').notNull(), ...rollupSums() },
  (t) => [
    primaryKey({ name: 'usage_closed_tag_statuses_pk', columns: [t.day, t.tag, t.status] }),
    index('usage_closed_tag_statuses_tag').on(t.tag, t.day),
  ],
);

export const usageClosedHours = pgTable(
  'usage_closed_hours',
  {
    hour: timestamp('hour', { withTimezone: true, mode: 'date' }).notNull(),
    /** the hour's UTC day, as usage_closed_days lists it (no time zone arithmetic per row to match it) */
    day: day(),
    endpoint: text('endpoint').notNull(),
    status: text('status').notNull(),
    ...rollupSums(),
  },
  (t) => [primaryKey({ name: 'usage_closed_hours_pk', columns: [t.hour, t.endpoint, t.status] })],
);

/**
 * Running totals of a UTC month's closed days per end user, all keys together (drizzle/0023): the row
 * (month, days) sums the month's first `days` days, so a run of closed days inside a month is one prefix
 * less another. A report reads a prefix only while usage_closed_days lists each of its days.
 */
export const usageClosedUserMonths = pgTable(
  'usage_closed_user_months',
  {
    /** the month's first day, 00:00 UTC */
    month: timestamp('month', { withTimezone: true, mode: 'date' }).notNull(),
    days: smallint('days').notNull(),
    endUser: text('end_user').notNull(),
    ...rollupSums(),
  },
  (t) => [
    primaryKey({ name: 'usage_closed_user_months_pk', columns: [t.month, t.days, t.endUser] }),
    index('usage_closed_user_months_end_user').on(t.endUser, t.month, t.days),
  ],
);

/**
 * A whole closed month's last days per end user (drizzle/0023): the row (month, after) sums the days
 * after its first `after`, the month's total less that prefix, so a range from mid-month to its end
 * reads one row per user. Read only while every day of the month is listed.
 */
export const usageClosedUserMonthEnds = pgTable(
  'usage_closed_user_month_ends',
  {
    /** the month's first day, 00:00 UTC */
    month: timestamp('month', { withTimezone: true, mode: 'date' }).notNull(),
    after: smallint('after').notNull(),
    endUser: text('end_user').notNull(),
    ...rollupSums(),
  },
  (t) => [
    primaryKey({ name: 'usage_closed_user_month_ends_pk', columns: [t.month, t.after, t.endUser] }),
    index('usage_closed_user_month_ends_end_user').on(t.endUser, t.month, t.after),
  ],
);
