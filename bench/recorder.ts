// The recorder's throughput into PostgreSQL: rows/s at 1, 16 and 64 concurrent writers through the
// group-committing recorder, against one INSERT per row at the same concurrency, in the same run.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { type UsageLogInsert, usageLogs } from '../src/db/schema.ts';
import { createRecorder } from '../src/ledger/recorder.ts';
import { createSpool } from '../src/ledger/spool.ts';

export type RecorderResult = {
  rows: number;
  cases: Array<{ writers: number; grouped_rows_per_s: number; single_rows_per_s: number }>;
};

let seq = 0;
const row = (): UsageLogInsert => ({
  requestId: `req_bench_${process.pid}_${++seq}`,
  createdAt: new Date(),
  provider: 'huggingface',
  model: 'openai/gpt-oss-120b:groq',
  stream: false,
  status: 'ok',
  httpStatus: 200,
  promptTokens: 81,
  completionTokens: 76,
  totalTokens: 157,
  usageSource: 'upstream',
  inputTokenCost: '0.000001',
  outputTokenCost: '0.000003',
  pricingSource: 'db:exact',
  costInput: '0.000081',
  costOutput: '0.000228',
  costTotal: '0.000309',
  latencyMs: 40,
});

/** `writers` loops, each writing its share of `rows` one after another; returns rows/s. */
async function drive(
  writers: number,
  rows: number,
  write: (r: UsageLogInsert) => Promise<unknown>,
): Promise<number> {
  const each = Math.ceil(rows / writers);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      for (let i = 0; i < each; i++) await write(row());
    }),
  );
  return (each * writers) / ((performance.now() - start) / 1000);
}

export async function benchRecorder(databaseUrl: string, { rows = 10_000 } = {}): Promise<RecorderResult> {
  const database = await openDatabase({ databaseUrl, maxConnections: 16 });
  await migrate(database);
  const recorder = createRecorder({
    database,
    spool: createSpool({ path: join(mkdtempSync(join(tmpdir(), 'tollgate-bench-spool-')), 'spool.ndjson') }),
  });
  const cases: RecorderResult['cases'] = [];
  try {
    for (const writers of [1, 16, 64]) {
      const n = writers === 1 ? Math.min(rows, 3000) : rows;
      const single = await drive(writers, n, (r) =>
        database.db.insert(usageLogs).values(r).onConflictDoNothing({ target: usageLogs.requestId }),
      );
      const grouped = await drive(writers, n, (r) => recorder.record(r));
      cases.push({ writers, grouped_rows_per_s: grouped, single_rows_per_s: single });
    }
  } finally {
    await recorder.close();
    await database.close();
  }
  return { rows, cases };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const url = process.argv[2] ?? process.env.BENCH_DATABASE_URL;
  if (!url) throw new Error('usage: node dist/bench/recorder.js postgres://… (a database it may write to)');
  console.log(JSON.stringify(await benchRecorder(url), null, 2));
}
