// Reads the ledger for admins: filtered rows by keyset page, exact totals, sums by time, model, key or
// status, and CSV. /usage, /usage/summary and the dashboard all answer from here; nothing here speaks HTTP.
import { add, canonical, type Decimal, formatDecimal, parseDecimal, ZERO } from '../billing/money.ts';
import type { Database } from '../db/client.ts';
import { type CorrectionView, selectCorrections } from '../db/corrections-repo.ts';
import {
  type GroupBy,
  type KeysetPosition,
  selectUsageGroups,
  selectUsagePage,
  selectUsageTotals,
  type UsageAggregate,
  type UsageFilters,
  type UsagePageRow,
} from '../db/usage-repo.ts';
import { badRequest } from '../errors.ts';

export type { GroupBy, UsageFilters, UsageStatus } from '../db/usage-repo.ts';

/** The usage_logs columns a report row carries, in table order: JSON keys and the CSV header. */
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

/** After the row's own columns (issue 15): its corrections' sum and its cost with them, USD. */
export const CORRECTION_COLUMNS = ['corrections_usd', 'corrected_cost_total'] as const;

/** One usage_logs row under its column names; money as canonical decimal strings (USD, USD per token). */
export type UsageRow = {
  id: number;
  request_id: string;
  /** ISO 8601, UTC */
  created_at: string;
  /** null for the admin key */
  api_key_id: string | null;
  provider: string;
  model: string;
  upstream_model: string | null;
  stream: boolean;
  status: string;
  http_status: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cached_tokens: number;
  reasoning_tokens: number;
  usage_source: string;
  /** the upstream's usage object as it came */
  usage_raw: unknown;
  pricing_id: number | null;
  input_token_cost: string;
  output_token_cost: string;
  pricing_source: string;
  cost_input: string;
  cost_output: string;
  cost_total: string;
  latency_ms: number;
  ttft_ms: number | null;
  upstream_request_id: string | null;
  error: string | null;
  /** USD: the sum of the deltas of the row's corrections ('0' when none) */
  corrections_usd: string;
  /** USD: cost_total + corrections_usd, what the request is billed */
  corrected_cost_total: string;
  /** the correction entries themselves, oldest first (JSON only) */
  corrections?: CorrectionView[];
};

export type UsageTotals = {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** USD, exact decimal string */
  cost_usd: string;
  /** rows priced by a guess: the env fallback for a non-default model or the built-in price (env | builtin) */
  unpriced_requests: number;
};

/** One group of a summary: a UTC bucket start (`2026-11-24T00:00:00.000Z`), a model, a key id or `master`, a status. */
export type SummaryGroup = { group: string } & Omit<UsageTotals, 'unpriced_requests'>;

export type UsagePage = { data: UsageRow[]; next_cursor: string | null };

export const MAX_PAGE_ROWS = 1000;
const CSV_BATCH_ROWS = 1000;

export type UsageReport = {
  /** one page, newest first (created_at desc, id desc); pass the previous page's next_cursor to go on */
  list(filters: UsageFilters, page: { limit: number; cursor?: string | undefined }): Promise<UsagePage>;
  /** sums over the whole selection */
  totals(filters: UsageFilters): Promise<UsageTotals>;
  summary(filters: UsageFilters, groupBy: GroupBy): Promise<SummaryGroup[]>;
  /** the groups and the totals of the selection, from one scan */
  summaryWithTotals(
    filters: UsageFilters,
    groupBy: GroupBy,
  ): Promise<{ data: SummaryGroup[]; totals: UsageTotals }>;
  /**
   * Every row of the selection as RFC 4180 CSV, header first, read in keyset batches so memory stays
   * flat. The first chunk comes only after the first batch is read: a caller that awaits it before
   * answering turns a database failure into an error response rather than a truncated file.
   */
  csv(filters: UsageFilters): AsyncGenerator<string, void, undefined>;
};

export function createUsageReport({ database }: { database: Database }): UsageReport {
  async function summaryWithTotals(filters: UsageFilters, groupBy: GroupBy) {
    const groups = await selectUsageGroups(database, { filters, groupBy });
    return {
      data: groups.map(({ group, ...sums }) => {
        const { unpriced_requests: _, ...rest } = toTotals(sums);
        return { group, ...rest };
      }),
      totals: toTotals(sumOf(groups)),
    };
  }

  return {
    async list(filters, { limit, cursor }) {
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_ROWS) {
        throw new RangeError(`a page holds 1 to ${MAX_PAGE_ROWS} rows, not ${limit}`);
      }
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      // one row more than asked says whether another page follows
      const rows = await selectUsagePage(database, { filters, limit: limit + 1, after });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      const corrections = await selectCorrections(
        database,
        page.filter((row) => canonical(row.correctedBy) !== '0').map((row) => row.requestId),
      );
      return {
        data: page.map((row) => ({ ...toRow(row), corrections: corrections.get(row.requestId) ?? [] })),
        next_cursor: rows.length > limit && last ? encodeCursor(last.position) : null,
      };
    },

    async totals(filters) {
      return toTotals(await selectUsageTotals(database, filters));
    },

    async summary(filters, groupBy) {
      return (await summaryWithTotals(filters, groupBy)).data;
    },

    summaryWithTotals,

    async *csv(filters) {
      let chunk = `${[...USAGE_COLUMNS, ...CORRECTION_COLUMNS].join(',')}\r\n`;
      let after: KeysetPosition | undefined;
      for (;;) {
        const rows = await selectUsagePage(database, { filters, limit: CSV_BATCH_ROWS, after });
        for (const row of rows) chunk += csvLine(toRow(row));
        yield chunk;
        chunk = '';
        const last = rows.at(-1);
        if (rows.length < CSV_BATCH_ROWS || !last) return;
        after = last.position;
      }
    },
  };
}

