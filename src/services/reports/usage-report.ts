// Reads the ledger for admins: filtered rows by keyset page, exact totals, pages of sums by time, model,
// key, status, endpoint, served_by, end user, tag or account (the rest as one `other` entry), and CSV. /usage,
// /usage/summary and the dashboard all answer from here; nothing here speaks HTTP.
import { addExact, exactText, negateExact } from '../../billing/charge.ts';
import {
  add,
  canonical,
  type Decimal,
  formatDecimal,
  parseDecimal,
  subtract,
  ZERO,
} from '../../billing/money.ts';
import type { Database } from '../../db/client.ts';
import { selectCorrections } from '../../db/corrections-repo.ts';
import { EXPORT_CELLS, type ExportBatch, selectExportBatch } from '../../db/usage-export.ts';
import {
  type GroupBy,
  type KeysetPosition,
  selectUsageGroups,
  selectUsagePage,
  selectUsageTotals,
  type UsageAggregate,
  type UsageFilters,
} from '../../db/usage-repo.ts';
import { badRequest } from '../../errors.ts';
import { decodeSummaryCursor, encodeSummaryCursor } from './summary-cursor.ts';
import { toRow, USAGE_COLUMNS, type UsageRow } from './usage-columns.ts';
import { csvLines } from './usage-csv.ts';

export type { GroupBy, UsageEndpoint, UsageFilters, UsageStatus } from '../../db/usage-repo.ts';
export { USAGE_COLUMNS, type UsageRow } from './usage-columns.ts';
export { csvCell } from './usage-csv.ts';

export type UsageTotals = {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** USD, exact decimal string */
  cost_usd: string;
  /** rows priced with the built-in last-resort price (pricing_source = builtin) */
  unpriced_requests: number;
  /** USD, exact decimal string: what the rows were charged (cost × markup; cost without an account), with corrections */
  charge_usd: string;
};

/**
 * One group of a summary: a UTC bucket start (`2026-11-24T00:00:00.000Z`), a model, a key id or
 * `master`, a status, an endpoint, a served_by, an end user, a tag or an account ('' for rows without one).
 */
export type SummaryGroup = { group: string } & Omit<UsageTotals, 'unpriced_requests'>;

export type UsagePage = { data: UsageRow[]; next_cursor: string | null };

/**
 * Every group of the selection that is not in `data` (before this page or after it), as one entry:
 * how many groups, and their sums. Σ data + other is the sum of every group, which is the totals
 * (for group_by=tag, a row with several tags counts under each of them, so it can be more).
 */
export type SummaryOther = { groups: number } & Omit<UsageTotals, 'unpriced_requests'>;

/** A page of groups in the group_by's order, the rest as `other`, and where the next page starts. */
export type SummaryPage = { data: SummaryGroup[]; other: SummaryOther; next_cursor: string | null };

export type SummaryPaging = { limit?: number | undefined; cursor?: string | undefined };

export const MAX_PAGE_ROWS = 1000;
/** groups per summary page unless asked otherwise */
export const DEFAULT_SUMMARY_GROUPS = 100;
/**
 * A tag on at most this many rows of the selection is read by the tags' index and sorted (tens of ms
 * at most); a commoner one is met often enough walking the ledger newest first.
 */
const SPARSE_TAG_ROWS = 10_000n;
/** rows per read of the CSV export: few round trips and big writes, a few MB held at a time */
const CSV_BATCH_ROWS = 5000;
const CSV_COLUMNS = USAGE_COLUMNS.map((name) => ({ name, kind: EXPORT_CELLS[name].kind }));

export type UsageReport = {
  /** one page, newest first (created_at desc, id desc); pass the previous page's next_cursor to go on */
  list(filters: UsageFilters, page: { limit: number; cursor?: string | undefined }): Promise<UsagePage>;
  /** sums over the whole selection */
  totals(filters: UsageFilters): Promise<UsageTotals>;
  /** one page of groups (default 100), ordered by time for day/hour, else by cost then name */
  summary(filters: UsageFilters, groupBy: GroupBy, paging?: SummaryPaging): Promise<SummaryPage>;
  /** a page of groups and the totals of the selection, from one scan (two for tags) */
  summaryWithTotals(
    filters: UsageFilters,
    groupBy: GroupBy,
    paging?: SummaryPaging,
  ): Promise<SummaryPage & { totals: UsageTotals }>;
  /**
   * Every row of the selection as RFC 4180 CSV, header first, read in keyset batches so memory stays
   * flat. The first chunk comes only after the first batch is read: a caller that awaits it before
   * answering turns a database failure into an error response rather than a truncated file.
   */
  csv(filters: UsageFilters): AsyncGenerator<string, void, undefined>;
};

