// `npm run bench` (DESIGN §9): in one run, the mock upstream directly and the gateway in front of it on
// PGlite and on PostgreSQL (when reachable): requests/s, p50/p99, ratio to direct, gateway CPU µs per
// request, peak RSS, usage rows vs answers; streaming time to first byte added; the recorder's rows/s.
// Prints a table and writes bench/results.json. Settings: see the README's Benchmark section.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { summarizeProfileDir } from './cpuprofile-top.ts';
import { loadFixtures, repositoryRoot } from './fixtures.ts';
import {
  ADMIN_KEY,
  backendCpu,
  cpuBetween,
  type GatewayProcess,
  median,
  PRODUCTION_ENV,
  PRODUCTION_NODE_ARGS,
  settle,
  startGateway,
  timeToFirstByte,
  usageRows,
} from './gateway.ts';
import { type LoadResult, loadTool, runLoad } from './load.ts';
import {
  CORE,
  CORES,
  collect,
  cpuPressure,
  cpuSeconds,
  PINNED,
  peakRssMb,
  pinSelf,
  spawnOn,
  stop,
  TASKSET,
} from './processes.ts';
import { benchRecorder } from './recorder.ts';
import { type CaseRow, formatResults, machine, type Results, rowsCheck, weighTargets } from './report.ts';
import { createScratchDatabase, type ScratchDatabase } from './scratch-database.ts';

const env = process.env;
const QUICK = env.BENCH_QUICK === '1';
const DURATION_S = Number(env.BENCH_DURATION ?? (QUICK ? 2 : 10));
const WARMUP_S = Number(env.BENCH_WARMUP ?? (QUICK ? 1 : 2));
const REPEATS = Math.max(1, Number(env.BENCH_REPEATS ?? 1));
const TTFB_REQUESTS = QUICK ? 50 : 300;
const RECORDER_ROWS = Number(env.BENCH_RECORDER_ROWS ?? (QUICK ? 1000 : 3000));
const PROFILE = env.BENCH_PROFILE === '1';
const BACKENDS = (env.BENCH_BACKENDS ?? 'pglite,postgres').split(',');
const GATEWAY_NODE_ARGS = (env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean);
const ROOT = repositoryRoot();
if (!(DURATION_S > 0 && WARMUP_S >= 0 && REPEATS >= 1 && RECORDER_ROWS >= 0))
  throw new Error('BENCH_DURATION, BENCH_WARMUP, BENCH_REPEATS and BENCH_RECORDER_ROWS must be numbers');
const TOOL = loadTool();

