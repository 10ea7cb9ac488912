// The rows of the usage CSV export, read in big keyset batches with every cell already in its final
// text: PostgreSQL formats the numbers, times and money (trim_scale is the shortest exact decimal, as
// money.ts's canonical form is), so the gateway parses no Date or decimal per cell and only escapes text.
import { type SQL, sql } from 'drizzle-orm';
import type { Database } from './client.ts';
import { correctionsOf } from './corrections-repo.ts';
import { usageLogs as u } from './schema.ts';
import type { KeysetPosition } from './usage-repo.ts';
import { logsWhere, type UsageFilters } from './usage-sources.ts';

/**
 * How a cell is written: `plain` is digits or true/false (never escaped), `text` may need RFC 4180
 * quoting or a formula guard, `json` is jsonb text to be written compactly, `instant` is
 * `YYYY-MM-DDTHH:MM:SS.ffffffZ` to be cut to milliseconds.
 */
export type ExportCellKind = 'plain' | 'text' | 'json' | 'instant';

const POSITION_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"';

const money = (value: SQL) => sql`trim_scale(${value})::text`;
const charge = sql`coalesce(${u.chargeUsd}, ${u.costTotal} * ${u.markup})`;

/** Each exported column's cell, in the report's column names (services/reports/usage-columns.ts). */
export const EXPORT_CELLS = {
  id: { kind: 'plain', value: sql`${u.id}::text` },
  request_id: { kind: 'text', value: sql`${u.requestId}` },
  // to the microsecond, UTC (the keyset position); written as toISOString writes it
  created_at: { kind: 'instant', value: sql`to_char(${u.createdAt} at time zone 'UTC', ${POSITION_FORMAT})` },
  api_key_id: { kind: 'text', value: sql`${u.apiKeyId}` },
  provider: { kind: 'text', value: sql`${u.provider}` },
  model: { kind: 'text', value: sql`${u.model}` },
  upstream_model: { kind: 'text', value: sql`${u.upstreamModel}` },
  served_by: { kind: 'text', value: sql`${u.servedBy}` },
  endpoint: { kind: 'text', value: sql`${u.endpoint}` },
  end_user: { kind: 'text', value: sql`${u.endUser}` },
  tags: { kind: 'text', value: sql`array_to_string(${u.tags}, ';')` },
  stream: { kind: 'plain', value: sql`${u.stream}::text` },
  status: { kind: 'text', value: sql`${u.status}` },
  http_status: { kind: 'plain', value: sql`${u.httpStatus}::text` },
  prompt_tokens: { kind: 'plain', value: sql`${u.promptTokens}::text` },
  completion_tokens: { kind: 'plain', value: sql`${u.completionTokens}::text` },
  total_tokens: { kind: 'plain', value: sql`${u.totalTokens}::text` },
  cached_tokens: { kind: 'plain', value: sql`${u.cachedTokens}::text` },
  reasoning_tokens: { kind: 'plain', value: sql`${u.reasoningTokens}::text` },
  usage_source: { kind: 'text', value: sql`${u.usageSource}` },
  usage_raw: { kind: 'json', value: sql`${u.usageRaw}::text` },
  pricing_id: { kind: 'plain', value: sql`${u.pricingId}::text` },
  input_token_cost: { kind: 'text', value: money(sql`${u.inputTokenCost}`) },
  cached_input_token_cost: { kind: 'text', value: money(sql`${u.cachedInputTokenCost}`) },
  output_token_cost: { kind: 'text', value: money(sql`${u.outputTokenCost}`) },
  pricing_source: { kind: 'text', value: sql`${u.pricingSource}` },
  cost_input: { kind: 'text', value: money(sql`${u.costInput}`) },
  cost_output: { kind: 'text', value: money(sql`${u.costOutput}`) },
  cost_total: { kind: 'text', value: money(sql`${u.costTotal}`) },
  latency_ms: { kind: 'plain', value: sql`${u.latencyMs}::text` },
  ttft_ms: { kind: 'plain', value: sql`${u.ttftMs}::text` },
  upstream_request_id: { kind: 'text', value: sql`${u.upstreamRequestId}` },
  error: { kind: 'text', value: sql`${u.error}` },
  account_id: { kind: 'text', value: sql`${u.accountId}` },
  markup: { kind: 'text', value: money(sql`${u.markup}`) },
  // rows from before accounts existed hold no charge: their cost × markup (1) is what they were charged
  charge_usd: { kind: 'text', value: money(charge) },
  corrections_usd: { kind: 'text', value: money(sql`delta`) },
  corrected_cost_total: { kind: 'text', value: money(sql`${u.costTotal} + delta`) },
  corrected_charge_usd: { kind: 'text', value: money(sql`${charge} + delta * ${u.markup}`) },
} as const satisfies Record<string, { kind: ExportCellKind; value: SQL }>;

export type ExportColumn = keyof typeof EXPORT_CELLS;

/** A batch of exported rows, each its cells by column name (null: an empty cell), and where it ended. */
export type ExportBatch = {
  rows: Array<Record<ExportColumn, string | null>>;
  last: KeysetPosition | undefined;
};

/**
 * Up to `limit` rows of the selection after `after`, newest first, with the cells of `columns`. The
 * page is cut first, under the table's own name so the cells read it, and each row's corrections
 * summed once: written against the table, the sum ran once per cell using it and a 5,000-row batch
 * took 130 ms in PostgreSQL.
 */
export async function selectExportBatch(
  database: Database,
  { filters, limit, after }: { filters: UsageFilters; limit: number; after?: KeysetPosition | undefined },
): Promise<ExportBatch> {
  const cells = sql.join(
    Object.entries(EXPORT_CELLS).map(([column, { value }]) => sql`${value} as ${sql.identifier(column)}`),
    sql`, `,
  );
  const rows = await database.rows<Record<ExportColumn, string | null>>(sql`
    select ${cells}
    from (
      select *, ${correctionsOf(u.requestId)} as delta from ${u}
      where ${logsWhere(filters)}
        ${after ? sql`and (${u.createdAt}, ${u.id}) < (${after.createdAt}::timestamptz, ${after.id}::bigint)` : sql``}
      order by ${u.createdAt} desc nulls last, ${u.id} desc nulls last
      limit ${limit}
    ) as ${u}
    order by ${u.createdAt} desc nulls last, ${u.id} desc nulls last`);
  const last = rows.at(-1);
  return {
    rows,
    last: last?.created_at && last.id ? { createdAt: last.created_at, id: Number(last.id) } : undefined,
  };
}
