// The SQL of the usage report over usage_logs: the filter, one keyset page, totals and groups. Each
// query is shaped to an index of usage_logs, so a page stays a few index reads at ten million rows.
import { and, eq, getTableColumns, gte, isNull, lt, type SQL, sql } from 'drizzle-orm';
import type { Database } from './client.ts';
import { type UsageLogRow, usageLogs } from './schema.ts';

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
export type UsagePageRow = Omit<UsageLogRow, 'reservedUsd'> & { position: KeysetPosition };

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

function whereOf({ from, to, model, keyId, status }: UsageFilters, after?: KeysetPosition): SQL | undefined {
  return and(
    from ? gte(usageLogs.createdAt, from) : undefined,
    to ? lt(usageLogs.createdAt, to) : undefined,
    model !== undefined ? eq(usageLogs.model, model) : undefined,
    keyId === undefined
      ? undefined
      : keyId === 'master'
        ? isNull(usageLogs.apiKeyId)
        : eq(usageLogs.apiKeyId, keyId),
    status !== undefined ? eq(usageLogs.status, status) : undefined,
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
    })
    .from(usageLogs)
    .where(whereOf(filters, after))
    .orderBy(...NEWEST_FIRST)
    .limit(limit);
  return rows.map(({ positionAt, ...row }) => ({ ...row, position: { createdAt: positionAt, id: row.id } }));
}

// Every aggregate leaves PostgreSQL as text: both drivers then hand over the same exact value.
const AGGREGATES = sql`
  count(*)::text as requests,
  coalesce(sum(${usageLogs.promptTokens}), 0)::text as prompt_tokens,
  coalesce(sum(${usageLogs.completionTokens}), 0)::text as completion_tokens,
  coalesce(sum(${usageLogs.totalTokens}), 0)::text as total_tokens,
  coalesce(sum(${usageLogs.costTotal}), 0)::text as cost_usd,
  (count(*) filter (where ${usageLogs.pricingSource} = 'builtin'))::text as unpriced_requests`;

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

const whereClause = (filters: UsageFilters) => {
  const where = whereOf(filters);
  return where ? sql`where ${where}` : sql``;
};

/** Sums over the whole selection. */
export async function selectUsageTotals(database: Database, filters: UsageFilters): Promise<UsageAggregate> {
  const [row] = await database.rows<AggregateText>(
    sql`select ${AGGREGATES} from ${usageLogs} ${whereClause(filters)}`,
  );
  if (!row) throw new Error('an aggregate without a group returned no row');
  return fromText(row);
}

/**
 * What a group is, and the order groups come in. Time buckets are grouped as timestamps and
 * formatted once per group, not per row (3 s instead of 10 s by day over 10M rows); text groups
 * sort bytewise (collate "C"), so both backends agree whatever their default collation.
 */
const GROUPS: Record<GroupBy, { bucket: SQL; label: SQL; order: SQL }> = {
  day: timeBuckets('day'),
  hour: timeBuckets('hour'),
  model: textBuckets(sql`${usageLogs.model}`),
  key: textBuckets(sql`coalesce(${usageLogs.apiKeyId}, 'master')`),
  status: textBuckets(sql`${usageLogs.status}`),
};

function timeBuckets(unit: 'day' | 'hour') {
  return {
    // the unit is a literal (one of two constants, never input) so the expression reads the same in
    // every plan, generic or custom, and matches expression statistics on it where they exist
    bucket: sql`date_trunc(${sql.raw(`'${unit}'`)}, ${usageLogs.createdAt} at time zone 'UTC')`,
    label: sql`to_char(bucket, ${BUCKET_FORMAT})`,
    order: sql`bucket asc`,
  };
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
      from ${usageLogs} ${whereClause(filters)}
      group by 1
    ) as groups
    order by ${order}`);
  return rows.map((row) => ({ group: row.grp, ...fromText(row) }));
}
