// GET /usage (a page of rows with the totals of the whole selection; CSV on request) and GET /usage/summary,
// for admins. Query strings are strict: a typo or a repeated parameter is a 400, never a silently wider report.
import { Hono } from 'hono';
import { z } from 'zod';
import type { EndpointAdapter } from '../endpoints/adapter.ts';
import { ENDPOINTS, endpointNames } from '../endpoints/registry.ts';
import { badRequest } from '../errors.ts';
import type { AppEnv } from '../middleware/context.ts';
import { MAX_SUMMARY_CURSOR_CHARS } from '../services/reports/summary-cursor.ts';
import {
  decodeCursor,
  MAX_PAGE_ROWS,
  type UsageFilters,
  type UsageReport,
} from '../services/reports/usage-report.ts';
import { csvResponse } from './csv-stream.ts';
import { parseWith } from './validation.ts';

const INSTANT =
  'must be an ISO 8601 date (2026-11-01, midnight UTC) or date-time with offset (2026-11-01T08:00:00Z)';
const LIMIT = `must be a whole number from 1 to ${MAX_PAGE_ROWS}`;
const STATUSES = ['ok', 'upstream_error', 'client_aborted', 'gateway_error'] as const;
// end_user is the column's own name: accepted for user, in group_by and as a filter
export const GROUPS = [
  'day',
  'hour',
  'model',
  'key',
  'status',
  'user',
  'end_user',
  'tag',
  'endpoint',
  'served_by',
  'account',
] as const;
const TAG = /^[A-Za-z0-9._:-]{1,64}$/;
/** an account id as the admin API makes them (acct_ and base64url) */
const ACCOUNT_ID = /^acct_[A-Za-z0-9_-]{1,64}$/;

const instant = z
  .string()
  // an unencoded + in a query string arrives as a space; `…T08:00:00 02:00` can only have meant +02:00
  .transform((text) => text.replace(/(T[\d:.]+) (\d\d:\d\d)$/, '$1+$2'))
  .pipe(z.union([z.iso.datetime({ offset: true }), z.iso.date()], { error: INSTANT }))
  .transform((text) => new Date(text))
  // an offset can move 0001-01-01 into year 0, which PostgreSQL refuses: a 400 here, not a 500 there
  .refine((date) => date.getUTCFullYear() >= 1 && date.getUTCFullYear() <= 9999, { error: INSTANT });

// PostgreSQL text cannot hold NUL: refused here as a 400, not by the database as a 500
const text = (max: number) =>
  z
    .string()
    .min(1, { error: 'must not be empty' })
    .max(max, { error: `is too long (at most ${max} characters)` })
    .refine((value) => !value.includes('\u0000'), { error: 'must not contain a NUL character' });
const nonEmpty = text(512);

const filterFields = (endpoints: [string, ...string[]]) => ({
  from: instant.optional().describe('inclusive: an ISO 8601 date (midnight UTC) or date-time with offset'),
  to: instant.optional().describe('exclusive: an ISO 8601 date (midnight UTC) or date-time with offset'),
  model: nonEmpty.optional().describe('the model as requested'),
  key_id: nonEmpty.optional().describe('a key id, or `master` for the admin key'),
  status: z.enum(STATUSES, { error: `must be one of ${STATUSES.join(', ')}` }).optional(),
  endpoint: z.enum(endpoints, { error: `must be one of ${endpoints.join(', ')}` }).optional(),
  served_by: nonEmpty.optional().describe('the serving provider (x-inference-provider), e.g. groq'),
  user: text(256).optional().describe('the end user (the OpenAI `user` field or x-tollgate-user)'),
  end_user: text(256).optional().describe('the same as `user` (the column’s name); give one of the two'),
  tag: z
    .string()
    .regex(TAG, { error: 'must be 1 to 64 characters of A-Z a-z 0-9 . _ : -' })
    .optional()
    .describe('rows whose tags contain it'),
  account_id: z
    .string()
    .regex(ACCOUNT_ID, { error: 'must be an account id (acct_ then up to 64 of A-Z a-z 0-9 _ -)' })
    .optional()
    .describe('rows of this account’s keys (the account the key had when the row was written)'),
});

type Range = {
  from?: Date | undefined;
  to?: Date | undefined;
  user?: string | undefined;
  end_user?: string | undefined;
};

function fromBeforeTo({ from, to, user, end_user }: Range, ctx: z.RefinementCtx) {
  if (from && to && from.getTime() >= to.getTime()) {
    ctx.addIssue({ code: 'custom', path: ['to'], message: "must be later than 'from'" });
  }
  if (user !== undefined && end_user !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['end_user'], message: "is the same filter as 'user': give one" });
  }
}

const limit = (unit: string) =>
  z
    .string()
    .regex(/^\d{1,9}$/, { error: LIMIT })
    .transform(Number)
    .pipe(z.number().min(1, { error: LIMIT }).max(MAX_PAGE_ROWS, { error: LIMIT }))
    .default(100)
    .describe(`${unit} per page, 1 to ${MAX_PAGE_ROWS}; default 100`);

