// A CSV download over a real connection when the database fails mid-export: /usage?format=csv and the
// dashboard's download share one streamer, and both must end in a failed transfer (the connection cut
// before the chunked encoding's last chunk), never in the clean end of a short file.
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppEnv } from '../../src/middleware/context.ts';
import { renderError } from '../../src/middleware/error-handler.ts';
import { dashboardRoutes } from '../../src/routes/dashboard.ts';
import { usageRoutes } from '../../src/routes/usage.ts';
import { createDashboardSessions, SESSION_COOKIE } from '../../src/services/admin/dashboard-sessions.ts';
import type { UsageReport } from '../../src/services/reports/usage-report.ts';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';

/** The raw bytes of one HTTP/1.1 GET until the server closes or cuts the connection. */
function rawGet(port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ text: string; cut: boolean }>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let cut = false;
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
    });
    socket.on('error', () => {
      cut = true;
    });
    socket.on('close', () => resolve({ text, cut }));
    const lines = Object.entries({ host: 'localhost', connection: 'close', ...headers }).map(
      ([name, value]) => `${name}: ${value}\r\n`,
    );
    socket.write(`GET ${path} HTTP/1.1\r\n${lines.join('')}\r\n`);
  });
}

describe('a CSV download when the database fails mid-export', () => {
  let upstream: MockUpstream;
  let gw: TestGateway;
  let server: ReturnType<typeof serve>;
  let port: number;
  let cookie: string;

  beforeAll(async () => {
    upstream = await startMockUpstream();
    gw = await startTestGateway({ backend: 'pglite', upstreamUrl: upstream.url });
    // the ledger answers the first batch, then the database goes away
    const failing: UsageReport = {
      ...gw.deps.usageReport,
      async *csv() {
        yield 'id,request_id\r\n1,req_1\r\n';
        throw new Error('database connection lost');
      },
    };
    const app = new Hono<AppEnv>()
      .route('/usage', usageRoutes({ usageReport: failing }))
      .route('/dashboard', dashboardRoutes({ ...gw.deps, usageReport: failing }));
    app.onError((err, c) => renderError(err, c));
    const started = new Promise<AddressInfo>((resolve) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, resolve);
    });
    port = (await started).port;
    const sessions = createDashboardSessions({ database: gw.deps.database, adminApiKey: ADMIN_KEY });
    cookie = `${SESSION_COOKIE}=${await sessions.open()}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await gw?.close();
    await upstream?.close();
  });

  it.each([
    ['/usage?format=csv', { authorization: `Bearer ${ADMIN_KEY}` }],
    ['/dashboard/usage.csv', {}],
  ])('cuts the connection of %s instead of ending a short file cleanly', async (path, headers) => {
    const { text } = await rawGet(port, path, { ...headers, cookie });
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    expect(text).toMatch(/^transfer-encoding: chunked\r$/im);
    // the zero-length chunk that ends a chunked body never comes: the download is broken, not short
    expect(text).not.toMatch(/\r\n0\r\n\r\n$/);
  });

  it.each(['/usage?format=csv', '/dashboard/usage.csv'])('makes fetch() fail on %s', async (path) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}`, cookie },
    });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });
});
