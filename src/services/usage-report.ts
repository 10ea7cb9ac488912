// Reads the ledger for admins: filtered rows with keyset pagination, exact totals, summaries by time,
// model, key or status, and CSV. /usage, /usage/summary and the dashboard all go through here.
import { type SQL, sql } from 'drizzle-orm';
import { canonical } from '../billing/money.ts';
import type { Database } from '../db/client.ts';
import { badRequest } from '../errors.ts';

export type UsageStatus = 'ok' | 'upstream_error' | 'client_aborted' | 'gateway_error';

export type UsageFilters = {
  /** inclusive */
  from?: Date | undefined;
  /** exclusive */
  to?: Date | undefined;
  model?: string | undefined;
  /** a key id, or `master` for the admin key */
  keyId?: string | undefined;
  status?: UsageStatus | undefined;
};

export type UsageTotals = {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** USD, exact decimal string */
  cost_usd: string;
  /** rows priced with the built-in last-resort price */
  unpriced_requests: number;
};

export type UsageRow = Record<string, unknown> & { id: number; request_id: string; created_at: string };
export type GroupBy = 'day' | 'hour' | 'model' | 'key' | 'status';
export type SummaryGroup = { group: string } & Omit<UsageTotals, 'unpriced_requests'>;

export const USAGE_COLUMNS = [
  'id',
  'request_id',
  'created_at',
  'api_key_id',
  'provider',
  'model',
  'upstream_model',
  'stream',
  'status',
  'http_status',
  'prompt_tokens',
  'completion_tokens',
  'total_tokens',
  'cached_tokens',
  'reasoning_tokens',
  'usage_source',
  'usage_raw',
  'pricing_id',
  'input_token_cost',
  'output_token_cost',
  'pricing_source',
  'cost_input',
  'cost_output',
  'cost_total',
  'latency_ms',
  'ttft_ms',
  'upstream_request_id',
  'error',
] as const;

const MONEY = new Set(['input_token_cost', 'output_token_cost', 'cost_input', 'cost_output', 'cost_total']);
const INTEGER = new Set(['id', 'pricing_id']);
const CSV_BATCH = 1000;

