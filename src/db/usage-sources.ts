// Where a usage report reads its sums: a rollup's daily layer (usage-layers.ts) for whole UTC days (a
// closed table for a closed day), its hourly one for whole hours, and usage_logs for the partial hours
// at a range's edges, each edge read as its inside or as the whole unit less its outside, whichever
// reads less; usage_logs for the whole range when no rollup holds every dimension the report filters or
// groups on. Each source yields the same columns, so the report's SQL does not care which one answered.
import { and, eq, gte, isNull, lt, type SQL, sql } from 'drizzle-orm';
import { correctionsOf } from './corrections-repo.ts';
import { usageLogs } from './schema.ts';
import { cover, DAY_MS, HOUR_MS } from './usage-cover.ts';
import { closedDay, monthSums, negated, openUnits, rollupSelect, rollupWhere } from './usage-layer-sql.ts';
import {
  CLOSED,
  CLOSED_FROM_ROWS,
  type ClosedLayer,
  type Dimension,
  type Layer,
  ROLLUPS,
  type UsageFilters,
} from './usage-layers.ts';

export type { UsageEndpoint, UsageFilters, UsageStatus } from './usage-layers.ts';

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

/**
 * usage_logs rows in any of `selections`, one line each (one per distinct tag with `tagRows`); with
 * `days` (an array of UTC day starts), only the rows of those days, each day read as a range.
 */
function rawSums(selections: UsageFilters[], tagRows: boolean, timed: boolean, days?: SQL): SQL {
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
  const rows = sql`
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
    where (${where})${days ? sql` and ${usageLogs.createdAt} >= open_day.day and ${usageLogs.createdAt} < open_day.day + interval '24 hours'` : sql``}`;
  // each day by its own range, read per day (offset 0: flattened into a join, the planner read the whole
  // range's rows of the tag first, then kept the days')
  return days
    ? sql`select day_rows.* from unnest(${days}) as open_day(day) cross join lateral (${rows} offset 0) as day_rows`
    : rows;
}

/**
 * The selection as sums per UTC hour (or day, see below) and dimensions. Columns: hour_utc (timestamp,
 * UTC), api_key_id (null for the master key), model, status, endpoint, served_by, end_user, tag,
 * account_id ('' for none; null where the source does not keep it), and the sums, charge_usd with its
 * corrections × markup as cost_usd has its corrections. Sources, coarsest first, from the first
 * rollup holding every dimension needed: whole UTC days from its daily layer (hour_utc is the day's
 * start, so not when grouping by hour), or from the smallest closed table holding those dimensions for
 * a day usage_closed_days lists (usage-layers.ts; for end users not by time, a closed month's
 * running totals), whole hours from its hourly layer, and partial hours from
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
  const byHour = groupBy === 'hour';
  if (!rollup) {
    // no rollup for this combination: every row from usage_logs, but for the closed days summed from them
    const fromRows = byHour ? undefined : CLOSED_FROM_ROWS.find((c) => needed.every((d) => c.columns[d]));
    return fromRows
      ? closedFromRows(fromRows, filters, tagRows, timed, now)
      : rawSums([filters], tagRows, timed);
  }
  const layers = byHour ? [rollup.hourly] : [rollup.daily, rollup.hourly];
  const units = byHour ? [HOUR_MS] : [DAY_MS, HOUR_MS];
  // the closed days of the coarsest level come from a closed table when one holds the dimensions
  const closed = CLOSED.find(
    (c) => (!byHour || c.grain === 'hour') && needed.every((d) => c.columns[d] !== undefined),
  );
  // a month's running totals (end users), when they hold every dimension too
  const months = needed.every((d) => rollup.months?.columns[d] !== undefined) ? rollup.months : undefined;
  const parts = cover({ from, to }, units, now, 1);
  const lines: SQL[] = [];
  for (const sign of [1, -1] as const) {
    const rows = parts.filter((p) => p.sign === sign && p.level === layers.length);
    const read: SQL[] = parts
      .filter((p) => p.sign === sign && p.level < layers.length)
      .flatMap(({ level, range }) => {
        const layer = layers[level] as Layer;
        const where = rollupWhere(layer, { ...rest, ...range });
        if (level === 0 && months && !timed) return [monthSums(months, layer, rest, range)];
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

/**
 * A selection no rollup holds, with a closed table summed from the rows (CLOSED_FROM_ROWS): its whole UTC
 * days from that table for the days listed with those sums and from usage_logs for the rest (one range
 * per day), the partial days at its edges from usage_logs, each edge added or taken away as `cover`
 * reads less. For the 30 days to now at 50 M rows, the tag's rows of today and the range's first hours,
 * not of 30 days.
 */
function closedFromRows(
  closed: ClosedLayer,
  filters: UsageFilters,
  tagRows: boolean,
  timed: boolean,
  now: number,
): SQL {
  const { from, to, ...rest } = filters;
  // the ledger's days, for an open end: every day with rows has a line in the routes rollup
  const days = (ROLLUPS[0] as (typeof ROLLUPS)[number]).daily;
  const lines = cover({ from, to }, [DAY_MS], now, 1).flatMap(({ level, range, sign }) => {
    const selection = { ...rest, ...range };
    const read =
      level > 0
        ? [rawSums([selection], tagRows, timed)]
        : [
            sql`select ${rollupSelect(closed, timed)} from ${closed.table}
              where ${rollupWhere(closed, selection)} and ${closedDay(closed.time, true)}`,
            // the days the range holds (generate_series would take a day starting at its end too)
            rawSums(
              [selection],
              tagRows,
              timed,
              openUnits(
                days,
                { ...range, to: range.to && new Date(range.to.getTime() - 1) },
                '24 hours',
                true,
              ),
            ),
          ];
    return sign === 1 ? read : read.map(negated);
  });
  return sql.join(lines, sql` union all `);
}
