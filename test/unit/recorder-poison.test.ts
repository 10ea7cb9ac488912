// A row the database refuses for what it holds (here a real SQLSTATE 54000: a ~3 KB model name over the
// btree maximum of the (model, created_at) index) never wedges the ledger: live, its request alone is
// refused and the rest of its batch commits; in the spool, the rows around it replay and it moves to the
// dead-letter file, also after a restart. /readyz says not ready exactly while the spool cannot drain.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inArray } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { admitRequest, spendOf } from '../../src/db/limits-repo.ts';
import { migrate } from '../../src/db/migrate.ts';
import { type UsageLogInsert, usageLogs } from '../../src/db/schema.ts';
import { insertUsageRows, UnstorableRowError } from '../../src/db/usage-insert.ts';
import { createGateway } from '../../src/gateway.ts';
import { isRowError } from '../../src/ledger/commit.ts';
import { createRecorder, type DeadLetter, RowRefusedError } from '../../src/ledger/recorder.ts';
import { createSpool } from '../../src/ledger/spool.ts';
import { createLogger } from '../../src/logger.ts';
import { healthRoutes } from '../../src/routes/health.ts';
import { budgetPeriod } from '../../src/services/admission/limits.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { poisonRow, rows, spoolFile, spools, switchboard, until, usageRow } from '../helpers/ledger.ts';

const files = spools();
afterEach(() => files.closeAll());

const deadLetters = async (spoolPath: string) =>
  (await createSpool<DeadLetter>({ path: spoolPath.replace('.ndjson', '.rejected.ndjson') }).readAll()).rows;

describe('which refusals are the row’s fault', () => {
  it.each([
    ['54000', 'program_limit_exceeded: an index entry over the btree maximum'],
    ['54001', 'statement_too_complex'],
    ['22003', 'numeric_value_out_of_range'],
    ['22P05', 'untranslatable_character'],
    ['23505', 'unique_violation'],
    ['23502', 'not_null_violation'],
    ['21000', 'cardinality_violation'],
  ])('%s (%s) is the row’s: bisected out, never an outage', (code) => {
    expect(isRowError(Object.assign(new Error(code), { code }))).toBe(true);
  });

  it.each([
    ['08006', 'connection_failure'],
    ['53300', 'too_many_connections'],
    ['57P01', 'admin_shutdown'],
    ['57014', 'query_canceled (a statement timeout)'],
    ['58030', 'io_error'],
    ['40001', 'serialization_failure'],
    ['42P01', 'undefined_table'],
    ['ECONNREFUSED', 'no server'],
  ])('%s (%s) is the database’s state: the rows wait in the spool', (code) => {
    expect(isRowError(Object.assign(new Error(code), { code }))).toBe(false);
  });

  it('a row that cannot even be written as parameters (a date that is no date) is the row’s', () => {
    expect(isRowError(new UnstorableRowError('Invalid time value'))).toBe(true);
    expect(isRowError(new Error('the database did not answer within 3000 ms'))).toBe(false);
  });
});

