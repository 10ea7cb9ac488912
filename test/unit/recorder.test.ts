import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.ts';
import type { UsageLogInsert } from '../../src/db/schema.ts';
import { createRecorder } from '../../src/ledger/recorder.ts';
import { createSpool } from '../../src/ledger/spool.ts';

/** A database stand-in: a table keyed by request_id (ON CONFLICT DO NOTHING), and a switch to break it. */
function fakeDatabase() {
  const table = new Map<string, Array<string | null>>();
  const state = { down: false, hang: false, statements: 0, rowsPerStatement: [] as number[] };
  const database = {
    async execute(text: string, params: Array<string | null>) {
      state.statements += 1;
      // one "(…)" tuple per row: rows = separators + 1
      const rows = (text.match(/\),\(/g)?.length ?? 0) + 1;
      const columns = params.length / rows;
      state.rowsPerStatement.push(rows);
      if (state.hang) await new Promise(() => {});
      await new Promise((r) => setTimeout(r, 5));
      if (state.down) throw new Error('connect ECONNREFUSED');
      for (let i = 0; i < params.length; i += columns) {
        const requestId = params[i] as string; // request_id is the first column
        if (!table.has(requestId)) table.set(requestId, params.slice(i, i + columns));
      }
    },
    async ping() {
      if (state.down || state.hang) throw new Error('connect ECONNREFUSED');
    },
  } as unknown as Database;
  return { database, table, state };
}

let n = 0;
const usageRow = (): UsageLogInsert => ({
  requestId: `req_${++n}`,
  createdAt: new Date('2026-11-24T10:00:00.000Z'),
  provider: 'huggingface',
  model: 'm',
  stream: false,
  status: 'ok',
  httpStatus: 200,
  usageSource: 'upstream',
  inputTokenCost: '0.000001',
  outputTokenCost: '0.000003',
  pricingSource: 'env',
  costInput: '0.000081',
  costOutput: '0.000228',
  costTotal: '0.000309',
  latencyMs: 12,
});

const spoolAt = (dir = mkdtempSync(join(tmpdir(), 'tollgate-spool-'))) =>
  createSpool<UsageLogInsert>({
    path: join(dir, 'usage-spool.ndjson'),
    revive: (v) => ({
      ...(v as UsageLogInsert),
      createdAt: new Date((v as { createdAt: string }).createdAt),
    }),
  });

const until = async (check: () => boolean) => {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
};

describe('the recorder', () => {
  it('writes a lone row at once, in one statement', async () => {
    const { database, table, state } = fakeDatabase();
    const recorder = createRecorder({ database, spool: spoolAt() });
    const row = usageRow();
    await recorder.record(row);
    expect(table.get(row.requestId)?.[0]).toBe(row.requestId);
    expect(state.statements).toBe(1);
  });

  it('groups rows that arrive while an INSERT is in flight into one multi-row INSERT', async () => {
    const { database, table, state } = fakeDatabase();
    const recorder = createRecorder({ database, spool: spoolAt() });
    await Promise.all(Array.from({ length: 100 }, () => recorder.record(usageRow())));
    expect(table.size).toBe(100);
    // the first row goes alone, the 99 that queued behind it go together
    expect(state.rowsPerStatement).toEqual([1, 99]);
  });

  it('spools rows while the database is down, resolves anyway, and replays them in order when it is back', async () => {
    const { database, table, state } = fakeDatabase();
    const spool = spoolAt();
    const recorder = createRecorder({ database, spool, retryDelaysMs: [20] });
    state.down = true;
    const rows = Array.from({ length: 5 }, usageRow);
    for (const row of rows) await recorder.record(row);
    expect(table.size).toBe(0);
    expect(recorder.stats()).toMatchObject({ degraded: true, spooled: 5, spoolDepth: 5 });
    expect((await spool.readAll()).rows.map((r) => r.requestId)).toEqual(rows.map((r) => r.requestId));

    state.down = false;
    await until(() => !recorder.stats().degraded);
    expect([...table.keys()]).toEqual(rows.map((r) => r.requestId));
    expect(recorder.stats().spoolDepth).toBe(0);
    expect((await spool.readAll()).rows).toEqual([]);
    await recorder.close();
  });

  it('treats a database that hangs as down, so requests are not held hostage', async () => {
    const { database, table, state } = fakeDatabase();
    const recorder = createRecorder({ database, spool: spoolAt(), insertTimeoutMs: 50, retryDelaysMs: [20] });
    state.hang = true;
    await recorder.record(usageRow());
    expect(recorder.stats()).toMatchObject({ degraded: true, spoolDepth: 1 });
    state.hang = false;
    await until(() => table.size === 1);
    await recorder.close();
  });

  it('never counts a row twice when a replay meets rows the database already has', async () => {
    const { database, table } = fakeDatabase();
    const spool = spoolAt();
    const row = usageRow();
    table.set(row.requestId, [row.requestId]); // committed, but the crash came before the spool was cleared
    await spool.append([row, usageRow()]);
    const recorder = createRecorder({ database, spool });
    await recorder.start();
    expect(table.size).toBe(2);
    expect(recorder.stats().degraded).toBe(false);
  });

  it('replays a spool left behind with a torn last line, skipping only that line', async () => {
    const { database, table } = fakeDatabase();
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-spool-'));
    const rows = [usageRow(), usageRow()];
    writeFileSync(join(dir, 'usage-spool.ndjson'), `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
    appendFileSync(join(dir, 'usage-spool.ndjson'), JSON.stringify(usageRow()).slice(0, 40)); // the crash, mid-write
    const recorder = createRecorder({ database, spool: spoolAt(dir) });
    await recorder.start();
    expect([...table.keys()]).toEqual(rows.map((r) => r.requestId));
    expect(readFileSync(join(dir, 'usage-spool.ndjson'), 'utf8')).toBe('');
  });

  it('keeps appending whole lines after a torn one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-spool-'));
    writeFileSync(join(dir, 'usage-spool.ndjson'), '{"requestId":"req_torn","crea');
    const spool = spoolAt(dir);
    const row = usageRow();
    await spool.append([row]);
    const { rows, torn } = await spool.readAll();
    expect(torn).toBe(1);
    expect(rows.map((r) => r.requestId)).toEqual([row.requestId]);
  });

  it('rejects when neither the database nor the disk takes the row', async () => {
    const { database, state } = fakeDatabase();
    const blocker = join(mkdtempSync(join(tmpdir(), 'tollgate-spool-')), 'a-file');
    writeFileSync(blocker, '');
    // the spool's folder would have to be inside a file: every append fails
    const recorder = createRecorder({ database, spool: spoolAt(join(blocker, 'sub')) });
    state.down = true;
    await expect(recorder.record(usageRow())).rejects.toThrow();
  });

  it('flushes what is queued on close', async () => {
    const { database, table } = fakeDatabase();
    const recorder = createRecorder({ database, spool: spoolAt() });
    const pending = Array.from({ length: 10 }, () => recorder.record(usageRow()));
    await recorder.close();
    await Promise.all(pending);
    expect(table.size).toBe(10);
  });
});
