// The recorder's throughput into PostgreSQL: rows/s at 1, 16 and 64 concurrent writers through the
// group-committing recorder, against one INSERT per row (the same statement, one row each) at the same
// concurrency and on the same connection pool, in the same run, on a database of its own.
// CLI: node dist/bench/recorder.js [postgres://server/db]  (BENCH_DATABASE_URL, TEST_DATABASE_URL)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Database, openDatabase } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import type { UsageLogInsert } from '../src/db/schema.ts';
import { insertUsageRows } from '../src/db/usage-insert.ts';
import { createRecorder } from '../src/ledger/recorder.ts';
import { createSpool } from '../src/ledger/spool.ts';
import { backendCpu, cpuBetween } from './gateway.ts';
import { createScratchDatabase } from './scratch-database.ts';

const WRITERS = [1, 16, 64] as const;
const REPEATS = 3;
/** the gateway's own pool size (openDatabase's default), so the baseline gets what production gets */
const POOL = 10;

export type RecorderCase = {
  writers: number;
  rows: number;
  grouped_rows_per_s: number;
  single_rows_per_s: number;
  /** grouped ÷ single */
  speedup: number;
  /** rows per INSERT statement the recorder sent */
  grouped_rows_per_insert: number;
  /** how long record() / one INSERT took for a writer, ms */
  grouped_p50_ms: number;
  grouped_p99_ms: number;
  single_p50_ms: number;
  single_p99_ms: number;
  /** PostgreSQL CPU (all backends of the scratch database) per row, µs: what the row's write and its triggers cost */
  grouped_db_cpu_us_per_row: number | null;
  single_db_cpu_us_per_row: number | null;
};

export type RecorderResult = { rows: number; pool: number; cases: RecorderCase[] };

let seq = 0;
const row = (): UsageLogInsert => ({
  requestId: `req_bench_${process.pid}_${++seq}`,
  createdAt: new Date(),
  apiKeyId: null,
  provider: 'huggingface',
  model: 'openai/gpt-oss-120b:groq',
  upstreamModel: 'openai/gpt-oss-120b',
  stream: false,
  status: 'ok',
  httpStatus: 200,
  promptTokens: 84,
  completionTokens: 76,
  totalTokens: 160,
  reasoningTokens: 41,
  usageSource: 'upstream',
  usageRaw: { prompt_tokens: 84, completion_tokens: 76, total_tokens: 160 },
  inputTokenCost: '0.000001',
  outputTokenCost: '0.000003',
  pricingSource: 'env',
  costInput: '0.000084',
  costOutput: '0.000228',
  costTotal: '0.000312',
  latencyMs: 40,
  ttftMs: 38,
});

type Run = { rowsPerS: number; p50: number; p99: number; dbCpuUsPerRow: number | null };

