// The rollups a usage report can read instead of usage_logs: each hourly table (drizzle/0004, 0009) and
// its daily twin (drizzle/0015), with the dimensions they keep. usage-sources.ts picks one per report.
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import {
  usageClosedHours,
  usageClosedKeys,
  usageClosedTagStatuses,
  usageClosedTags,
  usageClosedTotals,
  usageClosedUserMonthEnds,
  usageClosedUserMonths,
  usageDaily,
  usageDailyRoutes,
  usageDailyTags,
  usageDailyUsers,
  usageHourly,
  usageHourlyRoutes,
  usageHourlyTags,
  usageHourlyUsers,
} from './schema.ts';

export type UsageStatus = 'ok' | 'upstream_error' | 'client_aborted' | 'gateway_error';
/** an endpoint's name, one of the registry's (src/endpoints/registry.ts): checked where a query enters */
export type UsageEndpoint = string;

export type UsageFilters = {
  /** inclusive */
  from?: Date | undefined;
  /** exclusive */
  to?: Date | undefined;
  model?: string | undefined;
  /** a key id, or `master` for rows made with the admin key (api_key_id is null) */
  keyId?: string | undefined;
  status?: UsageStatus | undefined;
  endpoint?: UsageEndpoint | undefined;
  servedBy?: string | undefined;
  /** end_user */
  user?: string | undefined;
  /** rows whose tags contain it */
  tag?: string | undefined;
  /** rows of this account's keys (usage_logs.account_id, as written when the row was) */
  accountId?: string | undefined;
};

/**
 * What a report can filter or group on besides time. No rollup holds the account (adding it to their
 * keys would widen every one): a report on it reads usage_logs, by its (account_id, created_at) index.
 */
export type Dimension = 'key' | 'model' | 'status' | 'endpoint' | 'servedBy' | 'user' | 'tag' | 'account';

/** One layer of a rollup: its table, its time column (an hour's or a UTC day's start), its dimensions. */
export type Layer = {
  table:
    | typeof usageHourly
    | typeof usageHourlyRoutes
    | typeof usageHourlyUsers
    | typeof usageHourlyTags
    | typeof usageDaily
    | typeof usageDailyRoutes
    | typeof usageDailyUsers
    | typeof usageDailyTags
    | typeof usageClosedKeys
    | typeof usageClosedTags
    | typeof usageClosedTagStatuses
    | typeof usageClosedHours
    | typeof usageClosedTotals
    | typeof usageClosedUserMonths
    | typeof usageClosedUserMonthEnds;
  time: AnyPgColumn;
  columns: Partial<Record<Dimension, AnyPgColumn>>;
  /**
   * The layer's time step, when its primary key starts (time, api_key_id): a report on one key then
   * probes that index once per hour or day of its range rather than reading every key's rows. A day
   * is 24 hours, not '1 day': UTC days, whatever the session's time zone.
   */
  keyProbe?: '1 hour' | '24 hours';
};

/**
 * Running totals per UTC month (drizzle/0023): `time` is the month's first day, `days` how many of its
 * days; `ends`, a whole month's days after its first `after`.
 */
export type MonthLayer = Layer & { days: AnyPgColumn; ends: Layer & { after: AnyPgColumn } };

/**
 * A rollup's hourly table and its daily twin: the same dimensions and sums; and, for the end users (a
 * row per user and day, however coarse the report), the closed months' running totals.
 */
export type Rollup = { hourly: Layer; daily: Layer; months?: MonthLayer };

/**
 * In order of size, smallest first: the first that holds every dimension a report needs answers it. A
 * report costs about a microsecond per rollup row it sums, and the rollups' rows multiply with their
 * dimensions: the routes rollup keeps no key (endpoint × served_by × model × status: a few hundred
 * groups a day however many keys there are), so totals and summaries by time, model, status, endpoint
 * or served_by read it; measured on 1 M rows over 90 days with 1,000 keys, usage_daily_routes held
 * ~20 k rows where usage_daily (key, model, status) held 275 k. Every rollup is exact over the same
 * rows and corrections, so which one answers changes no figure.
 */
