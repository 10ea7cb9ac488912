// Where a usage report reads its sums: a rollup's daily layer (usage-layers.ts) for whole UTC days (a
// closed table for a closed day), its hourly one for whole hours, and usage_logs for the partial hours
// at a range's edges, each edge read as its inside or as the whole unit less its outside, whichever
// reads less; usage_logs for the whole range when no rollup holds every dimension the report filters or
// groups on. Each source yields the same columns, so the report's SQL does not care which one answered.
import { and, eq, gte, isNull, lt, type SQL, sql } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import { correctionsOf } from './corrections-repo.ts';
import { usageClosedDays, usageLogs } from './schema.ts';
import { cover, DAY_MS, HOUR_MS, type Range } from './usage-cover.ts';
import { CLOSED, type Dimension, type Layer, type MonthLayer, ROLLUPS } from './usage-layers.ts';

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

/** The filters that name a dimension, and which. */
const FILTER_DIMENSION = {
  keyId: 'key',
  model: 'model',
  status: 'status',
  endpoint: 'endpoint',
  servedBy: 'servedBy',
  user: 'user',
  tag: 'tag',
  accountId: 'account',
} as const satisfies Partial<Record<keyof UsageFilters, Dimension>>;
const GROUP_DIMENSION = {
  day: undefined,
  hour: undefined,
  model: 'model',
  key: 'key',
  status: 'status',
  endpoint: 'endpoint',
  served_by: 'servedBy',
  user: 'user',
  tag: 'tag',
  account: 'account',
} as const satisfies Record<string, Dimension | undefined>;

export type GroupBy = keyof typeof GROUP_DIMENSION;

function dimensionsOf(filters: UsageFilters, groupBy: GroupBy | undefined): Dimension[] {
  const needed = new Set<Dimension>();
  for (const [name, dimension] of Object.entries(FILTER_DIMENSION))
    if (filters[name as keyof typeof FILTER_DIMENSION] !== undefined) needed.add(dimension);
  const grouped = groupBy ? GROUP_DIMENSION[groupBy] : undefined;
  if (grouped) needed.add(grouped);
  return [...needed];
}

