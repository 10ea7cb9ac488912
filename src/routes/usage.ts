// GET /usage (rows, totals, cursor; CSV on request) and GET /usage/summary, for admins.
import { Hono } from 'hono';
import { stream } from 'hono/streaming';
import { z } from 'zod';
import type { AppEnv } from '../middleware/context.ts';
import type { UsageFilters, UsageReport } from '../services/usage-report.ts';
import { parseWith } from './validation.ts';

const instant = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()], { error: 'must be an ISO 8601 date or date-time' })
  .transform((value) => new Date(value));

const filters = {
  from: instant.optional(),
  to: instant.optional(),
  model: z.string().min(1).optional(),
  key_id: z.string().min(1).optional(),
  status: z.enum(['ok', 'upstream_error', 'client_aborted', 'gateway_error']).optional(),
};

export const usageQuery = z.strictObject({
  ...filters,
  limit: z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1)
    .max(1000)
    .default(100),
  cursor: z.string().min(1).optional(),
  format: z.enum(['json', 'csv']).optional(),
});

export const summaryQuery = z.strictObject({
  ...filters,
  group_by: z.enum(['day', 'hour', 'model', 'key', 'status'], {
    error: 'must be one of day, hour, model, key, status',
  }),
});

const toFilters = (q: {
  from?: Date | undefined;
  to?: Date | undefined;
  model?: string | undefined;
  key_id?: string | undefined;
  status?: UsageFilters['status'];
}): UsageFilters => ({
  from: q.from,
  to: q.to,
  model: q.model,
  keyId: q.key_id,
  status: q.status,
});

export function usageRoutes({ usageReport }: { usageReport: UsageReport }) {
  return new Hono<AppEnv>()
    .get('/', async function listUsage(c) {
      const query = parseWith(usageQuery, c.req.query(), 'query');
      const selection = toFilters(query);
      const wantsCsv =
        query.format === 'csv' ||
        (query.format === undefined && /\btext\/csv\b/.test(c.req.header('accept') ?? ''));
      if (wantsCsv) {
        c.header('content-type', 'text/csv; charset=utf-8');
        c.header('content-disposition', 'attachment; filename="usage.csv"');
        return stream(c, async (out) => {
          for await (const chunk of usageReport.csv(selection)) await out.write(chunk);
        });
      }
      const [page, totals] = await Promise.all([
        usageReport.list(selection, { limit: query.limit, cursor: query.cursor }),
        usageReport.totals(selection),
      ]);
      return c.json({ object: 'list', data: page.data, totals, next_cursor: page.next_cursor });
    })
    .get('/summary', async function usageSummary(c) {
      const query = parseWith(summaryQuery, c.req.query(), 'query');
      const selection = toFilters(query);
      const [data, totals] = await Promise.all([
        usageReport.summary(selection, query.group_by),
        usageReport.totals(selection),
      ]);
      return c.json({ object: 'list', group_by: query.group_by, data, totals });
    });
}
