// `npm run bench:usage` (issue 5 §4, 14.5, 26): seeds 10 million usage rows over 90 days into PostgreSQL
// with generate_series (1,000 keys, 50 models, 10,000 end users, 200 tags; the insert triggers keep
// key_spend and the hourly and daily rollups as in production), then also measures the CSV export's rows
// per second, the ledger's table and index bytes per million rows, and the insert CPU per row of the
// PostgreSQL backend with the monthly-partitioned ledger and with the unpartitioned one (migrations
// before 0015), through the recorder's own INSERT. The rest as before:
// starts the gateway on that database and times, median of BENCH_USAGE_RUNS: /usage's first page and a
// page deep behind a cursor, filtered by key, end user, tag, served_by and endpoint, and /usage/summary
// by day, model, key, hour, end user, tag, served_by and endpoint over the 30 days (also narrowed to
// one key, end user or tag, and the end user + tag combination no rollup holds).
// Checks the summary's sums against a scan of usage_logs, times that scan (what the summary cost
// before the rollup), prints a table and writes bench/usage-results.json.
//
// BENCH_USAGE_ROWS (10000000), BENCH_USAGE_RUNS (7), BENCH_DATABASE_URL (the server; a scratch database
// is made on it and dropped after), BENCH_USAGE_DATABASE_URL (a database to reuse: seeded only when
// it has no rows, and kept).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { request } from 'undici';
import { add, canonical, formatDecimal, parseDecimal, ZERO } from '../src/billing/money.ts';
import { openDatabase } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { encodeCursor } from '../src/services/reports/usage-report.ts';
import { repositoryRoot } from './fixtures.ts';
import { ADMIN_KEY, median, startGateway } from './gateway.ts';
import { machine } from './report.ts';
import { createScratchDatabase, type ScratchDatabase } from './scratch-database.ts';
import { csvRate, insertCpuPerRow, ledgerSizes } from './usage-costs.ts';

const env = process.env;
const ROWS = Number(env.BENCH_USAGE_ROWS ?? 10_000_000);
const RUNS = Number(env.BENCH_USAGE_RUNS ?? 7);
const DAYS = 30;
const SPREAD_DAYS = 90;
const GOAL_MS = 50;
const CHUNK = 1_000_000;
const KEYS = 1_000;
const MODELS = 50;
const USERS = 10_000;
const TAGS = 200;
const INSERT_ROWS = Number(env.BENCH_USAGE_INSERT_ROWS ?? 32_000);
const ROOT = repositoryRoot();
const ROLLUPS = [
  'usage_hourly',
  'usage_hourly_routes',
  'usage_hourly_users',
  'usage_hourly_tags',
  'usage_daily',
  'usage_daily_routes',
  'usage_daily_users',
  'usage_daily_tags',
] as const;
if (!(Number.isInteger(ROWS) && ROWS > 0 && Number.isInteger(RUNS) && RUNS > 0))
  throw new Error('BENCH_USAGE_ROWS and BENCH_USAGE_RUNS must be positive whole numbers');

const T0 = performance.now();
const progress = (line: string) =>
  console.error(`[${((performance.now() - T0) / 1000).toFixed(0).padStart(4)} s] ${line}`);

/**
 * Rows `first`..`last` of the seed: newest first, spread evenly over SPREAD_DAYS before `now`; one in ten
 * on the master key, the rest over KEYS keys; MODELS models, each key using three of them (one model in
 * three with a :provider suffix); ~2% upstream errors, ~1% client aborts; one in a thousand priced by the
 * built-in fallback. Attribution as an app's traffic looks: USERS end users, ten per key (none on one row
 * in seven); TAGS tags, two per key, `beta` on one row in twenty as well, no tags on one row in four;
 * served_by follows the :provider suffix (else groq or together); one in ten rows on the Responses API.
 * Costs are exact numerics from the tokens.
 */