/** The dimensions' values as a layer holds them; null when it does not hold one. */
function rollupSelect(rollup: Layer, timed: boolean): SQL {
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

function rollupWhere(rollup: Layer, filters: UsageFilters): SQL {
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

/**
 * The filters as one condition on usage_logs. With `tagRows`, the row is already one per tag (`t.tag`)
 * and the tag filter keeps that tag's line; otherwise it keeps the rows whose tags contain it.
 */
export function logsWhere(filters: UsageFilters, { tagRows = false } = {}): SQL {
  const { from, to, model, keyId, status, endpoint, servedBy, user, tag, accountId } = filters;
  return (
    and(
      from ? gte(usageLogs.createdAt, from) : undefined,
      to ? lt(usageLogs.createdAt, to) : undefined,
      model !== undefined ? eq(usageLogs.model, model) : undefined,
      keyId !== undefined
        ? keyId === 'master'
          ? isNull(usageLogs.apiKeyId)
          : eq(usageLogs.apiKeyId, keyId)
        : undefined,
      status !== undefined ? eq(usageLogs.status, status) : undefined,
      endpoint !== undefined ? eq(usageLogs.endpoint, endpoint) : undefined,
      servedBy !== undefined ? eq(usageLogs.servedBy, servedBy) : undefined,
      user !== undefined ? eq(usageLogs.endUser, user) : undefined,
      accountId !== undefined ? eq(usageLogs.accountId, accountId) : undefined,
      tag === undefined
        ? undefined
        : tagRows
          ? sql`t.tag = ${tag}`
          : sql`${usageLogs.tags} @> array[${tag}]::text[]`,
    ) ?? sql`true`
  );
}

/** usage_logs rows in any of `selections`, one line each (one per distinct tag with `tagRows`). */
function rawSums(selections: UsageFilters[], tagRows: boolean, timed: boolean): SQL {
  const where = sql.join(
    selections.map((filters) => sql`(${logsWhere(filters, { tagRows })})`),
    sql` or `,
  );
  // a row without tags counts once under '' (as in usage_hourly_tags)
  const perTag = tagRows
    ? sql`cross join lateral (select distinct x from unnest(case when cardinality(${usageLogs.tags}) > 0
        then ${usageLogs.tags} else array['']::text[] end) as x) as t(tag)`
    : sql``;
  // offset 0 keeps the planner from inlining `corrected`, which ran its subquery once per use (twice a row)
  return sql`
    select ${timed ? sql`date_trunc('hour', ${usageLogs.createdAt} at time zone 'UTC')` : sql`null::timestamp`} as hour_utc,
           ${usageLogs.apiKeyId} as api_key_id,
           ${usageLogs.model} as model, ${usageLogs.status} as status, ${usageLogs.endpoint} as endpoint,
           coalesce(${usageLogs.servedBy}, '') as served_by, coalesce(${usageLogs.endUser}, '') as end_user,
           ${tagRows ? sql`t.tag` : sql`null::text`} as tag, coalesce(${usageLogs.accountId}, '') as account_id,
           1::bigint as requests,
           ${usageLogs.promptTokens}::bigint as prompt_tokens, ${usageLogs.completionTokens}::bigint as completion_tokens,
           ${usageLogs.totalTokens}::bigint as total_tokens,
           ${usageLogs.costTotal} + corrected.delta as cost_usd,
           (${usageLogs.pricingSource} in ('env', 'builtin'))::int::bigint as unpriced_requests,
           coalesce(${usageLogs.chargeUsd}, ${usageLogs.costTotal} * ${usageLogs.markup})
             + corrected.delta * ${usageLogs.markup} as charge_usd
    from ${usageLogs} cross join lateral (select ${correctionsOf(usageLogs.requestId)} as delta offset 0) as corrected ${perTag}
    where ${where}`;
}

/** A part's sums taken away: every summed column negated, the dimensions as they are. */
const negated = (
  part: SQL,
) => sql`select hour_utc, api_key_id, model, status, endpoint, served_by, end_user, tag,
    account_id, -requests as requests, -prompt_tokens as prompt_tokens, -completion_tokens as completion_tokens,
    -total_tokens as total_tokens, -cost_usd as cost_usd, -unpriced_requests as unpriced_requests,
    -charge_usd as charge_usd from (${part}) as outside`;

/** A closed table's row is of a day usage_closed_days lists (`day`: its day column). */
function closedDay(day: AnyPgColumn): SQL {
  return sql`${day} in (select ${usageClosedDays.day} from ${usageClosedDays})`;
}

/**
 * The days or hours of a range that no closed day holds, as an array: the rollup is read by its
 * primary key's time for these alone (usually today), never scanned for the closed ones.
 */
function openUnits(layer: Layer, range: Range, step: '1 hour' | '24 hours'): SQL {
  return sql`array(select u from generate_series(${steps(layer, range)}, ${step}::interval) as u
    where date_trunc('day', u at time zone 'UTC') at time zone 'UTC' not in (select ${usageClosedDays.day} from ${usageClosedDays}))`;
}

/**
 * Whole UTC days [from, to) of a rollup with closed months (drizzle/0023), not by time: in each month
 * the range touches, the days the month's leading run of listed days reaches are its running total to
 * the range's last such day less its running total to the day before the range (at most two rows per
 * end user for up to 31 days); the days past that run (today, a day written again) come from the daily
 * layer. Months are counted on UTC wall time, so no session time zone moves them.
 */
function monthSums(months: MonthLayer, daily: Layer, filters: UsageFilters, range: Range): SQL {
  const { first, last } = ends(daily, range);
  // the range's ends as days into the month m, 0 to its length (the level's range is whole days)
  const into = (at: Date | undefined) =>
    at
      ? sql`greatest(0, least(len, (extract(epoch from ${at.toISOString()}::timestamptz - m) / 86400)::int))`
      : sql`len`;
  const run = sql`coalesce((select min(g) from generate_series(0, len - 1) as g where not exists
    (select 1 from ${usageClosedDays} where ${usageClosedDays.day} = m + g * interval '24 hours')), len)`;
  const prefix = (days: SQL, more: SQL) => sql`select ${rollupSelect(months, false)}
    from ${months.table} join spans on ${months.time} = spans.m and ${months.days} = ${days}
    where spans.hi > spans.lo ${more} and ${rollupWhere(months, filters)}`;
  return sql`select * from (
    with spans as (
      select m, len, lo, least(upto, ${run}) as hi from (
        select m, len, ${range.from ? into(range.from) : sql`0`} as lo, ${into(range.to)} as upto
        from generate_series(date_trunc('month', ${first} at time zone 'UTC'), ${last} at time zone 'UTC',
          interval '1 month') as wall,
        lateral (select wall at time zone 'UTC' as m,
          extract(day from wall + interval '1 month' - interval '1 day')::int as len) as unit) as month_range)
    ${prefix(sql`spans.hi`, sql``)}
    union all ${negated(prefix(sql`spans.lo`, sql`and spans.lo > 0`))}
    union all select ${rollupSelect(daily, false)} from ${daily.table}
      where ${rollupWhere(daily, { ...filters, ...range })} and ${daily.time} = any(array(
        select m + g * interval '24 hours' from spans, generate_series(greatest(lo, hi), len - 1) as g))
  ) as months`;
}

/**
 * The selection as sums per UTC hour (or day, see below) and dimensions. Columns: hour_utc (timestamp,
 * UTC), api_key_id (null for the master key), model, status, endpoint, served_by, end_user, tag,
 * account_id ('' for none; null where the source does not keep it), and the sums, charge_usd with its
 * corrections × markup as cost_usd has its corrections. Sources, coarsest first, from the first
 * rollup holding every dimension needed: whole UTC days from its daily layer (hour_utc is the day's
 * start, so not when grouping by hour), or from the smallest closed table holding those dimensions for
 * a day usage_closed_days lists (usage-layers.ts), whole hours from its hourly layer, and partial hours from
 * usage_logs itself (read by the created_at index), each edge added or taken away as `cover` reads
 * less; with no such rollup, everything from usage_logs. Lines may carry negative sums: only their
 * sums per group mean anything, and a group whose requests sum to zero has no row in the selection.
 */
export function hourlySums(filters: UsageFilters, groupBy?: GroupBy, now = Date.now()): SQL {
  const tagRows = groupBy === 'tag';
  const needed = dimensionsOf(filters, groupBy);
  const rollup = ROLLUPS.find((r) => needed.every((d) => r.hourly.columns[d] !== undefined));
  const { from, to, ...rest } = filters;
  // UTC wall times cost a time zone conversion per line: only a report by day or hour reads them
  const timed = groupBy === 'day' || groupBy === 'hour';
  // no rollup for this combination: every row from usage_logs
  if (!rollup) return rawSums([filters], tagRows, timed);
  const byHour = groupBy === 'hour';
  const layers = byHour ? [rollup.hourly] : [rollup.daily, rollup.hourly];
  const units = byHour ? [HOUR_MS] : [DAY_MS, HOUR_MS];
  // the closed days of the coarsest level come from a closed table when one holds the dimensions
  const closed = CLOSED.find(
    (c) => (!byHour || c.grain === 'hour') && needed.every((d) => c.columns[d] !== undefined),
  );
  const parts = cover({ from, to }, units, now, 1);
  const lines: SQL[] = [];
  for (const sign of [1, -1] as const) {
    const rows = parts.filter((p) => p.sign === sign && p.level === layers.length);
    const read: SQL[] = parts
      .filter((p) => p.sign === sign && p.level < layers.length)
      .flatMap(({ level, range }) => {
        const layer = layers[level] as Layer;
        const where = rollupWhere(layer, { ...rest, ...range });
        if (level === 0 && rollup.months && !timed) return [monthSums(rollup.months, layer, rest, range)];
        if (level > 0 || !closed)
          return [sql`select ${rollupSelect(layer, timed)} from ${layer.table} where ${where}`];
        const open = openUnits(layer, range, byHour ? '1 hour' : '24 hours');
        return [
          sql`select ${rollupSelect(closed, timed)} from ${closed.table}
            where ${rollupWhere(closed, { ...rest, ...range })} and ${closedDay(closed.grain === 'hour' ? closed.day : closed.time)}`,
          sql`select ${rollupSelect(layer, timed)} from ${layer.table} where ${where} and ${layer.time} = any(${open})`,
        ];
      });
    if (rows.length > 0)
      read.push(
        rawSums(
          rows.map((p) => ({ ...rest, ...p.range })),
          tagRows,
          timed,
        ),
      );
    lines.push(...(sign === 1 ? read : read.map(negated)));
  }
  return sql.join(lines, sql` union all `);
}