/** `writers` loops, each writing its share of `rows` one after another. */
async function drive(
  writers: number,
  rows: number,
  write: (r: UsageLogInsert) => Promise<unknown>,
  databaseUrl?: string,
): Promise<Run> {
  const each = Math.ceil(rows / writers);
  const latencies: number[] = [];
  const cpuBefore = databaseUrl ? await backendCpu(databaseUrl) : undefined;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      for (let i = 0; i < each; i++) {
        const t = performance.now();
        await write(row());
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const cpuAfter = cpuBefore && databaseUrl ? await backendCpu(databaseUrl) : undefined;
  const dbCpuUsPerRow =
    cpuBefore && cpuAfter ? (cpuBetween(cpuBefore, cpuAfter) * 1e6) / (each * writers) : null;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { rowsPerS: (each * writers) / seconds, p50: at(0.5), p99: at(0.99), dbCpuUsPerRow };
}

/** The run with the median rows/s. */
function median(runs: Run[]): Run {
  return [...runs].sort((a, b) => a.rowsPerS - b.rowsPerS)[Math.floor(runs.length / 2)] as Run;
}

/** The database, counting the INSERT statements that go through it. */
function counting(database: Database) {
  const count = { statements: 0 };
  const wrapped: Database = {
    ...database,
    execute(text, params) {
      count.statements += 1;
      return database.execute(text, params);
    },
  };
  return { database: wrapped, count };
}

const round = (n: number, digits = 0) => Number(n.toFixed(digits));

/**
 * Measures on a database of its own, created on the server `serverUrl` points at and dropped after.
 * `rows` per case (at most 3000 for one writer, which is the slowest).
 */
export async function benchRecorder(
  serverUrl = process.env.BENCH_DATABASE_URL ??
    process.env.TEST_DATABASE_URL ??
    'postgres://postgres@127.0.0.1:5432/test',
  { rows = 10_000 }: { rows?: number } = {},
): Promise<RecorderResult> {
  const scratch = await createScratchDatabase(serverUrl, 'tollgate_bench_recorder');
  const spoolDir = mkdtempSync(join(tmpdir(), 'tollgate-bench-spool-'));
  const database = await openDatabase({ databaseUrl: scratch.url, maxConnections: POOL });
  const cases: RecorderCase[] = [];
  try {
    await migrate(database);
    const empty = () => database.execute('truncate usage_logs', []);
    const { database: counted, count } = counting(database);
    const recorder = createRecorder({
      database: counted,
      spool: createSpool({ path: join(spoolDir, 'usage-spool.ndjson') }),
    });
    // warm the connections, the prepared statements and the JIT
    await drive(16, 2000, (r) => insertUsageRows(database, [r]));
    await drive(16, 2000, (r) => recorder.record(r));
    for (const writers of WRITERS) {
      const n = writers === 1 ? Math.min(rows, 3000) : rows;
      // alternating repeats, the median kept: a busy machine shifts one run, not the comparison
      const singles: Run[] = [];
      const groupeds: Run[] = [];
      let statements = 0;
      for (let r = 0; r < REPEATS; r++) {
        await empty();
        singles.push(await drive(writers, n / REPEATS, (x) => insertUsageRows(database, [x]), scratch.url));
        await empty();
        const before = count.statements;
        groupeds.push(await drive(writers, n / REPEATS, (x) => recorder.record(x), scratch.url));
        statements += count.statements - before;
      }
      const single = median(singles);
      const grouped = median(groupeds);
      cases.push({
        writers,
        rows: n,
        grouped_rows_per_s: round(grouped.rowsPerS),
        single_rows_per_s: round(single.rowsPerS),
        speedup: round(grouped.rowsPerS / single.rowsPerS, 2),
        grouped_rows_per_insert: round(n / statements, 1),
        grouped_p50_ms: round(grouped.p50, 2),
        grouped_p99_ms: round(grouped.p99, 2),
        single_p50_ms: round(single.p50, 2),
        single_p99_ms: round(single.p99, 2),
        grouped_db_cpu_us_per_row: grouped.dbCpuUsPerRow === null ? null : round(grouped.dbCpuUsPerRow),
        single_db_cpu_us_per_row: single.dbCpuUsPerRow === null ? null : round(single.dbCpuUsPerRow),
      });
    }
    await recorder.close();
  } finally {
    await database.close();
    await scratch.drop();
    rmSync(spoolDir, { recursive: true, force: true });
  }
  return { rows, pool: POOL, cases };
}

function table(result: RecorderResult): string {
  const head = [
    'writers',
    'grouped rows/s',
    'single rows/s',
    '×',
    'rows/INSERT',
    'grouped p50/p99 ms',
    'single p50/p99 ms',
    'db CPU µs/row grouped/single',
  ];
  const lines = result.cases.map((c) => [
    String(c.writers),
    String(c.grouped_rows_per_s),
    String(c.single_rows_per_s),
    c.speedup.toFixed(2),
    String(c.grouped_rows_per_insert),
    `${c.grouped_p50_ms} / ${c.grouped_p99_ms}`,
    `${c.single_p50_ms} / ${c.single_p99_ms}`,
    `${c.grouped_db_cpu_us_per_row ?? '—'} / ${c.single_db_cpu_us_per_row ?? '—'}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  return [head, ...lines].map((l) => l.map((cell, i) => cell.padStart(widths[i] ?? 0)).join('  ')).join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await benchRecorder(process.argv[2]);
  console.log(`Recorder into PostgreSQL (pool of ${result.pool}): group commit vs one INSERT per row\n`);
  console.log(table(result));
  console.log(`\n${JSON.stringify(result, null, 2)}`);
}
