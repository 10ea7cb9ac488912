// The CSV export's faults, on the route alone: a failing first batch, a failing later batch, a client
// that goes away mid-file.
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from '../../src/middleware/context.ts';
import { renderError } from '../../src/middleware/error-handler.ts';
import { usageRoutes } from '../../src/routes/usage.ts';
import type { UsageReport } from '../../src/services/reports/usage-report.ts';

type ErrorReply = { error: { type: string } };

describe('CSV streaming when the database fails or the client leaves', () => {
  /** the usage routes over a report whose CSV is the given generator */
  function appWith(csv: () => AsyncGenerator<string, void, undefined>) {
    const unused = () => Promise.reject(new Error('not used'));
    const report: UsageReport = {
      list: unused,
      totals: unused,
      summary: unused,
      summaryWithTotals: unused,
      csv,
    };
    const app = new Hono<AppEnv>().route('/usage', usageRoutes({ usageReport: report }));
    app.onError((err, c) => renderError(err, c));
    return app;
  }

  it('answers a JSON error, not a CSV, when the first batch fails', async () => {
    const res = await appWith(async function* () {
      yield* [];
      throw new Error('database down');
    }).request('/usage?format=csv');
    expect(res.status).toBe(500);
    expect(((await res.json()) as ErrorReply).error.type).toBe('api_error');
  });

  it('breaks the transfer, rather than ending a short file cleanly, when a later batch fails', async () => {
    const res = await appWith(async function* () {
      yield 'id\r\n1\r\n';
      throw new Error('database down');
    }).request('/usage?format=csv');
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow('database down');
  });

  it('stops reading the database when the client goes away', async () => {
    let batches = 0;
    let stopped = false;
    const res = await appWith(async function* () {
      try {
        for (;;) {
          batches += 1;
          yield `batch ${batches}\r\n`;
        }
      } finally {
        stopped = true;
      }
    }).request('/usage?format=csv');
    const reader = res.body?.getReader();
    await reader?.read();
    await reader?.cancel();
    expect(stopped).toBe(true);
    expect(batches).toBeLessThan(5);
  });
});