// the recorded request (test/fixtures/nonstream/hf-groq-gpt-oss-120b.request.json)
const REQUEST = {
  model: 'openai/gpt-oss-120b:groq',
  messages: [{ role: 'user', content: 'Explain in one sentence why the sky is blue.' }],
};
const BODIES = { json: JSON.stringify(REQUEST), stream: JSON.stringify({ ...REQUEST, stream: true }) };
const HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` };
const CASES = [
  { stream: false, connections: 1 },
  { stream: false, connections: 16 },
  { stream: false, connections: 64 },
  { stream: true, connections: 16 },
] as const;
type Case = (typeof CASES)[number];
/** BENCH_CASES='json c=16,stream c=16' runs only those (for profiling one case). */
const SELECTED = env.BENCH_CASES?.split(',').map((name) => name.trim());
const T0 = performance.now();
/** A progress line on stderr, stamped with the seconds since the start. */
const progress = (line: string) =>
  console.error(`[${((performance.now() - T0) / 1000).toFixed(0).padStart(3)} s] ${line}`);
const caseName = (c: Case) => `${c.stream ? 'stream' : 'json'} c=${c.connections}`;
const RUN_CASES = CASES.filter((c) => !SELECTED || SELECTED.includes(caseName(c)));

/** Warm-up, then REPEATS measured runs; the figures are the medians of the runs. */
async function load(url: string, c: Case, measured: () => Promise<void> = async () => {}) {
  const options = {
    url,
    connections: c.connections,
    body: BODIES[c.stream ? 'stream' : 'json'],
    headers: HEADERS,
  };
  await runLoad(TOOL, { ...options, durationS: WARMUP_S });
  await measured();
  const runs: LoadResult[] = [];
  for (let i = 0; i < REPEATS; i++) runs.push(await runLoad(TOOL, { ...options, durationS: DURATION_S }));
  const mid = (pick: (r: LoadResult) => number) => median(runs.map(pick).sort((a, b) => a - b));
  return {
    rps: mid((r) => r.rps),
    p50_ms: mid((r) => r.p50_ms),
    p99_ms: mid((r) => r.p99_ms),
    ok: runs.reduce((n, r) => n + r.ok, 0),
    failed: runs.reduce((n, r) => n + r.failed, 0),
  };
}

async function measureGateway(gateway: GatewayProcess, c: Case, direct: CaseRow, databaseUrl?: string) {
  const { base, pid } = gateway;
  let before = {
    answered: 0,
    rows: 0,
    cpu: 0,
    db: undefined as Map<number, number> | undefined,
    since: 0,
  };
  const figures = await load(`${base}/v1/chat/completions`, c, async () => {
    // the warm-up's last replies land first; then the counters, then the CPU clock, last thing before the load
    const { all } = await settle(base);
    const rows = await usageRows(base);
    const db = databaseUrl ? await backendCpu(databaseUrl) : undefined;
    before = { answered: all, rows, db, cpu: cpuSeconds(pid), since: monotonicUs() };
  });
  const cpu = cpuSeconds(pid) - before.cpu;
  const window: [number, number] = [before.since, monotonicUs()];
  const db = databaseUrl && before.db ? await backendCpu(databaseUrl) : undefined;
  const gatewayAnswered = (await settle(base)).all - before.answered;
  const rows = (await usageRows(base)) - before.rows;
  const check = rowsCheck({
    rows,
    gatewayAnswered,
    ok: figures.ok,
    failed: figures.failed,
    inFlightAtCutoff: c.connections * REPEATS,
  });
  const perRequest = (seconds: number) => (gatewayAnswered > 0 ? (seconds * 1e6) / gatewayAnswered : null);
  const row = {
    ...figures,
    ratio: figures.rps / direct.rps,
    cpu_us_per_req: perRequest(cpu),
    db_cpu_us_per_req: db && before.db ? perRequest(cpuBetween(before.db, db)) : null,
    peak_rss_mb: peakRssMb(pid),
    gateway_answered: gatewayAnswered,
    rows,
    rows_check: check,
  };
  return { row, window, served: gatewayAnswered };
}

/** Every case through bench/bare-proxy (Hono + undici and nothing else): CPU per request, RSS. */
async function measureBareProxy(upstream: string, measured: CaseRow[]): Promise<CaseRow[]> {
  const proxy = spawnOn(
    CORE.gateway,
    process.execPath,
    [...PRODUCTION_NODE_ARGS, join(ROOT, 'dist', 'bench', 'bare-proxy.js'), upstream, '0'],
    PRODUCTION_ENV,
  );
  const output = collect(proxy);
  const rows: CaseRow[] = [];
  try {
    const port = await new Promise<string>((resolve, reject) => {
      proxy.stdout?.once('data', (d: Buffer) => resolve(String(d).trim()));
      proxy.once('exit', () => reject(new Error('the bare proxy did not start')));
    });
    const pid = proxy.pid as number;
    for (const c of RUN_CASES) {
      let cpu = 0;
      const figures = await load(`http://127.0.0.1:${port}/v1/chat/completions`, c, async () => {
        cpu = cpuSeconds(pid);
      });
      cpu = cpuSeconds(pid) - cpu;
      const direct = measured.find((r) => r.target === 'direct' && r.case === caseName(c));
      const answered = figures.ok + figures.failed;
      rows.push({
        target: 'bare-proxy',
        case: caseName(c),
        ...c,
        ...figures,
        ratio: direct ? figures.rps / direct.rps : Number.NaN,
        cpu_us_per_req: answered > 0 ? (cpu * 1e6) / answered : null,
        db_cpu_us_per_req: null,
        peak_rss_mb: peakRssMb(pid),
        gateway_answered: null,
        rows: null,
        rows_check: null,
      });
      progress(`bare proxy ${caseName(c)}: ${figures.rps.toFixed(0)} req/s`);
    }
  } finally {
    await stop(proxy);
    await output;
  }
  return rows;
}

/** CLOCK_MONOTONIC in µs: the clock V8 stamps CPU profile samples with. */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

