// The SQL of the usage report: one keyset page of usage_logs, and totals and groups over the hourly
// sums usage-sources.ts picks (a rollup plus the partial hours at the range's edges). Each query is
// shaped to an index, so a page or a month's summary stays fast at ten million rows.
import { and, getTableColumns, type SQL, sql } from 'drizzle-orm';
import type { Database } from './client.ts';
import { correctionsOf } from './corrections-repo.ts';
import { type UsageLogRow, usageLogs } from './schema.ts';
import { type GroupBy, hourlySums, logsWhere, type UsageFilters } from './usage-sources.ts';

export type { GroupBy, UsageEndpoint, UsageFilters, UsageStatus } from './usage-sources.ts';

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
  /** USD: what the rows were charged (cost × markup) with their corrections × markup, numeric text */
  chargeUsd: string;
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

function whereOf(filters: UsageFilters, after?: KeysetPosition): SQL | undefined {
  return and(
    logsWhere(filters),
    // a row comparison is one index condition on (created_at, id): the page starts inside the index
    after
      ? sql`(${usageLogs.createdAt}, ${usageLogs.id}) < (${after.createdAt}::timestamptz, ${after.id}::bigint)`
      : undefined,
  );
}

/**
 * Read by the tags' GIN index, then sorted: NULLS FIRST keeps the planner off the created_at index's
 * order (see NEWEST_FIRST), and the columns are NOT NULL, so the order is the same.
 */
const NEWEST_FIRST_SORTED = [
  sql`${usageLogs.createdAt} desc nulls first`,
  sql`${usageLogs.id} desc nulls first`,
];

/**
 * Up to `limit` rows of the selection after `after`, newest first. `sparse`: the selection holds few
 * rows of the range (a rare tag), so they are found by their index and sorted, rather than by walking
 * the created_at index past every other row (at 1 M rows, a tag on no row took 700 ms that way, 0.3 ms
 * by the tags' index; a tag on 5,000 rows 26 ms by its index, 11 ms in order).
 */
export async function selectUsagePage(
  database: Database,
  {
    filters,
    limit,
    after,
    sparse = false,
  }: { filters: UsageFilters; limit: number; after?: KeysetPosition | undefined; sparse?: boolean },
): Promise<UsagePageRow[]> {
  const rows = await database.db
    .select({
      ...reportColumns,
      positionAt: sql<string>`to_char(${usageLogs.createdAt} at time zone 'UTC', ${POSITION_FORMAT})`,
      correctedBy: sql<string>`(${correctionsOf(usageLogs.requestId)})::text`,
    })
    .from(usageLogs)
    .where(whereOf(filters, after))
    .orderBy(...(sparse ? NEWEST_FIRST_SORTED : NEWEST_FIRST))
    .limit(limit);
  return rows.map(({ positionAt, ...row }) => ({ ...row, position: { createdAt: positionAt, id: row.id } }));
}

// Every aggregate leaves PostgreSQL as text: both drivers then hand over the same exact value.
const AGGREGATES = sql`
  coalesce(sum(requests), 0)::text as requests,
  coalesce(sum(prompt_tokens), 0)::text as prompt_tokens,
  coalesce(sum(completion_tokens), 0)::text as completion_tokens,
  coalesce(sum(total_tokens), 0)::text as total_tokens,
  coalesce(sum(cost_usd), 0)::text as cost_usd,
  coalesce(sum(unpriced_requests), 0)::text as unpriced_requests,
  coalesce(sum(charge_usd), 0)::text as charge_usd`;

type AggregateText = {
  requests: string;
  prompt_tokens: string;
  completion_tokens: string;
  total_tokens: string;
  cost_usd: string;
  unpriced_requests: string;
  charge_usd: string;
};

const fromText = (row: AggregateText): UsageAggregate => ({
  requests: BigInt(row.requests),
  promptTokens: BigInt(row.prompt_tokens),
  completionTokens: BigInt(row.completion_tokens),
  totalTokens: BigInt(row.total_tokens),
  costUsd: row.cost_usd,
  unpricedRequests: BigInt(row.unpriced_requests),
  chargeUsd: row.charge_usd,
});

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
const GROUPS: Record<
  GroupBy,
  { bucket: SQL; label: SQL; order: SQL; after: (position: GroupPosition) => SQL }
