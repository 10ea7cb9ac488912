// SQL reading one layer of the rollups (usage-layers.ts) for a range: its columns as every source
// yields them, its filters, and the closed days' tables and months; usage-sources.ts puts the parts
// together.
import { and, eq, gte, lt, type SQL, sql } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import { usageClosedDays } from './schema.ts';
import type { Range } from './usage-cover.ts';
import type { Layer, MonthLayer, UsageFilters } from './usage-layers.ts';

/** The dimensions' values as a layer holds them; null when it does not hold one. */
export function rollupSelect(rollup: Layer, timed: boolean): SQL {
  const { key, model, status, endpoint, servedBy, user, tag } = rollup.columns;
  const text = (column: AnyPgColumn | undefined) => (column ? sql`${column}` : sql`null::text`);
  return sql`${timed ? sql`${rollup.time} at time zone 'UTC'` : sql`null::timestamp`} as hour_utc,
    ${key ? sql`nullif(${key}, '')` : sql`null::text`} as api_key_id, ${text(model)} as model,
    ${text(status)} as status, ${text(endpoint)} as endpoint, ${text(servedBy)} as served_by,
    ${text(user)} as end_user, ${text(tag)} as tag, null::text as account_id,
    requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd`;
}

/**
 * One key's rows of a layer keyed (time, api_key_id, …), as one index probe per hour or day of the
 * range (its ends the layer's first and last when open): with no index on the key alone, the planner
 * otherwise reads every key's rows. On 1 M bench rows, all-time sums of one key: 48 ms, then 6 ms.
 */
function keyProbe(rollup: Layer, filters: UsageFilters): SQL | undefined {
  const { time, keyProbe: step } = rollup;
  if (!step || filters.keyId === undefined) return undefined;
  return sql`${time} = any(array(select generate_series(${steps(rollup, filters)}, ${step}::interval)))`;
}

/** A range's first and last instants for generate_series: its own, or the layer's first and last time when open. */
function ends(
  { time, table }: Layer,
  { from, to }: { from?: Date | undefined; to?: Date | undefined },
): { first: SQL; last: SQL } {
  const first = from ? sql`${from.toISOString()}::timestamptz` : sql`(select min(${time}) from ${table})`;
  const last = to ? sql`${to.toISOString()}::timestamptz` : sql`(select max(${time}) from ${table})`;
  return { first, last };
}

function steps(layer: Layer, range: { from?: Date | undefined; to?: Date | undefined }): SQL {
  const { first, last } = ends(layer, range);
  return sql`${first}, ${last}`;
}

export function rollupWhere(rollup: Layer, filters: UsageFilters): SQL {
  const c = rollup.columns;
  const on = (column: AnyPgColumn | undefined, value: string | undefined) =>
    value !== undefined && column ? eq(column, value) : undefined;
  return (
    and(
      filters.from ? gte(rollup.time, filters.from) : undefined,
      filters.to ? lt(rollup.time, filters.to) : undefined,
      keyProbe(rollup, filters),
      // the rollups keep the master key as '' (their key column is part of the primary key)
      on(c.key, filters.keyId === 'master' ? '' : filters.keyId),
      on(c.model, filters.model),
      on(c.status, filters.status),
      on(c.endpoint, filters.endpoint),
      on(c.servedBy, filters.servedBy),
      on(c.user, filters.user),
      on(c.tag, filters.tag),
    ) ?? sql`true`
  );
}

/** A part's sums taken away: every summed column negated, the dimensions as they are. */
export const negated = (
  part: SQL,
) => sql`select hour_utc, api_key_id, model, status, endpoint, served_by, end_user, tag,
    account_id, -requests as requests, -prompt_tokens as prompt_tokens, -completion_tokens as completion_tokens,
    -total_tokens as total_tokens, -cost_usd as cost_usd, -unpriced_requests as unpriced_requests,
    -charge_usd as charge_usd from (${part}) as outside`;

