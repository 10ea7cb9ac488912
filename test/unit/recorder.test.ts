// The recorder against a real database (PGlite, and PostgreSQL with TEST_DATABASE_URL) behind a
// switchboard that can refuse, hang or hold each statement: real ON CONFLICT and real data errors.
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inArray } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.ts';
import { type UsageLogInsert, usageLogs } from '../../src/db/schema.ts';
import { createRecorder, type DeadLetter, RowRefusedError } from '../../src/ledger/recorder.ts';
import { createSpool, type Spool } from '../../src/ledger/spool.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { poisonRow, rows, spoolFile, spools, switchboard, until, usageRow } from '../helpers/ledger.ts';

const files = spools();
const spoolAt = files.at;
afterEach(() => files.closeAll());

describe.each(BACKENDS)('the recorder on %s', (backend) => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase(backend);
    await migrate(test.database);
  });
  afterAll(() => test?.drop());

  /** request_ids of these rows in the ledger, in insertion order, with repeats */
  const ledger = async (ids: string[]) =>
    (
      await test.database.db
        .select({ requestId: usageLogs.requestId })
        .from(usageLogs)
        .where(inArray(usageLogs.requestId, ids))
        .orderBy(usageLogs.id)
    ).map((r) => r.requestId);
  const idsOf = (list: UsageLogInsert[]) => list.map((r) => r.requestId);

  it('writes a lone row at once, in one statement, without waiting for company', async () => {
    const { database, state } = switchboard(test.database);
    const recorder = createRecorder({ database, spool: spoolAt() });
    const row = usageRow();
    const recorded = recorder.record(row);
    expect(state.statements).toEqual([]);
    // the INSERT leaves after one turn of the event loop: no timer gathers rows
    await new Promise(setImmediate);
    expect(state.statements).toEqual([1]);
    await recorded;
    expect(await ledger([row.requestId])).toEqual([row.requestId]);
    expect(recorder.stats()).toMatchObject({ committed: 1, spooled: 0, degraded: false });
  });

  it('groups rows that arrive while an INSERT is in flight into one multi-row INSERT', async () => {
    const { database, state } = switchboard(test.database);
    const recorder = createRecorder({ database, spool: spoolAt() });
    const batch = rows(100);
    await Promise.all(batch.map((r) => recorder.record(r)));
    // rows recorded in the same turn of the event loop go together
    expect(state.statements).toEqual([100]);
    // and rows that arrive while an INSERT is in flight go together in the next one
    const more = rows(30);
    const first = recorder.record(more[0] as (typeof more)[number]);
    await new Promise(setImmediate);
    await Promise.all([first, ...more.slice(1).map((r) => recorder.record(r))]);
    expect(state.statements).toEqual([100, 1, 29]);
    expect(await ledger(idsOf([...batch, ...more]))).toEqual(idsOf([...batch, ...more]));
    // what /metrics reports as the batch size: rows committed over the statements that carried them
    expect(recorder.stats()).toMatchObject({ committed: 130, inserts: 3 });
  });

  it('spools rows while the database is down, resolves every record, and replays them in order', async () => {
    const { database, state } = switchboard(test.database);
    const spool = spoolAt();
    const recorder = createRecorder({ database, spool, retryDelaysMs: [20] });
    state.down = true;
    const batch = rows(5);
    for (const row of batch) await recorder.record(row);
    expect(await ledger(idsOf(batch))).toEqual([]);
    expect(recorder.stats()).toMatchObject({ degraded: true, spooled: 5, spoolDepth: 5 });
    expect(idsOf((await spool.readAll()).rows)).toEqual(idsOf(batch));

    state.down = false;
    await until(() => !recorder.stats().degraded);
    expect(await ledger(idsOf(batch))).toEqual(idsOf(batch));
    expect(recorder.stats()).toMatchObject({ spoolDepth: 0, committed: 5 });
    expect(await spool.size()).toBe(0);
    // back to writing directly
    const after = usageRow();
    await recorder.record(after);
    expect(await ledger([after.requestId])).toEqual([after.requestId]);
    expect(recorder.stats().spooled).toBe(5);
    await recorder.close();
  });

  it('keeps answering from the spool while a replay runs, and commits those rows after the older ones', async () => {
    const { database, state } = switchboard(test.database);
    const spool = spoolAt();
    const recorder = createRecorder({ database, spool, retryDelaysMs: [20] });
    state.down = true;
    const before = rows(5);
    for (const row of before) await recorder.record(row);

    let release = () => {};
    state.hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    state.down = false;
    await until(() => state.statements.length > 0); // the replay's INSERT is now held
    const during = rows(3);
    // these resolve while the replay is stuck: they go to the spool behind the rows it is replaying
    await Promise.all(during.map((r) => recorder.record(r)));
    expect(recorder.stats()).toMatchObject({ degraded: true, spooled: 8 });

    release();
    state.hold = undefined;
    await until(() => !recorder.stats().degraded);
    expect(await ledger([...idsOf(before), ...idsOf(during)])).toEqual([...idsOf(before), ...idsOf(during)]);
    expect(recorder.stats().spoolDepth).toBe(0);
    await recorder.close();
  });

  it('commits rows appended while the replay waits for its turn before it empties the spool', async () => {
    const { database, state } = switchboard(test.database);
    const inner = spoolAt();
    let holdAppend: Promise<void> | undefined;
    let releaseAppend = () => {};
    let readsAtEnd = 0;
    const spool: Spool<UsageLogInsert> = {
      ...inner,
      async append(list) {
        await holdAppend;
        return inner.append(list);
      },
      async read(from, options) {
        const chunk = await inner.read(from, options);
        if (!options?.final && chunk.next === from) readsAtEnd += 1;
        return chunk;
      },
    };
    const recorder = createRecorder({ database, spool, retryDelaysMs: [20] });
    state.down = true;
    const first = usageRow();
    await recorder.record(first);

    holdAppend = new Promise<void>((resolve) => {
      releaseAppend = resolve;
    });
    const late = usageRow();
    const lateRecorded = recorder.record(late); // its append is held: the writer is busy
    state.down = false;
    // the replay has committed what it found and asked for the writer's turn to finish
    await until(() => readsAtEnd > 0);
    releaseAppend();
    await lateRecorded;
    await until(() => !recorder.stats().degraded);
    expect(await ledger([first.requestId, late.requestId])).toEqual([first.requestId, late.requestId]);
    expect(await inner.size()).toBe(0);
    await recorder.close();
  });

  it('treats a database that hangs as down, so a request is not held hostage', async () => {
    const { database, state } = switchboard(test.database);
    const recorder = createRecorder({ database, spool: spoolAt(), insertTimeoutMs: 50, retryDelaysMs: [20] });
    state.hang = true;
    const row = usageRow();
    await recorder.record(row);
    expect(recorder.stats()).toMatchObject({ degraded: true, spoolDepth: 1 });
    state.hang = false;
    await until(async () => (await ledger([row.requestId])).length === 1);
    await until(() => !recorder.stats().degraded);
    await recorder.close();
  });

  it('never counts a row twice when a crash came between the replay INSERT and the truncate', async () => {
    const { database, state } = switchboard(test.database);
    const path = spoolFile();
    const batch = rows(4);
    // its own replay must not run meanwhile (it would empty the spool this test needs full)
    const first = createRecorder({ database, spool: spoolAt(path), retryDelaysMs: [60_000] });
    state.down = true;
    await Promise.all(batch.map((r) => first.record(r)));
    state.down = false;
    // the previous process committed the replay, then died before it could empty the spool
    const crashing: Spool<UsageLogInsert> = {
      ...spoolAt(path),
      clear: () => Promise.reject(new Error('killed')),
    };
    await createRecorder({ database, spool: crashing }).start();
    expect(await ledger(idsOf(batch))).toEqual(idsOf(batch));
    expect((await spoolAt(path).readAll()).rows).toHaveLength(4);

    const next = createRecorder({ database, spool: spoolAt(path) });
    await next.start();
    expect(await ledger(idsOf(batch))).toEqual(idsOf(batch));
    expect(next.stats()).toMatchObject({ degraded: false, spoolDepth: 0 });
  });

  it('replays a spool left behind with a torn last line, skipping only that line', async () => {
    const { database } = switchboard(test.database);
    const path = spoolFile();
    const whole = rows(2);
    writeFileSync(path, `${whole.map((r) => JSON.stringify(r)).join('\n')}\n`);
    appendFileSync(path, JSON.stringify(usageRow()).slice(0, 40)); // the crash, mid-write
    const recorder = createRecorder({ database, spool: spoolAt(path) });
    await recorder.start();
    expect(await ledger(idsOf(whole))).toEqual(idsOf(whole));
    expect(recorder.stats()).toMatchObject({ degraded: false, spoolDepth: 0 });
    expect(await spoolAt(path).size()).toBe(0);
  });

  it('starts spooling when the database is down at start, and replays the old spool when it returns', async () => {
    const { database, state } = switchboard(test.database);
    const path = spoolFile();
    const old = rows(3);
    await spoolAt(path).append(old);
    state.down = true;
    const recorder = createRecorder({ database, spool: spoolAt(path), retryDelaysMs: [20] });
    await recorder.start();
    expect(recorder.stats()).toMatchObject({ degraded: true, spoolDepth: 3 });
    const fresh = usageRow();
    await recorder.record(fresh);
    expect(recorder.stats().spoolDepth).toBe(4);
    state.down = false;
    await until(() => !recorder.stats().degraded);
    expect(await ledger([...idsOf(old), fresh.requestId])).toEqual([...idsOf(old), fresh.requestId]);
    await recorder.close();
  });

  it('rejects when neither the database nor the disk takes the row', async () => {
    const { database, state } = switchboard(test.database);
    const blocker = spoolFile();
    writeFileSync(blocker, '');
    // the spool's folder would have to be inside a file: every append fails
    const recorder = createRecorder({ database, spool: spoolAt(join(blocker, 'sub', 'spool.ndjson')) });
    state.down = true;
    await expect(recorder.record(usageRow())).rejects.toThrow();
    expect(recorder.stats()).toMatchObject({ spooled: 0, committed: 0 });
  });

  it('commits the row itself when the spool fails but the database is back', async () => {
    const { database, state } = switchboard(test.database);
    const blocker = spoolFile();
    writeFileSync(blocker, '');
    const recorder = createRecorder({ database, spool: spoolAt(join(blocker, 'sub', 'spool.ndjson')) });
    state.down = true;
    await expect(recorder.record(usageRow())).rejects.toThrow();
    state.down = false;
    const row = usageRow();
    await recorder.record(row);
    expect(await ledger([row.requestId])).toEqual([row.requestId]);
  });

  it('refuses a row the database cannot store, and commits the rows around it', async () => {
    const { database } = switchboard(test.database);
    const recorder = createRecorder({ database, spool: spoolAt() });
    const [a, b] = [usageRow(), usageRow()];
    const bad = poisonRow();
    const first = recorder.record(usageRow()); // holds the writer, so the next three share one INSERT
    const results = await Promise.allSettled([a, bad, b].map((r) => recorder.record(r)));
    await first;
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(RowRefusedError);
    expect(await ledger([a.requestId, bad.requestId, b.requestId])).toEqual([a.requestId, b.requestId]);
    // a bad row is not an outage
    expect(recorder.stats()).toMatchObject({ degraded: false, spooled: 0, refused: 1 });
    await recorder.close();
  });

  it('moves a spooled row the database refuses to the dead-letter file, and replays the rest', async () => {
    const { database } = switchboard(test.database);
    const path = spoolFile();
    const [a, b] = [usageRow(), usageRow()];
    const bad = poisonRow();
    await spoolAt(path).append([a, bad, b]);
    const recorder = createRecorder({ database, spool: spoolAt(path) });
    await recorder.start();
    expect(await ledger([a.requestId, bad.requestId, b.requestId])).toEqual([a.requestId, b.requestId]);
    expect(recorder.stats()).toMatchObject({ degraded: false, spoolDepth: 0, refused: 1 });
    const dead = await createSpool<DeadLetter>({
      path: path.replace('.ndjson', '.rejected.ndjson'),
    }).readAll();
    expect(dead.rows).toEqual([
      expect.objectContaining({ code: '54000', row: expect.objectContaining({ requestId: bad.requestId }) }),
    ]);
    await recorder.close();
  });

  it('tries a statement that lost a deadlock again at once instead of spooling', async () => {
    const { database, state } = switchboard(test.database);
    const recorder = createRecorder({ database, spool: spoolAt() });
    state.failOnce = '40P01';
    const row = usageRow();
    await recorder.record(row);
    expect(await ledger([row.requestId])).toEqual([row.requestId]);
    expect(recorder.stats()).toMatchObject({ degraded: false, spooled: 0, committed: 1 });
  });

  it('flushes what is queued on close', async () => {
    const { database } = switchboard(test.database);
    const recorder = createRecorder({ database, spool: spoolAt() });
    const batch = rows(10);
    const pending = batch.map((r) => recorder.record(r));
    await recorder.close();
    await Promise.all(pending);
    expect(await ledger(idsOf(batch))).toEqual(idsOf(batch));
  });

  it('leaves rows in the spool on close while the database is down, for the next start', async () => {
    const { database, state } = switchboard(test.database);
    const path = spoolFile();
    const recorder = createRecorder({ database, spool: spoolAt(path), retryDelaysMs: [20] });
    state.down = true;
    const batch = rows(3);
    await Promise.all(batch.map((r) => recorder.record(r)));
    await recorder.close();
    // a row that arrives after close still becomes durable
    const late = usageRow();
    await recorder.record(late);
    expect(idsOf((await spoolAt(path).readAll()).rows)).toEqual([...idsOf(batch), late.requestId]);

    state.down = false;
    await createRecorder({ database, spool: spoolAt(path) }).start();
    expect(await ledger([...idsOf(batch), late.requestId])).toEqual([...idsOf(batch), late.requestId]);
  });
});