> = {
  day: timeBuckets(sql`date_trunc('day', hour_utc)`),
  hour: timeBuckets(sql`hour_utc`),
  model: textBuckets(sql`model`),
  key: textBuckets(sql`coalesce(api_key_id, 'master')`),
  status: textBuckets(sql`status`),
  endpoint: textBuckets(sql`endpoint`),
  served_by: textBuckets(sql`served_by`),
  user: textBuckets(sql`end_user`),
  tag: textBuckets(sql`tag`),
  account: textBuckets(sql`account_id`),
};

function timeBuckets(bucket: SQL) {
  return {
    bucket,
    label: sql`to_char(bucket, ${BUCKET_FORMAT})`,
    order: sql`bucket asc`,
    after: ({ group }: GroupPosition) => sql`bucket > (${group}::timestamptz at time zone 'UTC')`,
  };
}

// A spend-ordered page goes on after (cost, name): a cheaper group, or as dear and later by name.
// Grouped bytewise too: the same groups as the database's collation (a deterministic one), and when
// the planner sorts to group (10 k end users at 10 M rows), a sort by bytes, not by locale: 10 → 5 ms.
function textBuckets(text: SQL) {
  const bucket = sql`${text} collate "C"`;
  return {
    bucket,
    label: sql`bucket`,
    order: sql`cost_usd desc, bucket collate "C" asc`,
    after: ({ group, costUsd }: GroupPosition) =>
      sql`(cost_usd < ${costUsd}::numeric or (cost_usd = ${costUsd}::numeric and bucket collate "C" > ${group} collate "C"))`,
  };
}

// The groups' sums stay numeric inside the query (ordered and compared as numbers), text when they leave.
const SUMS = sql`
  sum(requests) as requests, sum(prompt_tokens) as prompt_tokens,
  sum(completion_tokens) as completion_tokens, sum(total_tokens) as total_tokens,
  sum(cost_usd) as cost_usd, sum(unpriced_requests) as unpriced_requests, sum(charge_usd) as charge_usd`;
const AS_TEXT = sql`requests::text as requests, prompt_tokens::text as prompt_tokens,
  completion_tokens::text as completion_tokens, total_tokens::text as total_tokens,
  cost_usd::text as cost_usd, unpriced_requests::text as unpriced_requests, charge_usd::text as charge_usd`;

/** Where a page of groups starts: strictly after this group in the group_by's order. */
export type GroupPosition = {
  /** the group's label as served (a time bucket's ISO start, else the text) */
  group: string;
  /** the group's cost, numeric text; unused for time buckets */
  costUsd: string;
};

/** A page of groups, and the sums and count of every group of the selection (the page's too). */
export type UsageGroupPage = {
  groups: UsageGroupAggregate[];
  all: UsageAggregate & { groups: bigint };
};

/**
 * Up to `limit` groups of the selection after `after`, in the group_by's order (time ascending, else
 * spend first, ties bytewise), and the sums over every group, from one scan: PostgreSQL groups, orders
 * and cuts the page; only the page's rows and one line of sums leave the database.
 */
export async function selectUsageGroups(
  database: Database,
  {
    filters,
    groupBy,
    limit,
    after,
  }: { filters: UsageFilters; groupBy: GroupBy; limit: number; after?: GroupPosition | undefined },
): Promise<UsageGroupPage> {
  const { bucket, label, order, after: afterOf } = GROUPS[groupBy];
  const rows = await database.rows<AggregateText & { part: number; grp: string | null; groups: string }>(sql`
    with groups as (
      select ${bucket} as bucket, ${SUMS}
      from (${hourlySums(filters, groupBy)}) as sums
      group by 1
      having sum(requests) <> 0
    ), page as (
      select *, row_number() over (order by ${order}) as rank
      from (select * from groups ${after ? sql`where ${afterOf(after)}` : sql``} order by ${order} limit ${limit}) as cut
    )
    select 0 as part, rank, ${label} as grp, '1' as groups, ${AS_TEXT} from page
    union all
    select 1 as part, 0 as rank, null as grp, count(*)::text as groups, ${AGGREGATES} from groups
    order by part, rank`);
  const groups: UsageGroupAggregate[] = [];
  let all: UsageGroupPage['all'] | undefined;
  for (const row of rows) {
    if (row.part === 1) all = { ...fromText(row), groups: BigInt(row.groups) };
    else groups.push({ group: row.grp ?? '', ...fromText(row) });
  }
  if (!all) throw new Error('the groups query returned no line of sums');
  return { groups, all };
}