describe.each(BACKENDS)('a poison row on %s', (backend) => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase(backend);
    await migrate(test.database);
  });
  afterAll(() => test?.drop());

  const ledger = async (list: UsageLogInsert[]) =>
    (
      await test.database.db
        .select({ requestId: usageLogs.requestId })
        .from(usageLogs)
        .where(
          inArray(
            usageLogs.requestId,
            list.map((r) => r.requestId),
          ),
        )
        .orderBy(usageLogs.id)
    ).map((r) => r.requestId);
  const ids = (list: UsageLogInsert[]) => list.map((r) => r.requestId);

  it('is refused by the database itself with SQLSTATE 54000 (index row size exceeds btree maximum)', async () => {
    await expect(insertUsageRows(test.database, [poisonRow()])).rejects.toMatchObject({
      code: '54000',
      message: expect.stringMatching(/index row/),
    });
  });

  it('live: only its request is refused, the rest of its batch commits, and the recorder keeps writing', async () => {
    const { database, state } = switchboard(test.database);
    const recorder = createRecorder({ database, spool: files.at() });
    const [a, bad, b] = [usageRow(), poisonRow(), usageRow()];
    const first = recorder.record(usageRow()); // holds the writer: the next three share one INSERT
    const results = await Promise.allSettled([a, bad, b].map((r) => recorder.record(r)));
    await first;
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(RowRefusedError);
    expect(await ledger([a, bad, b])).toEqual(ids([a, b]));
    expect(recorder.stats()).toMatchObject({ degraded: false, spooled: 0, refused: 1 });
    // the next row goes straight to the database: nothing is held behind the poison one
    const after = usageRow();
    const statements = state.statements.length;
    await recorder.record(after);
    expect(state.statements.length).toBe(statements + 1);
    expect(await ledger([after])).toEqual(ids([after]));
    await recorder.close();
  });

  it('spooled: the rows around it replay, it moves to usage-spool.rejected.ndjson, the recorder writes again', async () => {
    const { database, state } = switchboard(test.database);
    const path = spoolFile();
    const recorder = createRecorder({ database, spool: files.at(path), retryDelaysMs: [20] });
    state.down = true;
    const [before, bad, after] = [rows(3), poisonRow(), rows(3)];
    for (const row of [...before, bad, ...after]) await recorder.record(row);
    expect(recorder.stats()).toMatchObject({ degraded: true, spoolDepth: 7 });

    state.down = false;
    await until(() => !recorder.stats().degraded);
    expect(await ledger([...before, bad, ...after])).toEqual(ids([...before, ...after]));
    expect(await deadLetters(path)).toEqual([
      expect.objectContaining({ code: '54000', row: expect.objectContaining({ requestId: bad.requestId }) }),
    ]);
    expect(recorder.stats()).toMatchObject({ spoolDepth: 0, refused: 1 });
    expect(await files.at(path).size()).toBe(0);
    await recorder.close();
  });

  it('across a restart: the next process replays the others and moves the poison row (and a line whose date is no date) aside', async () => {
    const { database, state } = switchboard(test.database);
    const path = spoolFile();
    const first = createRecorder({ database, spool: files.at(path), retryDelaysMs: [20] });
    state.down = true;
    const [before, bad, after] = [rows(2), poisonRow(), rows(2)];
    for (const row of [...before, bad]) await first.record(row);
    await first.close();
    // a line a hand (or a bug) left with a date that is no date: the row is there, its time is not
    const undated = usageRow();
    writeFileSync(path, `${JSON.stringify({ ...undated, createdAt: 'yesterday' })}\n`, { flag: 'a' });
    await files.at(path).append(after);

    state.down = false;
    const next = createRecorder({ database, spool: files.at(path), retryDelaysMs: [20] });
    await next.start();
    expect(next.stats()).toMatchObject({ degraded: false, spoolDepth: 0, refused: 2 });
    expect(await ledger([...before, bad, undated, ...after])).toEqual(ids([...before, ...after]));
    expect((await deadLetters(path)).map((d) => [d.row.requestId, d.code])).toEqual([
      [bad.requestId, '54000'],
      [undated.requestId, ''],
    ]);
    expect(await files.at(path).size()).toBe(0);
    await next.close();
  });

  it('/readyz is not ready while the spool cannot drain (the database answers pings), and ready once it drains', async () => {
    const { database, state } = switchboard(test.database);
    const recorder = createRecorder({ database, spool: files.at(), retryDelaysMs: [20] });
    const health = healthRoutes({ database, recorder });
    const readyz = async () => {
      const res = await health.request('/readyz');
      return { status: res.status, body: await res.json() };
    };
    expect(await readyz()).toEqual({
      status: 200,
      body: { status: 'ready', database: 'up', ledger: 'writing', spool_depth: 0 },
    });

    // every INSERT is cancelled (a lock held elsewhere hits statement_timeout) while pings pass
    state.failAll = '57014';
    const row = usageRow();
    await recorder.record(row);
    await new Promise((r) => setTimeout(r, 100)); // several replays have failed meanwhile
    expect(await readyz()).toEqual({
      status: 503,
      body: { status: 'unavailable', database: 'up', ledger: 'spooling', spool_depth: 1 },
    });

    state.failAll = undefined;
    await until(() => !recorder.stats().degraded);
    expect(await readyz()).toMatchObject({ status: 200, body: { status: 'ready', spool_depth: 0 } });
    expect(await ledger([row])).toEqual(ids([row]));
    await recorder.close();
  });

  it('a gateway replaying a dead-lettered row gives its budget reservation back (a replayed row settles its own)', async () => {
    const keyId = `key_${randomUUID()}`;
    const at = new Date('2026-11-24T10:00:00.000Z');
    const period = budgetPeriod(at);
    // two answered requests reserved budget; their rows waited in the spool when the process stopped
    const good = usageRow({ apiKeyId: keyId, createdAt: at, reservedUsd: '0.5' });
    const bad = { ...poisonRow(), apiKeyId: keyId, createdAt: at, reservedUsd: '0.25' };
    // a reservation's id is its request's id
    await admitRequest(test.database, {
      id: good.requestId,
      keyId,
      period,
      amount: '0.5',
      floor: '0',
      trackKey: true,
      budget: '10',
      account: null,
      rate: null,
    });
    await admitRequest(test.database, {
      id: bad.requestId,
      keyId,
      period,
      amount: '0.25',
      floor: '0',
      trackKey: true,
      budget: '10',
      account: null,
      rate: null,
    });
    const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-poison-'));
    await files.at(join(dataDir, 'usage-spool.ndjson')).append([bad, good]);

    const config = loadConfig({
      DATA_DIR: dataDir,
      ADMIN_API_KEY: 'tg-admin-test-key-0123456789',
      HF_TOKEN: 'hf_test_token',
      UPSTREAM_BASE_URL: 'http://127.0.0.1:9/v1',
      LOG_LEVEL: 'silent',
    });
    const gateway = await createGateway(config, {
      database: test.database,
      logger: createLogger({ level: 'silent' }),
    });
    try {
      expect(await ledger([bad, good])).toEqual(ids([good]));
      expect(await spendOf(test.database, keyId, period)).toEqual({
        spent: '0.000309',
        reserved: expect.stringMatching(/^0(\.0+)?$/), // numeric keeps its scale: 0.75 - 0.5 - 0.25 = 0.00
      });
    } finally {
      await gateway.close();
    }
  });
});
