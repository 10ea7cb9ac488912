// The SQL of the usage report: the filter, one keyset page of usage_logs, and totals and groups read
// from the hourly rollup (usage_hourly) plus the partial hours at the range's edges. Each query is
// shaped to an index, so a page or a month's summary stays fast at ten million rows.
import { and, eq, getTableColumns, gte, isNull, lt, type SQL, sql } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import type { Database } from './client.ts';
import { correctionsOf } from './corrections-repo.ts';
import { type UsageLogRow, usageHourly, usageLogs } from './schema.ts';

export type UsageStatus = 'ok' | 'upstream_error' | 'client_aborted' | 'gateway_error';

export type UsageFilters = {
  /** inclusive */
  from?: Date | undefined;
  /** exclusive */
  to?: Date | undefined;
  model?: string | undefined;
  /** a key id, or `master` for rows made with the admin key (api_key_id is null) */
  keyId?: string | undefined;
  status?: UsageStatus | undefined;
};

export type GroupBy = 'day' | 'hour' | 'model' | 'key' | 'status';

/** Where a keyset page starts: strictly after this row in (created_at desc, id desc) order. */
export type KeysetPosition = {
  /** created_at in UTC to the microsecond, as `2026-11-03T12:00:00.123456Z` */
  createdAt: string;
  id: number;
};

/** A usage_logs row as drizzle maps it, less the internal budget column, plus where it sits in the order. */
export type UsagePageRow = Omit<UsageLogRow, 'reservedUsd'> & {
  position: KeysetPosition;
  /** USD: the sum of the row's corrections (POST /admin/reprice), numeric text; '0' when none */
  correctedBy: string;
};

/** Sums of a selection, exact: counts as bigint, USD as PostgreSQL's numeric text. */
export type UsageAggregate = {
  requests: bigint;
  promptTokens: bigint;
  completionTokens: bigint;
  totalTokens: bigint;
  costUsd: string;
  unpricedRequests: bigint;
};

export type UsageGroupAggregate = UsageAggregate & { group: string };

const { reservedUsd: _internal, ...reportColumns } = getTableColumns(usageLogs);

/** The cursor keeps microseconds (rows stamped by now() have them); fixed UTC text, whatever the session's DateStyle. */
const POSITION_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"';
const BUCKET_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"';

/**
 * The index is (created_at DESC NULLS LAST, id DESC NULLS LAST). A bare DESC means NULLS FIRST, which
 * the planner will not serve from that index: at 10M rows the first page took 6.7 s by a full sort
 * instead of 0.7 ms by the index. The columns are NOT NULL, so NULLS LAST changes no result.
 */
const NEWEST_FIRST = [sql`${usageLogs.createdAt} desc nulls last`, sql`${usageLogs.id} desc nulls last`];

/** Where a table keeps what the filters select on: usage_logs, or the hourly rollup. */
type Filterable = {
  at: AnyPgColumn;
  model: AnyPgColumn;
  status: AnyPgColumn;
  /** a key id, or `master` */
  key: (keyId: string) => SQL;
};

const LOGS: Filterable = {
  at: usageLogs.createdAt,
  model: usageLogs.model,
  status: usageLogs.status,
  key: (keyId) => (keyId === 'master' ? isNull(usageLogs.apiKeyId) : eq(usageLogs.apiKeyId, keyId)),
};

// the rollup keeps the master key as '' (its key column is part of the primary key)
const HOURLY: Filterable = {
  at: usageHourly.hour,
  model: usageHourly.model,
  status: usageHourly.status,
  key: (keyId) => eq(usageHourly.apiKeyId, keyId === 'master' ? '' : keyId),
};

/** The filters as one condition on `table` (`true` when there are none). */
function filterOn(table: Filterable, { from, to, model, keyId, status }: UsageFilters): SQL {
  return (
    and(
      from ? gte(table.at, from) : undefined,
      to ? lt(table.at, to) : undefined,
      model !== undefined ? eq(table.model, model) : undefined,
      keyId !== undefined ? table.key(keyId) : undefined,
      status !== undefined ? eq(table.status, status) : undefined,
    ) ?? sql`true`
  );
}