/** The query schemas of /usage and /usage/summary, the endpoint filter naming the registered endpoints. */
export function usageQueries(adapters: readonly EndpointAdapter[]) {
  const filters = filterFields(endpointNames(adapters));
  const usageQuery = z
    .strictObject({
      ...filters,
      limit: limit('rows'),
      cursor: z
        .string()
        .max(200, { error: 'is too long' })
        .optional()
        .describe('next_cursor of the previous page'),
      format: z
        .enum(['json', 'csv'], { error: 'must be json or csv' })
        .optional()
        .describe('csv streams every row of the selection (as does Accept: text/csv)'),
    })
    .superRefine(fromBeforeTo);

  const summaryQuery = z
    .strictObject({
      ...filters,
      group_by: z.enum(GROUPS, {
        error: (issue) =>
          issue.input === undefined
            ? `is required: one of ${GROUPS.join(', ')}`
            : `must be one of ${GROUPS.join(', ')}`,
      }),
      limit: limit('groups'),
      cursor: z
        .string()
        .max(MAX_SUMMARY_CURSOR_CHARS, { error: 'is too long' })
        .optional()
        .describe('next_cursor of the previous page (for the same group_by and filters)'),
    })
    .superRefine(fromBeforeTo);
  return { usageQuery, summaryQuery };
}

type UsageQueries = ReturnType<typeof usageQueries>;

/**
 * The query string as one value per name, refusing names the route does not know and names given
 * twice: zod sees only the first value of a repeated name, and `?limt=5` must not mean "everything".
 */
function strictQuery(raw: Record<string, string[]>, known: z.ZodObject): Record<string, string> {
  const names = Object.keys(known.shape);
  const query: Record<string, string> = {};
  for (const [param, values] of Object.entries(raw)) {
    if (!names.includes(param)) {
      throw badRequest(
        `Invalid query parameter '${param}': not a parameter of this route (one of ${names.join(', ')})`,
        param,
        'unknown_parameter',
      );
    }
    if (values.length !== 1) {
      throw badRequest(
        `Invalid query parameter '${param}': given more than once`,
        param,
        'invalid_parameter',
      );
    }
    query[param] = values[0] ?? '';
  }
  return query;
}

const toFilters = (
  q: z.output<UsageQueries['usageQuery']> | z.output<UsageQueries['summaryQuery']>,
): UsageFilters => ({
  from: q.from,
  to: q.to,
  model: q.model,
  keyId: q.key_id,
  status: q.status,
  endpoint: q.endpoint,
  servedBy: q.served_by,
  user: q.user ?? q.end_user,
  tag: q.tag,
  accountId: q.account_id,
});

/** `format` decides when given; else CSV when the Accept header rates text/csv above application/json. */
function wantsCsv(format: 'json' | 'csv' | undefined, accept: string | undefined): boolean {
  if (format) return format === 'csv';
  const quality = (type: string) => {
    let best = 0;
    for (const range of (accept ?? '').split(',')) {
      const [media = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
      if (media !== type) continue;
      const q = params.find((p) => p.startsWith('q='));
      best = Math.max(best, q ? Number(q.slice(2)) || 0 : 1);
    }
    return best;
  };
  return quality('text/csv') > quality('application/json');
}

export function usageRoutes({
  usageReport,
  endpoints = ENDPOINTS,
}: {
  usageReport: UsageReport;
  /** the metered endpoints: the `endpoint` filter accepts their names */
  endpoints?: readonly EndpointAdapter[];
}) {
  const { usageQuery, summaryQuery } = usageQueries(endpoints);
  return new Hono<AppEnv>()
    .get('/', async function listUsage(c) {
      const raw = strictQuery(c.req.queries(), usageQuery);
      const query = parseWith(usageQuery, raw, 'query');
      const selection = toFilters(query);

      if (wantsCsv(query.format, c.req.header('accept'))) {
        for (const param of ['limit', 'cursor'] as const) {
          if (raw[param] !== undefined) {
            throw badRequest(
              `Invalid query parameter '${param}': CSV is not paged; it holds every row of the selection`,
              param,
              'invalid_parameter',
            );
          }
        }
        return csvResponse(c, { chunks: usageReport.csv(selection), filename: 'usage.csv' });
      }

      // a bad cursor is a 400 before any scan starts
      if (query.cursor !== undefined) decodeCursor(query.cursor);
      const [page, totals] = await Promise.all([
        usageReport.list(selection, { limit: query.limit, cursor: query.cursor }),
        usageReport.totals(selection),
      ]);
      return c.json({ object: 'list', data: page.data, totals, next_cursor: page.next_cursor });
    })
    .get('/summary', async function usageSummary(c) {
      const query = parseWith(summaryQuery, strictQuery(c.req.queries(), summaryQuery), 'query');
      const groupBy = query.group_by === 'end_user' ? 'user' : query.group_by;
      const { data, other, totals, next_cursor } = await usageReport.summaryWithTotals(
        toFilters(query),
        groupBy,
        { limit: query.limit, cursor: query.cursor },
      );
      // group_by answers as asked (end_user stays end_user); `other` holds every group not in data
      return c.json({ object: 'list', group_by: query.group_by, data, other, totals, next_cursor });
    });
}
