// Building blocks for the recorder's tests: a database behind switches, usage rows, spools in a
// temporary folder, and rows the database refuses for what they hold.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import type { Database } from '../../src/db/client.ts';
import type { UsageLogInsert } from '../../src/db/schema.ts';
import { createSpool, type Spool } from '../../src/ledger/spool.ts';

/** The database behind switches: refuse everything, hang, or hold statements until released. */
export function switchboard(database: Database) {
  const state = {
    down: false,
    hang: false,
    /** while set, statements wait for it (pings pass) */
    hold: undefined as Promise<void> | undefined,
    /** the next statement fails with this SQLSTATE, as PostgreSQL would report it */
    failOnce: undefined as string | undefined,
    /** while set, every statement fails with this SQLSTATE (pings pass) */
    failAll: undefined as string | undefined,
    /** rows per INSERT statement that reached the database */
    statements: [] as number[],
  };
  const refused = () =>
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  const wrapped: Database = {
    ...database,
    async execute(text, params) {
      if (state.hang) return new Promise<void>(() => {});
      if (state.down) throw refused();
      const code = state.failOnce ?? state.failAll;
      state.failOnce = undefined;
      if (code) throw Object.assign(new Error(`failed with SQLSTATE ${code}`), { code });
      // rows in the statement: elements of its first parameter, the request_id array ({"req_…",…})
      state.statements.push(String(params[0]).split(',').length);
      await state.hold;
      return database.execute(text, params);
    },
    async ping() {
      if (state.hang) return new Promise<void>(() => {});
      if (state.down) throw refused();
      return database.ping();
    },
  };
  return { database: wrapped, state };
}

export const usageRow = (overrides: Partial<UsageLogInsert> = {}): UsageLogInsert => ({
  requestId: `req_${randomUUID().replaceAll('-', '')}`,
  createdAt: new Date('2026-11-24T10:00:00.000Z'),
  apiKeyId: null,
  provider: 'huggingface',
  model: 'openai/gpt-oss-120b:groq',
  stream: false,
  status: 'ok',
  httpStatus: 200,
  promptTokens: 81,
  completionTokens: 76,
  totalTokens: 157,
  usageSource: 'upstream',
  usageRaw: { prompt_tokens: 81, completion_tokens: 76, total_tokens: 157 },
  inputTokenCost: '0.000001',
  outputTokenCost: '0.000003',
  pricingSource: 'env',
  costInput: '0.000081',
  costOutput: '0.000228',
  costTotal: '0.000309',
  latencyMs: 12,
  ...overrides,
});

export const rows = (n: number) => Array.from({ length: n }, () => usageRow());

/**
 * A row PostgreSQL refuses whatever its state: a ~3 KB model name of random characters (incompressible)
 * overflows the btree entry of the (model, created_at) index: SQLSTATE 54000, program_limit_exceeded.
 */
export const poisonRow = () => usageRow({ model: `model-${randomBytes(2400).toString('base64')}` });

export const spoolFile = (dir = mkdtempSync(join(tmpdir(), 'tollgate-recorder-'))) =>
  join(dir, 'usage-spool.ndjson');

/** Opens spools of usage rows; `closeAll()` closes those it opened (after each test). */
export function spools() {
  const opened: Spool<UsageLogInsert>[] = [];
  return {
    at(path = spoolFile()) {
      const spool = createSpool<UsageLogInsert>({
        path,
        revive: (v) => ({
          ...(v as UsageLogInsert),
          createdAt: new Date((v as { createdAt: string }).createdAt),
        }),
      });
      opened.push(spool);
      return spool;
    },
    async closeAll() {
      await Promise.all(opened.splice(0).map((spool) => spool.close()));
    },
  };
}

/** Waits (bounded, 5 s) until `check` holds, then asserts it. */
export const until = async (check: () => boolean | Promise<boolean>) => {
  for (let i = 0; i < 1000 && !(await check()); i++) await new Promise((r) => setTimeout(r, 5));
  expect(await check()).toBe(true);
};

/** A correction of a row's cost by `delta` USD, appended as POST /admin/reprice appends one. */
export async function appendCorrection(database: Database, requestId: string, delta: string): Promise<void> {
  await database.rows(sql`insert into usage_corrections (request_id, actor, reprice_id, old_pricing_source,
    old_input_token_cost, old_output_token_cost, old_cost_input, old_cost_output, old_cost_total, new_pricing_source,
    new_input_token_cost, new_cached_input_token_cost, new_output_token_cost, new_cost_input, new_cost_output,
    new_cost_total, delta_usd)
    values (${requestId}, 'test', 'rp_1', 'env', 0, 0, 0, 0, 0, 'env', 0, 0, 0, 0, 0, 0, ${delta}::numeric)`);
}