const SEED_ROWS = `
  insert into usage_logs (request_id, created_at, api_key_id, provider, model, upstream_model, served_by,
    endpoint, end_user, tags, stream,
    status, http_status, prompt_tokens, completion_tokens, total_tokens, usage_source, input_token_cost,
    output_token_cost, pricing_source, cost_input, cost_output, cost_total, latency_ms)
  select 'req_seed_' || g, t.at, t.key, 'huggingface', t.model, t.model,
    coalesce(substring(t.model from ':(.*)$'), case when g % 2 = 0 then 'groq' else 'together' end),
    case when g % 10 = 0 then 'responses' else 'chat.completions' end,
    case when g % 7 = 0 then null else 'user_' || (t.k * ${USERS / KEYS} + g / 7 % ${USERS / KEYS}) end,
    case when g % 4 = 0 then null
         when g % 20 = 1 then array['tag:' || ((t.k + g / 5 % 2) % ${TAGS}), 'beta']
         else array['tag:' || ((t.k + g / 5 % 2) % ${TAGS})] end,
    g % 3 = 0, t.status,
    case t.status when 'ok' then 200 when 'upstream_error' then 502 else 499 end,
    t.prompt, t.completion, t.prompt + t.completion, 'upstream', 0.00000015, 0.0000006,
    case when g % 1000 = 0 then 'builtin' else 'env' end,
    t.prompt * 0.00000015, t.completion * 0.0000006, t.prompt * 0.00000015 + t.completion * 0.0000006,
    50 + g % 900
  from generate_series($1::bigint, $2::bigint) as g,
  lateral (select
    $3::timestamptz - make_interval(secs => g::float8 * ${SPREAD_DAYS * 86_400} / $4::float8) as at,
    case when g / 3 % 10 = 0 then null else 'key_bench_' || (g * 31 % ${KEYS} + 1) end as key,
    g * 31 % ${KEYS} as k,
    'org/model-' || ((g * 31 % ${KEYS} * 7 + g % 3) % ${MODELS})
      || case when (g * 31 % ${KEYS} * 7 + g % 3) % ${MODELS} % 3 = 0 then ':cerebras' else '' end as model,
    case when g % 53 = 7 then 'upstream_error' when g % 101 = 3 then 'client_aborted' else 'ok' end as status,
    (50 + g % 2000)::int as prompt,
    (g * 7 % 700)::int as completion) as t`;

async function seed(url: string, now: Date): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [{ n } = { n: '0' }] = await sql<{ n: string }[]>`select count(*)::text as n from usage_logs`;
    if (Number(n) > 0) {
      progress(`reusing ${n} rows already there`);
      return Number(n);
    }
    await sql.unsafe(`
      insert into api_keys (id, name, key_hash, key_prefix)
      select 'key_bench_' || i, 'bench key ' || i, md5('bench' || i), 'tg-bench'
      from generate_series(1, ${KEYS}) as i`);
    // the seed is a benchmark's, not a ledger's: no need to wait for each chunk's WAL flush
    await sql`set synchronous_commit = off`;
    // the seed spans months this gateway never saw: their partitions first (the default partition would
    // take the rows, and a month's partition could then not be made without moving them)
    await sql.unsafe(
      `select tollgate_ensure_usage_partition(m) from generate_series(
      date_trunc('month', $1::timestamptz - interval '${SPREAD_DAYS + 1} days'), $1::timestamptz, interval '1 month') m`,
      [now.toISOString()],
    );
    for (let first = 1; first <= ROWS; first += CHUNK) {
      const last = Math.min(ROWS, first + CHUNK - 1);
      await sql.unsafe(SEED_ROWS, [first, last, now.toISOString(), ROWS]);
      progress(`seeded ${last.toLocaleString('en-US')} of ${ROWS.toLocaleString('en-US')} rows`);
    }
    await sql`vacuum analyze usage_logs`;
    for (const table of ROLLUPS) await sql.unsafe(`vacuum analyze ${table}`);
    return ROWS;
  } finally {
    await sql.end();
  }
}

type Timing = { name: string; path: string; median_ms: number; max_ms: number; runs: number };

async function time(base: string, name: string, path: string): Promise<Timing> {
  const once = async () => {
    const start = performance.now();
    await adminGet(base, path);
    return performance.now() - start;
  };
  // warm: plans, caches, connections, and the gateway's own code (its first /usage pages took 35, 25 and
  // 14 ms, then ~10: the first case timed the process's warm-up as much as the page)
  for (let i = 0; i < 3; i++) await once();
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) samples.push(await once());
  samples.sort((a, b) => a - b);
  return { name, path, median_ms: median(samples), max_ms: samples.at(-1) as number, runs: RUNS };
}

type SummaryGroup = { group: string; requests: number; cost_usd: string };

/** The body of an admin GET, read whole; anything but 200 throws. */
async function adminGet(base: string, path: string): Promise<string> {
  const res = await request(`${base}${path}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${path} answered ${res.statusCode}: ${text.slice(0, 300)}`);
  return text;
}

async function summaryGroups(base: string, path: string): Promise<SummaryGroup[]> {
  return (JSON.parse(await adminGet(base, path)) as { data: SummaryGroup[] }).data;
}