async function main(): Promise<void> {
  const loadAtStart = loadavg();
  const pressureAtStart = cpuPressure();
  pinSelf();
  const fixtures = loadFixtures(ROOT);
  const mock = spawnOn(CORE.mock, process.execPath, [join(ROOT, 'dist', 'bench', 'mock-upstream.js'), '0']);
  const mockOutput = collect(mock);
  const mockPort = await new Promise<string>((resolve, reject) => {
    mock.stdout?.once('data', (d: Buffer) => resolve(String(d).trim()));
    mock.once('exit', () => reject(new Error('the mock upstream did not start')));
  });
  const upstream = `http://127.0.0.1:${mockPort}`;
  const directUrl = `${upstream}/v1/chat/completions`;
  const serverUrl = env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const pg: ScratchDatabase | undefined = BACKENDS.includes('postgres')
    ? await createScratchDatabase(serverUrl, 'tollgate_bench').catch((err: unknown) => {
        console.error(`PostgreSQL at ${serverUrl} not usable (${String(err)}): PGlite only`);
        return undefined;
      })
    : undefined;

  const cases: CaseRow[] = [];
  const ttfb: Results['ttfb'] = { requests: TTFB_REQUESTS, median_ms: {}, added_ms: {} };
  const directTtfb: number[] = [];
  const profiles: Record<string, string> = {};
  let recorder: Results['recorder'] = null;
  const gatewayFields = {
    cpu_us_per_req: null,
    db_cpu_us_per_req: null,
    peak_rss_mb: null,
    gateway_answered: null,
    rows: null,
    rows_check: null,
  };
  try {
    progress(`load generator: ${TOOL}; ${DURATION_S} s per case; fixtures: ${fixtures.source}`);
    for (const c of RUN_CASES) {
      // direct rows carry the mock's own CPU per request: what a bare node:http server costs here
      let mockCpu = 0;
      const figures = await load(directUrl, c, async () => {
        mockCpu = cpuSeconds(mock.pid as number);
      });
      mockCpu = cpuSeconds(mock.pid as number) - mockCpu;
      const answeredDirect = figures.ok + figures.failed;
      cases.push({
        target: 'direct',
        case: caseName(c),
        ...c,
        ...figures,
        ratio: 1,
        ...gatewayFields,
        cpu_us_per_req: answeredDirect > 0 ? (mockCpu * 1e6) / answeredDirect : null,
      });
      progress(`direct ${caseName(c)}: ${figures.rps.toFixed(0)} req/s`);
    }

    // the same stack with nothing of ours: Hono + undici, bytes through, on the gateway's core
    cases.push(...(await measureBareProxy(upstream, cases)));

    const backends: Array<[string, string | undefined]> = [];
    if (BACKENDS.includes('pglite')) backends.push(['pglite', undefined]);
    if (pg) backends.push(['postgres', pg.url]);
    for (const [backend, databaseUrl] of backends) {
      const gateway = await startGateway({
        root: ROOT,
        upstream,
        databaseUrl,
        profile: PROFILE,
        nodeArgs: GATEWAY_NODE_ARGS,
      });
      progress(`gateway on ${backend} ready`);
      const windows: Array<[number, number]> = [];
      let measured = 0;
      try {
        for (const c of RUN_CASES) {
          const direct = cases.find((r) => r.target === 'direct' && r.case === caseName(c)) as CaseRow;
          const { row, window, served } = await measureGateway(gateway, c, direct, databaseUrl);
          windows.push(window);
          measured += served;
          cases.push({ target: `gateway/${backend}`, case: caseName(c), ...c, ...row });
          if (row.rows_check !== 'ok')
            console.error(`\n*** ${backend} ${caseName(c)}: ${row.rows_check} ***\n`);
          progress(`${backend} ${caseName(c)}: ${row.rps.toFixed(0)} req/s, rows ${row.rows_check}`);
        }
        const [direct = [], through = []] = await timeToFirstByte(
          [directUrl, `${gateway.base}/v1/chat/completions`],
          {
            n: TTFB_REQUESTS,
            body: BODIES.stream,
            headers: HEADERS,
          },
        );
        directTtfb.push(...direct);
        ttfb.median_ms[backend] = median(through);
        ttfb.added_ms[backend] = median(through) - median(direct);
      } finally {
        await gateway.stop();
      }
      if (gateway.profileDir) {
        for (const [file, summary] of summarizeProfileDir(gateway.profileDir, {
          windows,
          requests: measured,
        }))
          console.log(`\nCPU profile of the gateway on ${backend} (${file}):\n${summary}`);
        profiles[backend] = gateway.profileDir;
      }
    }
    ttfb.median_ms = { direct: median(directTtfb.sort((a, b) => a - b)), ...ttfb.median_ms };
    if (pg && RECORDER_ROWS > 0) {
      progress(`recorder: ${RECORDER_ROWS} rows per case into PostgreSQL`);
      recorder = await benchRecorder(serverUrl, { rows: RECORDER_ROWS }).catch((err: unknown) => ({
        error: String(err),
      }));
    }
  } finally {
    await stop(mock);
    await mockOutput;
    await pg?.drop();
  }

  const results: Results = {
    date: new Date().toISOString(),
    machine: {
      ...machine(),
      loadavg_at_start: loadAtStart,
      cpu_pressure_at_start: pressureAtStart,
      loadavg_at_end: loadavg(),
    },
    settings: {
      load_tool: TOOL,
      pinned: PINNED
        ? `taskset: load generator on core ${CORE.load}, mock on core ${CORE.mock}, gateway on core ${CORE.gateway}`
        : `not pinned (${CORES} core(s), taskset ${TASKSET ? 'found' : 'missing'})`,
      duration_s: DURATION_S,
      warmup_s: WARMUP_S,
      repeats: REPEATS,
      mock_delay_ms: Number(env.MOCK_DELAY_MS ?? 0),
      gateway_node_args: GATEWAY_NODE_ARGS.join(' '),
      fixtures: fixtures.source,
      postgres: pg ? serverUrl.replace(/\/\/[^@/]*@/, '//') : null,
    },
    cases,
    ttfb,
    recorder,
    targets: [],
    ...(PROFILE ? { profiles } : {}),
  };
  results.targets = weighTargets(results);
  writeFileSync(join(ROOT, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\n${formatResults(results)}\n\nwritten bench/results.json`);
  if (cases.some((c) => c.rows_check !== null && c.rows_check !== 'ok')) {
    console.error('\n*** MISMATCH between usage rows and answered requests: see the rows check column ***');
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