export function createUsageReport({ database }: { database: Database }): UsageReport {
  async function summaryPage(filters: UsageFilters, groupBy: GroupBy, paging: SummaryPaging = {}) {
    const { limit = DEFAULT_SUMMARY_GROUPS, cursor } = paging;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_ROWS) {
      throw new RangeError(`a page holds 1 to ${MAX_PAGE_ROWS} groups, not ${limit}`);
    }
    const after = cursor === undefined ? undefined : decodeSummaryCursor(cursor, filters, groupBy);
    // one group more than asked says whether another page follows
    const { groups, all } = await selectUsageGroups(database, { filters, groupBy, limit: limit + 1, after });
    const page = groups.slice(0, limit);
    const last = page.at(-1);
    const { unpriced_requests: _, ...rest } = toTotals(minus(all, sumOf(page)));
    const other: SummaryOther = { groups: jsonInteger(all.groups - BigInt(page.length), 'groups'), ...rest };
    return {
      all,
      page: {
        data: groupsOf(page),
        other,
        next_cursor:
          groups.length > limit && last
            ? encodeSummaryCursor(filters, groupBy, { group: last.group, costUsd: last.costUsd })
            : null,
      },
    };
  }

  async function summaryWithTotals(filters: UsageFilters, groupBy: GroupBy, paging?: SummaryPaging) {
    const { all, page } = await summaryPage(filters, groupBy, paging);
    // a row with two tags is in two tag groups: the selection's totals count it once
    const totals = toTotals(groupBy === 'tag' ? await selectUsageTotals(database, filters) : all);
    return { ...page, totals };
  }

  return {
    async list(filters, { limit, cursor }) {
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_ROWS) {
        throw new RangeError(`a page holds 1 to ${MAX_PAGE_ROWS} rows, not ${limit}`);
      }
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      // a tag filter has no btree index: how many rows hold the tag (from its rollup, a millisecond)
      // decides whether to walk the ledger in order or find the few rows by the tags' index
      const tagged =
        filters.tag === undefined ? undefined : (await selectUsageTotals(database, filters)).requests;
      // one row more than asked says whether another page follows; no tagged row, no page to read
      const rows =
        tagged === 0n
          ? []
          : await selectUsagePage(database, {
              filters,
              limit: limit + 1,
              after,
              sparse: tagged !== undefined && tagged <= SPARSE_TAG_ROWS,
            });
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

    async summary(filters, groupBy, paging) {
      return (await summaryPage(filters, groupBy, paging)).page;
    },

    summaryWithTotals,

    async *csv(filters) {
      const read = (after?: KeysetPosition) => {
        const batch = selectExportBatch(database, { filters, limit: CSV_BATCH_ROWS, after });
        // read ahead, it may fail while the reader is still writing the batch before: awaited below,
        // and never an unhandled rejection meanwhile (nor after a reader that stopped early)
        batch.catch(() => {});
        return batch;
      };
      let pending: Promise<ExportBatch> | undefined = read();
      let chunk = `${USAGE_COLUMNS.join(',')}\r\n`;
      while (pending) {
        const batch: ExportBatch = await pending;
        // the next batch is read while this one is written
        pending = batch.rows.length === CSV_BATCH_ROWS ? read(batch.last) : undefined;
        chunk += csvLines(batch.rows, CSV_COLUMNS);
        yield chunk;
        chunk = '';
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

function groupsOf(groups: Array<UsageAggregate & { group: string }>): SummaryGroup[] {
  return groups.map(({ group, ...sums }) => {
    const { unpriced_requests: _, ...rest } = toTotals(sums);
    return { group, ...rest };
  });
}

function toTotals(sums: UsageAggregate): UsageTotals {
  return {
    requests: jsonInteger(sums.requests, 'requests'),
    prompt_tokens: jsonInteger(sums.promptTokens, 'prompt_tokens'),
    completion_tokens: jsonInteger(sums.completionTokens, 'completion_tokens'),
    total_tokens: jsonInteger(sums.totalTokens, 'total_tokens'),
    cost_usd: canonical(sums.costUsd),
    unpriced_requests: jsonInteger(sums.unpricedRequests, 'unpriced_requests'),
    // cost × markup may need more than money.ts's 18 places: exact at any scale
    charge_usd: exactText(sums.chargeUsd),
  };
}

/** The groups' sums added up exactly (bigint counts, 10^-18 USD). */
function sumOf(groups: UsageAggregate[]): UsageAggregate {
  let cost: Decimal = ZERO;
  let charge = '0';
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
    charge = addExact(charge, g.chargeUsd);
  }
  return { ...sums, costUsd: formatDecimal(cost), chargeUsd: charge };
}

/** What the whole selection's groups add up to beyond the page's: exact, as both sides are. */
function minus(all: UsageAggregate, part: UsageAggregate): UsageAggregate {
  return {
    requests: all.requests - part.requests,
    promptTokens: all.promptTokens - part.promptTokens,
    completionTokens: all.completionTokens - part.completionTokens,
    totalTokens: all.totalTokens - part.totalTokens,
    costUsd: formatDecimal(subtract(parseDecimal(all.costUsd), parseDecimal(part.costUsd))),
    unpricedRequests: all.unpricedRequests - part.unpricedRequests,
    chargeUsd: addExact(all.chargeUsd, negateExact(part.chargeUsd)),
  };
}

/** A count past 2^53 cannot be a JSON number exactly: better a 500 than a silently wrong figure. */
function jsonInteger(value: bigint, name: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${name} is past 2^53: ${value}`);
  return Number(value);
}