function whereOf(filters: UsageFilters, after?: KeysetPosition): SQL | undefined {
  return and(
    filterOn(LOGS, filters),
    // a row comparison is one index condition on (created_at, id): the page starts inside the index
    after
      ? sql`(${usageLogs.createdAt}, ${usageLogs.id}) < (${after.createdAt}::timestamptz, ${after.id}::bigint)`
      : undefined,
  );
}

/** Up to `limit` rows of the selection after `after`, newest first. */
export async function selectUsagePage(
  database: Database,
  { filters, limit, after }: { filters: UsageFilters; limit: number; after?: KeysetPosition | undefined },
): Promise<UsagePageRow[]> {
  const rows = await database.db
    .select({
      ...reportColumns,
      positionAt: sql<string>`to_char(${usageLogs.createdAt} at time zone 'UTC', ${POSITION_FORMAT})`,
      correctedBy: sql<string>`(${correctionsOf(usageLogs.requestId)})::text`,
    })
    .from(usageLogs)
    .where(whereOf(filters, after))
    .orderBy(...NEWEST_FIRST)
    .limit(limit);
  return rows.map(({ positionAt, ...row }) => ({ ...row, position: { createdAt: positionAt, id: row.id } }));
}

// Corrections (issue 15): a row's cost is cost_total plus its corrections' deltas. The hourly rollup
// already holds them (a trigger on usage_corrections); the raw scans add them (corrections-repo.ts).

/** Pricing sources that count as unpriced: a guess, not a price set for the model (see billing/pricing.ts). */
const UNPRICED = sql`('env', 'builtin')`;

// Every aggregate leaves PostgreSQL as text: both drivers then hand over the same exact value.
const AGGREGATES = sql`
  coalesce(sum(requests), 0)::text as requests,
  coalesce(sum(prompt_tokens), 0)::text as prompt_tokens,
  coalesce(sum(completion_tokens), 0)::text as completion_tokens,
  coalesce(sum(total_tokens), 0)::text as total_tokens,
  coalesce(sum(cost_usd), 0)::text as cost_usd,
  coalesce(sum(unpriced_requests), 0)::text as unpriced_requests`;

type AggregateText = {
  requests: string;
  prompt_tokens: string;
  completion_tokens: string;
  total_tokens: string;
  cost_usd: string;
  unpriced_requests: string;
};

const fromText = (row: AggregateText): UsageAggregate => ({
  requests: BigInt(row.requests),
  promptTokens: BigInt(row.prompt_tokens),
  completionTokens: BigInt(row.completion_tokens),
  totalTokens: BigInt(row.total_tokens),
  costUsd: row.cost_usd,
  unpricedRequests: BigInt(row.unpriced_requests),
});

const HOUR_MS = 3_600_000;
const floorHour = (at: Date) => new Date(Math.floor(at.getTime() / HOUR_MS) * HOUR_MS);
const ceilHour = (at: Date) => new Date(Math.ceil(at.getTime() / HOUR_MS) * HOUR_MS);

/**
 * The selection as sums per (UTC hour, key, model, status): whole hours from the usage_hourly rollup,
 * the partial hours at either edge of [from, to) from usage_logs itself (at most two hours of rows,
 * read by the created_at index). Columns: hour_utc (timestamp, UTC), api_key_id (null for the master
 * key), model, status, and the sums.
 */