/** A cursor is the base64url of `<created_at to the microsecond, UTC>,<id>` of the last row served. */
const CURSOR = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z),([1-9]\d{0,15})$/;

export function encodeCursor(position: KeysetPosition): string {
  return Buffer.from(`${position.createdAt},${position.id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): KeysetPosition {
  const match = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  const [, createdAt = '', digits = ''] = match ?? [];
  const id = Number(digits);
  const instant = new Date(createdAt);
  const position = { createdAt, id };
  // Node decodes base64 leniently; only the exact text this API wrote is a cursor, and only a real instant
  if (
    match &&
    Number.isSafeInteger(id) &&
    !Number.isNaN(instant.getTime()) &&
    instant.toISOString().slice(0, 23) === createdAt.slice(0, 23) &&
    encodeCursor(position) === cursor
  ) {
    return position;
  }
  throw badRequest(
    "Invalid query parameter 'cursor': not a cursor this API returned (pass next_cursor as it came)",
    'cursor',
    'invalid_parameter',
  );
}

function toRow(row: UsagePageRow): UsageRow {
  return {
    id: row.id,
    request_id: row.requestId,
    created_at: row.createdAt.toISOString(),
    api_key_id: row.apiKeyId,
    provider: row.provider,
    model: row.model,
    upstream_model: row.upstreamModel,
    stream: row.stream,
    status: row.status,
    http_status: row.httpStatus,
    prompt_tokens: row.promptTokens,
    completion_tokens: row.completionTokens,
    total_tokens: row.totalTokens,
    cached_tokens: row.cachedTokens,
    reasoning_tokens: row.reasoningTokens,
    usage_source: row.usageSource,
    usage_raw: row.usageRaw ?? null,
    pricing_id: row.pricingId,
    // PostgreSQL may answer "0.000309000"; the API answers "0.000309"
    input_token_cost: canonical(row.inputTokenCost),
    output_token_cost: canonical(row.outputTokenCost),
    pricing_source: row.pricingSource,
    cost_input: canonical(row.costInput),
    cost_output: canonical(row.costOutput),
    cost_total: canonical(row.costTotal),
    latency_ms: row.latencyMs,
    ttft_ms: row.ttftMs,
    upstream_request_id: row.upstreamRequestId,
    error: row.error,
    corrections_usd: canonical(row.correctedBy),
    corrected_cost_total: formatDecimal(add(parseDecimal(row.costTotal), parseDecimal(row.correctedBy))),
  };
}

function toTotals(sums: UsageAggregate): UsageTotals {
  return {
    requests: jsonInteger(sums.requests, 'requests'),
    prompt_tokens: jsonInteger(sums.promptTokens, 'prompt_tokens'),
    completion_tokens: jsonInteger(sums.completionTokens, 'completion_tokens'),
    total_tokens: jsonInteger(sums.totalTokens, 'total_tokens'),
    cost_usd: canonical(sums.costUsd),
    unpriced_requests: jsonInteger(sums.unpricedRequests, 'unpriced_requests'),
  };
}

/** The groups' sums added up exactly (bigint counts, 10^-18 USD), so a summary needs no second scan. */
function sumOf(groups: UsageAggregate[]): UsageAggregate {
  let cost: Decimal = ZERO;
  const sums = {
    requests: 0n,
    promptTokens: 0n,
    completionTokens: 0n,
    totalTokens: 0n,
    unpricedRequests: 0n,
  };
  for (const g of groups) {
    sums.requests += g.requests;
    sums.promptTokens += g.promptTokens;
    sums.completionTokens += g.completionTokens;
    sums.totalTokens += g.totalTokens;
    sums.unpricedRequests += g.unpricedRequests;
    cost = add(cost, parseDecimal(g.costUsd));
  }
  return { ...sums, costUsd: formatDecimal(cost) };
}

/** A count past 2^53 cannot be a JSON number exactly: better a 500 than a silently wrong figure. */
function jsonInteger(value: bigint, name: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${name} is past 2^53: ${value}`);
  return Number(value);
}

function csvLine(row: UsageRow): string {
  const cells = [...USAGE_COLUMNS, ...CORRECTION_COLUMNS].map((column) =>
    // usage_raw is JSON text even when it holds a bare string or number; null stays an empty cell
    csvCell(column === 'usage_raw' && row.usage_raw !== null ? JSON.stringify(row.usage_raw) : row[column]),
  );
  return `${cells.join(',')}\r\n`;
}

/**
 * RFC 4180: a cell holding a comma, quote or line break is quoted, its quotes doubled. Text that a
 * spreadsheet would run as a formula (=, +, -, @, tab or CR first: model names and errors come from
 * clients and upstreams) gets a leading apostrophe, as OWASP advises; numbers are left as they are.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