/** The days usage_closed_days lists; with `fromRows`, those whose sums from the rows were taken (drizzle/0024). */
function listedDays(fromRows: boolean): SQL {
  return sql`select ${usageClosedDays.day} from ${usageClosedDays}${fromRows ? sql` where ${usageClosedDays.tagStatuses}` : sql``}`;
}

/** A closed table's row is of a day usage_closed_days lists (`day`: its day column). */
export function closedDay(day: AnyPgColumn, fromRows = false): SQL {
  return sql`${day} in (${listedDays(fromRows)})`;
}

/**
 * The days or hours of a range that no closed day holds, as an array: the rollup is read by its
 * primary key's time for these alone (usually today), never scanned for the closed ones.
 */
export function openUnits(layer: Layer, range: Range, step: '1 hour' | '24 hours', fromRows = false): SQL {
  return sql`array(select u from generate_series(${steps(layer, range)}, ${step}::interval) as u
    where date_trunc('day', u at time zone 'UTC') at time zone 'UTC' not in (${listedDays(fromRows)}))`;
}

/**
 * Whole UTC days [from, to) of a rollup with closed months (drizzle/0023), not by time: in each month
 * the range touches, the days the month's leading run of listed days reaches are its running total to
 * the range's last such day less its running total to the day before the range (at most two rows per
 * end user for up to 31 days), or, from mid-month to the end of a month all closed, its end (one row);
 * the days past that run (today, a day written again) come from the daily layer. Months are counted on
 * UTC wall time, so no session time zone moves them.
 */
export function monthSums(months: MonthLayer, daily: Layer, filters: UsageFilters, range: Range): SQL {
  const { first, last } = ends(daily, range);
  // the range's ends as days into the month m, 0 to its length (the level's range is whole days)
  const into = (at: Date | undefined) =>
    at
      ? sql`greatest(0, least(len, (extract(epoch from ${at.toISOString()}::timestamptz - m) / 86400)::int))`
      : sql`len`;
  const run = sql`coalesce((select min(g) from generate_series(0, len - 1) as g where not exists
    (select 1 from ${usageClosedDays} where ${usageClosedDays.day} = m + g * interval '24 hours')), len)`;
  // each month's rows are probed by its key from the few spans (a lateral, offset 0): joined, the planner
  // trusted generate_series' 1,000-row guess over the spans and hashed all 408 k totals (250 ms at 10 M)
  const prefix = (days: SQL, more: SQL) => sql`select ${rollupSelect(months, false)}
    from spans cross join lateral (select * from ${months.table} where ${months.time} = spans.m
      and ${months.days} = ${days} and ${rollupWhere(months, filters)} offset 0) as ${months.table}
    where spans.hi > spans.lo and not spans.tail ${more}`;
  const { ends: tails } = months;
  // tail: from a day after the month's first to its end, the month all closed: one row per user
  return sql`select * from (
    with spans as (
      select *, (lo > 0 and hi = len and hi > lo) as tail from (
        select m, len, lo, least(upto, ${run}) as hi from (
          select m, len, ${range.from ? into(range.from) : sql`0`} as lo, ${into(range.to)} as upto
          from generate_series(date_trunc('month', ${first} at time zone 'UTC'), ${last} at time zone 'UTC',
            interval '1 month') as wall,
          lateral (select wall at time zone 'UTC' as m,
            extract(day from wall + interval '1 month' - interval '1 day')::int as len) as unit) as month_range)
        as bounds)
    ${prefix(sql`spans.hi`, sql``)}
    union all ${negated(prefix(sql`spans.lo`, sql`and spans.lo > 0`))}
    union all select ${rollupSelect(tails, false)}
      from spans cross join lateral (select * from ${tails.table} where ${tails.time} = spans.m
        and ${tails.after} = spans.lo and ${rollupWhere(tails, filters)} offset 0) as ${tails.table}
      where spans.tail
    union all select ${rollupSelect(daily, false)} from ${daily.table}
      where ${rollupWhere(daily, { ...filters, ...range })} and ${daily.time} = any(array(
        select m + g * interval '24 hours' from spans, generate_series(greatest(lo, hi), len - 1) as g))
  ) as months`;
}
