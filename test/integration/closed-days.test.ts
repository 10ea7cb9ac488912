// Closed days (drizzle/0022) stay exact against a write in flight: the run that sums a day takes SHARE
// locks on the rollups, so it waits for a writer's transaction that already touched them and sums its
// rows once it commits. Two connections at once: PostgreSQL only (PGlite serves one connection, so the
// race cannot happen there; usage-rollup.test.ts checks the closed sums on both databases).
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { insertUsageRows } from '../../src/db/usage-insert.ts';
import { selectUsageTotals } from '../../src/db/usage-repo.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { until, usageRow } from '../helpers/ledger.ts';

describe.each(BACKENDS.filter((backend) => backend === 'postgres'))('closed days on %s', (backend) => {
  let db: TestDatabase | undefined;
  const clients: postgres.Sql[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.end()));
    await db?.drop();
    db = undefined;
  });

  it('a run waits for a write in flight to the day it sums, and its sums include that write', async () => {
    db = await createTestDatabase(backend, { migrated: true });
    const { database, url } = db;
    // two rows of 2026-11-24, a day long over
    await insertUsageRows(database, [usageRow(), usageRow()]);
    const writer = postgres(url as string, { max: 1, onnotice: () => {} });
    const closer = postgres(url as string, { max: 1, onnotice: () => {} });
    clients.push(writer, closer);

    // a replayed row of the same day, its transaction open: the rollups are written, not committed
    let wrote!: () => void;
    let commit!: () => void;
    const written = new Promise<void>((resolve) => {
      wrote = resolve;
    });
    const held = new Promise<void>((resolve) => {
      commit = resolve;
    });
    const transaction = writer.begin(async (tx) => {
      await tx`insert into usage_logs (request_id, created_at, provider, model, stream, status, http_status,
        usage_source, input_token_cost, output_token_cost, pricing_source, cost_input, cost_output,
        cost_total, latency_ms)
        values ('req_in_flight', '2026-11-24T11:00:00Z', 'huggingface', 'openai/gpt-oss-120b:groq', false,
        'ok', 200, 'upstream', 0.000001, 0.000003, 'env', 0, 0, 0.5, 12)`;
      wrote();
      await held;
    });
    await written;

    // (postgres.js sends a query when it is awaited, or now with execute())
    const run = closer<
      { n: number }[]
    >`select count(*) filter (where tollgate_close_usage_day(d))::int as n from tollgate_unclosed_usage_days() as d`.execute();
    // the run is waiting on the writer's lock, not summing past it
    await until(async () => {
      const [waiting] = await database.rows<{ n: number }>(
        sql`select count(*)::int as n from pg_stat_activity
            where wait_event_type = 'Lock' and query like 'select count(*) filter (where tollgate_close_usage_day%'`,
      );
      return waiting?.n === 1;
    });
    commit();
    await transaction;
    const [closed] = await run;
    expect(closed?.n).toBe(1);

    const [listed] = await database.rows<{ requests: string }>(
      sql`select sum(requests)::text as requests from usage_closed_totals`,
    );
    expect(listed?.requests).toBe('3');
    const day = { from: new Date('2026-11-24T00:00:00Z'), to: new Date('2026-11-25T00:00:00Z') };
    const totals = await selectUsageTotals(database, day);
    expect(totals.requests).toBe(3n);
    expect(totals.costUsd).toBe('0.500618');
  });
});