export const ROLLUPS: readonly Rollup[] = [
  {
    hourly: {
      table: usageHourlyRoutes,
      time: usageHourlyRoutes.hour,
      columns: {
        endpoint: usageHourlyRoutes.endpoint,
        servedBy: usageHourlyRoutes.servedBy,
        model: usageHourlyRoutes.model,
        status: usageHourlyRoutes.status,
      },
    },
    daily: {
      table: usageDailyRoutes,
      time: usageDailyRoutes.day,
      columns: {
        endpoint: usageDailyRoutes.endpoint,
        servedBy: usageDailyRoutes.servedBy,
        model: usageDailyRoutes.model,
        status: usageDailyRoutes.status,
      },
    },
  },
  {
    hourly: {
      table: usageHourly,
      time: usageHourly.hour,
      columns: { key: usageHourly.apiKeyId, model: usageHourly.model, status: usageHourly.status },
      keyProbe: '1 hour',
    },
    daily: {
      table: usageDaily,
      time: usageDaily.day,
      columns: { key: usageDaily.apiKeyId, model: usageDaily.model, status: usageDaily.status },
      keyProbe: '24 hours',
    },
  },
  {
    hourly: {
      table: usageHourlyTags,
      time: usageHourlyTags.hour,
      columns: { tag: usageHourlyTags.tag, key: usageHourlyTags.apiKeyId, model: usageHourlyTags.model },
    },
    daily: {
      table: usageDailyTags,
      time: usageDailyTags.day,
      columns: { tag: usageDailyTags.tag, key: usageDailyTags.apiKeyId, model: usageDailyTags.model },
    },
  },
  {
    hourly: {
      table: usageHourlyUsers,
      time: usageHourlyUsers.hour,
      columns: { user: usageHourlyUsers.endUser, key: usageHourlyUsers.apiKeyId },
    },
    daily: {
      table: usageDailyUsers,
      time: usageDailyUsers.day,
      columns: { user: usageDailyUsers.endUser, key: usageDailyUsers.apiKeyId },
    },
    months: {
      table: usageClosedUserMonths,
      time: usageClosedUserMonths.month,
      days: usageClosedUserMonths.days,
      // no key: a report by end user and key reads the daily layer (an app's end users are its key's)
      columns: { user: usageClosedUserMonths.endUser },
      ends: {
        table: usageClosedUserMonthEnds,
        time: usageClosedUserMonthEnds.month,
        after: usageClosedUserMonthEnds.after,
        columns: { user: usageClosedUserMonthEnds.endUser },
      },
    },
  },
];

/**
 * The closed tables (drizzle/0022), smallest first: coarser sums of the days usage_closed_days lists,
 * per day or per hour by endpoint and status, per tag, per key. A report reads a listed day from the
 * first one holding every dimension it needs (and its time grain, by hour) instead of its rollup (for
 * 30 days at 10 M rows: 4 k rows instead of usage_hourly_routes' 139 k by hour, 4 k instead of
 * usage_daily_tags' 86 k by tag, 28 k instead of usage_daily's 162 k by key); days not listed (today,
 * a day written again) still come from the rollup.
 */
/** A closed table: its time grain, and (by the hour) the column holding each row's UTC day. */
export type ClosedLayer = Layer & ({ grain: 'day' } | { grain: 'hour'; day: AnyPgColumn });

export const CLOSED: readonly ClosedLayer[] = [
  {
    table: usageClosedTotals,
    time: usageClosedTotals.day,
    grain: 'day',
    columns: { endpoint: usageClosedTotals.endpoint, status: usageClosedTotals.status },
  },
  {
    table: usageClosedHours,
    time: usageClosedHours.hour,
    day: usageClosedHours.day,
    grain: 'hour',
    columns: { endpoint: usageClosedHours.endpoint, status: usageClosedHours.status },
  },
  {
    table: usageClosedTags,
    time: usageClosedTags.day,
    grain: 'day',
    columns: { tag: usageClosedTags.tag },
  },
  {
    table: usageClosedKeys,
    time: usageClosedKeys.day,
    grain: 'day',
    columns: { key: usageClosedKeys.apiKeyId },
    keyProbe: '24 hours',
  },
];

/**
 * Closed tables summed from the rows themselves when a day is closed (drizzle/0024), for dimensions no
 * rollup keeps together: a report on them reads a day here while usage_closed_days lists it with those
 * sums, and every other day (today, a day written again, an archived month's) from usage_logs.
 */
export const CLOSED_FROM_ROWS: readonly ClosedLayer[] = [
  {
    table: usageClosedTagStatuses,
    time: usageClosedTagStatuses.day,
    grain: 'day',
    columns: { tag: usageClosedTagStatuses.tag, status: usageClosedTagStatuses.status },
  },
];
