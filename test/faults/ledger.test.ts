// The ledger under real faults: a PostgreSQL of the test's own stopped mid-load, the gateway killed
// with SIGKILL mid-load, two gateways on one database. Afterwards the rows in the database must be
// exactly the replies the clients received: none missing, none twice.
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpResponse, http } from 'msw';
import postgres from 'postgres';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureText } from '../helpers/fixtures.ts';
import { ADMIN_KEY } from '../helpers/gateway.ts';
import { type GatewayProcess, startGatewayProcess } from '../helpers/gateway-process.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';
import {
  type PostgresInstance,
  postgresBinaries,
  startPostgresInstance,
} from '../helpers/postgres-instance.ts';

const BODY = JSON.stringify({
  model: 'openai/gpt-oss-120b:groq',
  messages: [{ role: 'user', content: 'hi' }],
});
const hasPostgres = postgresBinaries() !== undefined;
if (!hasPostgres)
  console.warn('test/faults: no PostgreSQL server binaries (initdb, pg_ctl) on this machine: skipping');

/** Sends `total` chat requests, `concurrency` at a time, spread over the gateways; calls `at[n]` after n replies. */
async function load(
  urls: string[],
  total: number,
  concurrency: number,
  at: Record<number, () => unknown> = {},
) {
  const pools = urls.map((url) => new Pool(url, { connections: concurrency }));
  const answered: string[] = [];
  const failed: string[] = [];
  let next = 0;
  let done = 0;
  async function worker(w: number) {
    while (next < total) {
      next += 1;
      const pool = pools[(next + w) % pools.length] as Pool;
      try {
        const res = await pool.request({
          method: 'POST',
          path: '/v1/chat/completions',
          headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
          body: BODY,
        });
        await res.body.dump();
        if (res.statusCode === 200) answered.push(String(res.headers['x-request-id']));
        else failed.push(String(res.statusCode));
      } catch (err) {
        failed.push((err as Error).message);
      }
      done += 1;
      await at[done]?.();
    }
  }
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  await Promise.all(pools.map((p) => p.destroy()));
  return { answered, failed };
}

async function ledgerIds(url: string, expected: number): Promise<string[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    // the gateways replay their spools on their own schedule: wait for them, bounded
    for (let i = 0; i < 300; i++) {
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from usage_logs`.catch(() => [
        { n: -1 },
      ]);
      if ((row?.n ?? 0) >= expected) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return (await sql<{ request_id: string }[]>`select request_id from usage_logs`).map((r) => r.request_id);
  } finally {
    await sql.end();
  }
}

/** Rows this gateway wrote to its spool, from /metrics: proof the fault really happened. */
async function spooled(url: string): Promise<number> {
  const pool = new Pool(url);
  const res = await pool.request({ method: 'GET', path: '/metrics' });
  const text = await res.body.text();
  await pool.destroy();
  return Number(/^tollgate_usage_rows_spooled (\d+)/m.exec(text)?.[1] ?? 0);
}

function expectExactlyOnce(ledger: string[], answered: string[]) {
  expect(new Set(ledger).size).toBe(ledger.length);
  const inLedger = new Set(ledger);
  const missing = answered.filter((id) => !inLedger.has(id));
  expect(missing, 'answered requests without a row').toEqual([]);
}

describe.skipIf(!hasPostgres)('the ledger under faults', { timeout: 120_000 }, () => {
  let upstream: MockUpstream;
  let pg: PostgresInstance;
  const gateways: GatewayProcess[] = [];

  beforeAll(async () => {
    upstream = await startMockUpstream(
      http.post(
        '*/chat/completions',
        () =>
          new HttpResponse(fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json'), {
            headers: { 'content-type': 'application/json' },
          }),
      ),
    );
    pg = await startPostgresInstance();
  });
  afterAll(async () => {
    for (const gateway of gateways) await gateway.kill('SIGKILL');
    pg?.destroy();
    await upstream?.close();
  });

  async function freshDatabase(name: string) {
    const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    await admin.end();
    return pg.url.replace(/\/postgres$/, `/${name}`);
  }

  async function gateway(databaseUrl: string, dataDir = mkdtempSync(join(tmpdir(), 'tollgate-fault-'))) {
    const started = await startGatewayProcess({
      DATABASE_URL: databaseUrl,
      DATA_DIR: dataDir,
      UPSTREAM_BASE_URL: upstream.url,
    });
    gateways.push(started);
    return { ...started, dataDir };
  }

  it('meters every answered request exactly once when PostgreSQL stops mid-load and comes back', async () => {
    const url = await freshDatabase('stop_mid_load');
    const gw = await gateway(url);
    const { answered, failed } = await load([gw.url], 3000, 32, {
      600: () => pg.stop(),
      1800: () => pg.start(),
    });
    // the database being down is not the client's problem: the spool took the rows
    expect(failed).toEqual([]);
    expect(answered).toHaveLength(3000);
    expect(await spooled(gw.url)).toBeGreaterThan(0);
    const ledger = await ledgerIds(url, answered.length);
    expectExactlyOnce(ledger, answered);
    expect(ledger).toHaveLength(answered.length);
    await gw.kill('SIGTERM');
  });

  it('meters every answered request after a SIGKILL mid-load, a torn spool line and a restart', async () => {
    const url = await freshDatabase('kill_mid_load');
    const first = await gateway(url);
    // the database goes away first, so the rows of answered requests sit in the spool when the process dies
    const { answered } = await load([first.url], 1500, 16, {
      300: () => pg.stop(),
      1000: async () => {
        await first.kill('SIGKILL');
      },
    });
    expect(answered.length).toBeGreaterThanOrEqual(1000);
    // a crash mid-append leaves half a line behind
    appendFileSync(join(first.dataDir, 'usage-spool.ndjson'), '{"requestId":"req_torn","model":"openai/gp');
    pg.start();
    const second = await gateway(url, first.dataDir);
    const ledger = await ledgerIds(url, answered.length);
    expectExactlyOnce(ledger, answered);
    expect(ledger).not.toContain('req_torn');
    // requests cut by the kill may have been metered without an answer; nothing answered is missing
    expect(ledger.length - answered.length).toBeLessThanOrEqual(16);
    await second.kill('SIGTERM');
  });

  it('meters exactly once with two gateways on one PostgreSQL under concurrent load', async () => {
    const url = await freshDatabase('two_replicas');
    const a = await gateway(url);
    const b = await gateway(url);
    const { answered, failed } = await load([a.url, b.url], 2000, 32);
    expect(failed).toEqual([]);
    const ledger = await ledgerIds(url, answered.length);
    expectExactlyOnce(ledger, answered);
    expect(ledger).toHaveLength(2000);
    expect(await a.kill('SIGTERM')).toBe(0);
    expect(await b.kill('SIGTERM')).toBe(0);
  });
});