function hourlySums(filters: UsageFilters): SQL {
  const { from, to, ...rest } = filters;
  const wholeFrom = from ? ceilHour(from) : undefined;
  const wholeTo = to ? floorHour(to) : undefined;
  // no whole hour inside the range: every row comes from usage_logs
  if (wholeFrom && wholeTo && wholeFrom >= wholeTo) return rawSums([{ ...rest, from, to }]);
  const edges: UsageFilters[] = [];
  if (from && wholeFrom && from < wholeFrom) edges.push({ ...rest, from, to: wholeFrom });
  if (to && wholeTo && wholeTo < to) edges.push({ ...rest, from: wholeTo, to });
  const rollup = sql`
    select ${usageHourly.hour} at time zone 'UTC' as hour_utc, nullif(${usageHourly.apiKeyId}, '') as api_key_id,
           ${usageHourly.model} as model, ${usageHourly.status} as status, ${usageHourly.requests} as requests,
           ${usageHourly.promptTokens} as prompt_tokens, ${usageHourly.completionTokens} as completion_tokens,
           ${usageHourly.totalTokens} as total_tokens, ${usageHourly.costUsd} as cost_usd,
           ${usageHourly.unpricedRequests} as unpriced_requests
    from ${usageHourly}
    where ${filterOn(HOURLY, { ...rest, from: wholeFrom, to: wholeTo })}`;
  return edges.length === 0 ? rollup : sql`${rollup} union all ${rawSums(edges)}`;
}

/** usage_logs rows in any of `selections`, shaped as hourly sums of one row each. */
function rawSums(selections: UsageFilters[]): SQL {
  const where = sql.join(
    selections.map((filters) => sql`(${filterOn(LOGS, filters)})`),
    sql` or `,
  );
  return sql`
    select date_trunc('hour', ${usageLogs.createdAt} at time zone 'UTC') as hour_utc, ${usageLogs.apiKeyId} as api_key_id,
           ${usageLogs.model} as model, ${usageLogs.status} as status, 1::bigint as requests,
           ${usageLogs.promptTokens}::bigint as prompt_tokens, ${usageLogs.completionTokens}::bigint as completion_tokens,
           ${usageLogs.totalTokens}::bigint as total_tokens,
           ${usageLogs.costTotal} + ${correctionsOf(usageLogs.requestId)} as cost_usd,
           (${usageLogs.pricingSource} in ${UNPRICED})::int::bigint as unpriced_requests
    from ${usageLogs}
    where ${where}`;
}

/** Sums over the whole selection. */
export async function selectUsageTotals(database: Database, filters: UsageFilters): Promise<UsageAggregate> {
  const [row] = await database.rows<AggregateText>(
    sql`select ${AGGREGATES} from (${hourlySums(filters)}) as sums`,
  );
  if (!row) throw new Error('an aggregate without a group returned no row');
  return fromText(row);
}

/**
 * What a group is, and the order groups come in. Time buckets are grouped as timestamps and
 * formatted once per group; text groups sort bytewise (collate "C"), so both backends agree whatever
 * their default collation.
 */
const GROUPS: Record<GroupBy, { bucket: SQL; label: SQL; order: SQL }> = {
  day: timeBuckets(sql`date_trunc('day', hour_utc)`),
  hour: timeBuckets(sql`hour_utc`),
  model: textBuckets(sql`model`),
  key: textBuckets(sql`coalesce(api_key_id, 'master')`),
  status: textBuckets(sql`status`),
};

function timeBuckets(bucket: SQL) {
  return { bucket, label: sql`to_char(bucket, ${BUCKET_FORMAT})`, order: sql`bucket asc` };
}

function textBuckets(bucket: SQL) {
  return { bucket, label: sql`bucket`, order: sql`cost_usd::numeric desc, bucket collate "C" asc` };
}

/** Sums per group over the selection, in the group's order: time ascending, else spend first. */
export async function selectUsageGroups(
  database: Database,
  { filters, groupBy }: { filters: UsageFilters; groupBy: GroupBy },
): Promise<UsageGroupAggregate[]> {
  const { bucket, label, order } = GROUPS[groupBy];
  const rows = await database.rows<AggregateText & { grp: string }>(sql`
    select ${label} as grp, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests
    from (
      select ${bucket} as bucket, ${AGGREGATES}
      from (${hourlySums(filters)}) as sums
      group by 1
    ) as groups
    order by ${order}`);
  return rows.map((row) => ({ group: row.grp, ...fromText(row) }));
}