export type UsageReport = {
  list(
    filters: UsageFilters,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<{ data: UsageRow[]; next_cursor: string | null }>;
  totals(filters: UsageFilters): Promise<UsageTotals>;
  summary(filters: UsageFilters, groupBy: GroupBy): Promise<SummaryGroup[]>;
  /** every row of the selection as CSV lines, read in keyset batches so memory stays flat */
  csv(filters: UsageFilters): AsyncGenerator<string>;
};

export function createUsageReport({ database }: { database: Database }): UsageReport {
  async function page(filters: UsageFilters, limit: number, after?: Cursor) {
    const where = conditions(filters);
    if (after) where.push(sql`(created_at, id) < (${after.createdAt}::timestamptz, ${after.id})`);
    const rows = await database.rows<Record<string, unknown>>(sql`
      select ${sql.raw(USAGE_COLUMNS.filter((c) => c !== 'created_at').join(', '))},
             created_at, created_at::text as cursor_at
      from usage_logs ${whereSql(where)}
      order by created_at desc, id desc
      limit ${limit + 1}`);
    const more = rows.length > limit;
    const data = rows.slice(0, limit);
    const last = data.at(-1);
    return {
      data: data.map(toRow),
      nextCursor: more && last ? { createdAt: String(last.cursor_at), id: Number(last.id) } : undefined,
    };
  }

  return {
    async list(filters, { limit, cursor }) {
      const { data, nextCursor } = await page(
        filters,
        limit,
        cursor === undefined ? undefined : decodeCursor(cursor),
      );
      return { data, next_cursor: nextCursor ? encodeCursor(nextCursor) : null };
    },

    async totals(filters) {
      const [row] = await database.rows<Record<string, unknown>>(sql`
        select count(*) as requests,
               coalesce(sum(prompt_tokens), 0)::bigint as prompt_tokens,
               coalesce(sum(completion_tokens), 0)::bigint as completion_tokens,
               coalesce(sum(total_tokens), 0)::bigint as total_tokens,
               coalesce(sum(cost_total), 0)::text as cost_usd,
               count(*) filter (where pricing_source = 'builtin') as unpriced_requests
        from usage_logs ${whereSql(conditions(filters))}`);
      return {
        requests: count(row?.requests),
        prompt_tokens: count(row?.prompt_tokens),
        completion_tokens: count(row?.completion_tokens),
        total_tokens: count(row?.total_tokens),
        cost_usd: canonical(String(row?.cost_usd ?? '0')),
        unpriced_requests: count(row?.unpriced_requests),
      };
    },

    async summary(filters, groupBy) {
      const { key, order } = GROUPS[groupBy];
      const rows = await database.rows<Record<string, unknown>>(sql`
        select ${key} as grp,
               count(*) as requests,
               coalesce(sum(prompt_tokens), 0)::bigint as prompt_tokens,
               coalesce(sum(completion_tokens), 0)::bigint as completion_tokens,
               coalesce(sum(total_tokens), 0)::bigint as total_tokens,
               coalesce(sum(cost_total), 0) as cost
        from usage_logs ${whereSql(conditions(filters))}
        group by 1
        order by ${order}`);
      return rows.map((row) => ({
        group: String(row.grp),
        requests: count(row.requests),
        prompt_tokens: count(row.prompt_tokens),
        completion_tokens: count(row.completion_tokens),
        total_tokens: count(row.total_tokens),
        cost_usd: canonical(String(row.cost)),
      }));
    },

    async *csv(filters) {
      yield `${USAGE_COLUMNS.join(',')}\r\n`;
      let after: Cursor | undefined;
      for (;;) {
        const { data, nextCursor } = await page(filters, CSV_BATCH, after);
        if (data.length > 0)
          yield data.map((row) => `${USAGE_COLUMNS.map((c) => csvCell(row[c])).join(',')}\r\n`).join('');
        if (!nextCursor) return;
        after = nextCursor;
      }
    },
  };
}

const ISO_UTC = 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"';

/** UTC buckets for time (ISO strings sort as time); spend first for the rest. */
const GROUPS: Record<GroupBy, { key: SQL; order: SQL }> = {
  day: { key: sql`to_char(date_trunc('day', created_at at time zone 'UTC'), ${ISO_UTC})`, order: sql`1 asc` },
  hour: {
    key: sql`to_char(date_trunc('hour', created_at at time zone 'UTC'), ${ISO_UTC})`,
    order: sql`1 asc`,
  },
  model: { key: sql`model`, order: sql`cost desc, 1 asc` },
  key: { key: sql`coalesce(api_key_id, 'master')`, order: sql`cost desc, 1 asc` },
  status: { key: sql`status`, order: sql`cost desc, 1 asc` },
};

function conditions({ from, to, model, keyId, status }: UsageFilters): SQL[] {
  const where: SQL[] = [];
  if (from) where.push(sql`created_at >= ${from.toISOString()}::timestamptz`);
  if (to) where.push(sql`created_at < ${to.toISOString()}::timestamptz`);
  if (model !== undefined) where.push(sql`model = ${model}`);
  if (keyId === 'master') where.push(sql`api_key_id is null`);
  else if (keyId !== undefined) where.push(sql`api_key_id = ${keyId}`);
  if (status !== undefined) where.push(sql`status = ${status}`);
  return where;
}

const whereSql = (where: SQL[]) => (where.length === 0 ? sql`` : sql`where ${sql.join(where, sql` and `)}`);

/** A cursor holds PostgreSQL's own text of created_at (microseconds kept), e.g. 2026-11-03 12:00:00.123456+00 */
type Cursor = { createdAt: string; id: number };
const PG_TIMESTAMPTZ = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d(:\d\d){0,2}$/;

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt, cursor.id])).toString('base64url');
}

function decodeCursor(text: string): Cursor {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as [unknown, unknown];
    if (typeof createdAt === 'string' && PG_TIMESTAMPTZ.test(createdAt) && Number.isSafeInteger(id)) {
      return { createdAt, id: id as number };
    }
  } catch {
    // falls through to the 400
  }
  throw badRequest(
    "Invalid query parameter 'cursor': not a cursor this API returned",
    'cursor',
    'invalid_parameter',
  );
}

/** A database row → the API's row: ISO dates, numbers for ids, canonical decimal strings for money. */
function toRow(raw: Record<string, unknown>): UsageRow {
  const row: Record<string, unknown> = {};
  for (const column of USAGE_COLUMNS) {
    const value = raw[column];
    if (value === null || value === undefined) row[column] = null;
    else if (column === 'created_at')
      row[column] = (value instanceof Date ? value : new Date(String(value))).toISOString();
    else if (MONEY.has(column)) row[column] = canonical(String(value));
    else if (INTEGER.has(column)) row[column] = Number(value);
    else if (column === 'usage_raw' && typeof value === 'string') row[column] = JSON.parse(value);
    else row[column] = value;
  }
  return row as UsageRow;
}

/** A count from SQL: bigint, string or number → number (token sums stay far below 2^53). */
function count(value: unknown): number {
  return value === null || value === undefined ? 0 : Number(value);
}

/** RFC 4180: quote a cell holding a comma, quote or line break; objects as JSON. */
function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