async function main(): Promise<void> {
  const serverUrl = env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const reuse = env.BENCH_USAGE_DATABASE_URL;
  const scratch: ScratchDatabase | undefined = reuse
    ? undefined
    : await createScratchDatabase(serverUrl, 'tollgate_bench_usage');
  const url = reuse ?? (scratch as ScratchDatabase).url;
  const now = new Date();
  try {
    const database = await openDatabase({ databaseUrl: url });
    await migrate(database);
    await database.close();
    const seedStart = performance.now();
    const rows = await seed(url, now);
    const seedSeconds = (performance.now() - seedStart) / 1000;

    const sql = postgres(url, { max: 1, onnotice: () => {} });
    const gateway = await startGateway({
      root: ROOT,
      upstream: 'http://127.0.0.1:9',
      databaseUrl: url,
      profile: false,
    });
    try {
      const [latest] = await sql<{ at: Date }[]>`select max(created_at) as at from usage_logs`;
      const to = new Date((latest?.at ?? now).getTime() + 1);
      const from = new Date(to.getTime() - DAYS * 86_400_000);
      const range = `from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
      // a cursor halfway down the ledger: the page after it is read from inside the index
      const [deep] = await sql<{ at: string; id: string }[]>`
        select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at, id::text
        from usage_logs order by created_at desc nulls last, id desc nulls last
        offset ${Math.floor(rows / 2)} limit 1`;
      const cursor = deep ? encodeCursor({ createdAt: deep.at, id: Number(deep.id) }) : '';
      // a gateway that has run a while has its past days closed (it closes them in the background at
      // start): time it as it serves then, not while it sums 90 days
      const closingFrom = performance.now();
      for (;;) {
        const [open] = await sql<
          { n: string }[]
        >`select count(*)::text as n from tollgate_unclosed_usage_days()`;
        if (open?.n === '0') break;
        if (performance.now() - closingFrom > 1_800_000)
          throw new Error('the past days were not all closed after 30 minutes');
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      progress(`past days closed (waited ${((performance.now() - closingFrom) / 1000).toFixed(0)} s)`);
      progress('timing /usage and /usage/summary');
      const timings: Timing[] = [];
      const cases: Array<[string, string]> = [
        ['/usage first page (100 rows)', '/usage?limit=100'],
        [
          `/usage page after row ${Math.floor(rows / 2).toLocaleString('en-US')}`,
          `/usage?limit=100&cursor=${cursor}`,
        ],
        ['/usage first page, one key', '/usage?limit=100&key_id=key_bench_7'],
        [`/usage first page, ${DAYS} days`, `/usage?limit=100&${range}`],
        [`/usage/summary by day, ${DAYS} days`, `/usage/summary?group_by=day&${range}`],
        [`/usage/summary by model, ${DAYS} days`, `/usage/summary?group_by=model&${range}`],
        [`/usage/summary by key, ${DAYS} days`, `/usage/summary?group_by=key&${range}`],
        [`/usage/summary by hour, ${DAYS} days`, `/usage/summary?group_by=hour&${range}`],
        [`/usage/summary by day, one key`, `/usage/summary?group_by=day&key_id=key_bench_7&${range}`],
        ['/usage first page, one end user', '/usage?limit=100&user=user_73'],
        ['/usage first page, a tag on no row', '/usage?limit=100&tag=tag:none'],
        ['/usage first page, one tag', '/usage?limit=100&tag=tag:3'],
        ['/usage first page, a rare tag', '/usage?limit=100&tag=beta'],
        ['/usage first page, served_by', '/usage?limit=100&served_by=cerebras'],
        ['/usage first page, endpoint', '/usage?limit=100&endpoint=responses'],
        [`/usage/summary by end user, ${DAYS} days`, `/usage/summary?group_by=user&${range}`],
        [`/usage/summary by tag, ${DAYS} days`, `/usage/summary?group_by=tag&${range}`],
        [`/usage/summary by served_by, ${DAYS} days`, `/usage/summary?group_by=served_by&${range}`],
        [`/usage/summary by endpoint, ${DAYS} days`, `/usage/summary?group_by=endpoint&${range}`],
        [`/usage/summary by status, ${DAYS} days`, `/usage/summary?group_by=status&${range}`],
        [
          `/usage/summary by model, one end user (no rollup)`,
          `/usage/summary?group_by=model&user=user_73&${range}`,
        ],
        [
          `/usage/summary by status, one tag (no rollup)`,
          `/usage/summary?group_by=status&tag=tag:3&${range}`,
        ],
        [`/usage/summary by day, one end user`, `/usage/summary?group_by=day&user=user_73&${range}`],
        [`/usage/summary by day, one tag`, `/usage/summary?group_by=day&tag=tag:3&${range}`],
        [`/usage/summary by model, one tag`, `/usage/summary?group_by=model&tag=beta&${range}`],
        [`/usage/summary by end user, one key`, `/usage/summary?group_by=user&key_id=key_bench_7&${range}`],
        [
          `/usage/summary by day, served_by + endpoint`,
          `/usage/summary?group_by=day&served_by=groq&endpoint=responses&${range}`,
        ],
        [
          `/usage/summary by day, end user + tag (no rollup: usage_logs)`,
          `/usage/summary?group_by=day&user=user_73&tag=tag:8&${range}`,
        ],
      ];
      for (const [name, path] of cases) {
        const timing = await time(gateway.base, name, path);
        timings.push(timing);
        progress(`${name}: ${timing.median_ms.toFixed(1)} ms`);
      }

      // exactness: the summary's sums against one scan of the rows, timed (the summary's cost before the rollup)
      progress('checking the summary against a scan of usage_logs');
      const groups = await summaryGroups(gateway.base, `/usage/summary?group_by=model&${range}`);
      const viaSummary = groups.reduce(
        (s, g) => ({ requests: s.requests + g.requests, cost: add(s.cost, parseDecimal(g.cost_usd)) }),
        { requests: 0, cost: ZERO },
      );
      const scanStart = performance.now();
      const [scan] = await sql<{ requests: string; cost: string }[]>`
        select count(*)::text as requests, coalesce(sum(cost_total), 0)::text as cost
        from usage_logs where created_at >= ${from} and created_at < ${to}`;
      const scanMs = performance.now() - scanStart;
      const exact =
        scan !== undefined &&
        String(viaSummary.requests) === scan.requests &&
        formatDecimal(viaSummary.cost) === canonical(scan.cost);

      progress('CSV export, sizes, insert CPU');
      const csv = await csvRate(gateway.base, range, ADMIN_KEY);
      const sizes = await ledgerSizes(sql, rows);
      const insertCpu = await insertCpuPerRow(serverUrl, INSERT_ROWS);
      const results = {
        date: new Date().toISOString(),
        machine: machine(),
        rows,
        seed_seconds: reuse ? null : Math.round(seedSeconds),
        rollup_rows: Number((await sql<{ n: string }[]>`select count(*)::text as n from usage_hourly`)[0]?.n),
        rollups: Object.fromEntries(
          await Promise.all(
            ROLLUPS.map(
              async (table): Promise<[string, number]> => [
                table,
                Number((await sql.unsafe<{ n: string }[]>(`select count(*)::text as n from ${table}`))[0]?.n),
              ],
            ),
          ),
        ),
        goal_ms: GOAL_MS,
        timings,
        exact: {
          summary_requests: viaSummary.requests,
          scan_requests: scan?.requests,
          summary_cost_usd: formatDecimal(viaSummary.cost),
          scan_cost_usd: scan ? canonical(scan.cost) : null,
          equal: exact,
        },
        scan_ms: Math.round(scanMs),
        csv,
        sizes,
        insert_cpu: insertCpu,
      };
      writeFileSync(join(ROOT, 'bench', 'usage-results.json'), `${JSON.stringify(results, null, 2)}\n`);
      console.log(`\nTollgate /usage at scale — ${results.date}`);
      console.log(
        `${results.machine.nproc}× ${results.machine.cpu}, Node ${results.machine.node}; PostgreSQL, ${rows.toLocaleString('en-US')} usage rows over ${SPREAD_DAYS} days (rollup rows: ${Object.entries(
          results.rollups,
        )
          .map(([table, n]) => `${table} ${n.toLocaleString('en-US')}`)
          .join(', ')})${results.seed_seconds === null ? '' : `, seeded in ${results.seed_seconds} s`}\n`,
      );
      console.log('| request | median ms | max ms | goal |');
      console.log('|---|---:|---:|---|');
      for (const t of timings)
        console.log(
          `| ${t.name} | ${t.median_ms.toFixed(1)} | ${t.max_ms.toFixed(1)} | ${t.median_ms <= GOAL_MS ? 'met' : `MISSED (≤ ${GOAL_MS})`} |`,
        );
      console.log(
        `\nsummary vs a scan of the rows: ${exact ? 'equal' : 'DIFFERENT'} (${viaSummary.requests} requests, $${formatDecimal(viaSummary.cost)}); the scan alone took ${Math.round(scanMs)} ms`,
      );
      console.log(
        `CSV export: ${csv.rows.toLocaleString('en-US')} rows in ${csv.seconds.toFixed(1)} s = ${Math.round(csv.rows_per_s).toLocaleString('en-US')} rows/s`,
      );
      console.log(
        `ledger: ${sizes.bytes_per_row.toFixed(0)} bytes per row (table ${sizes.table_mb_per_million.toFixed(0)} MB + indexes ${sizes.index_mb_per_million.toFixed(0)} MB per million rows)`,
      );
      console.log(
        `insert CPU per row (PostgreSQL backend, batches of 64): unpartitioned ${insertCpu.unpartitioned_us_per_row.toFixed(1)} µs, partitioned ${insertCpu.partitioned_us_per_row.toFixed(1)} µs`,
      );
      console.log('written bench/usage-results.json');
      if (!exact) process.exitCode = 1;
    } finally {
      await gateway.stop();
      await sql.end();
    }
  } finally {
    await scratch?.drop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
