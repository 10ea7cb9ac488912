// `npm run bench` (DESIGN §9): in one run, the mock upstream directly and the gateway in front of it on
// PGlite and on PostgreSQL (when reachable): requests/s, p50/p99, ratio to direct, gateway CPU µs per
// request, peak RSS, usage rows vs answers; streaming time to first byte added; the recorder's rows/s.
// Prints a table and writes bench/results.json. Settings: see docs/benchmark.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { summarizeProfileDir } from './cpuprofile-top.ts';
import { loadFixtures, repositoryRoot } from './fixtures.ts';
import {
  ADMIN_KEY,
  backendCpu,
  cpuBetween,
  createKeys,
  databaseSettings,
  type GatewayProcess,
  type KeyKind,
  ledgerCounters,
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
import {
  type CaseRow,
  type Figure,
  formatResults,
  machine,
  type Results,
  rowsCheck,
  spread,
  spreads,
  weighTargets,
} from './report.ts';
import { benchReprice, type RepriceBench } from './reprice.ts';
import { createScratchDatabase, type ScratchDatabase } from './scratch-database.ts';

const env = process.env;
const QUICK = env.BENCH_QUICK === '1';
const DURATION_S = Number(env.BENCH_DURATION ?? (QUICK ? 2 : 5));
const WARMUP_S = Number(env.BENCH_WARMUP ?? (QUICK ? 1 : 2));
const REPEATS = Math.max(1, Number(env.BENCH_REPEATS ?? 3));
const TTFB_REQUESTS = QUICK ? 50 : 100;
const RECORDER_ROWS = Number(env.BENCH_RECORDER_ROWS ?? (QUICK ? 1000 : 3000));
const PROFILE = env.BENCH_PROFILE === '1';
/** usage rows the reprice case corrects while the JSON load runs; 0: no reprice case */
const REPRICE_ROWS = Number(env.BENCH_REPRICE_ROWS ?? (QUICK ? 20_000 : 100_000));
const BACKENDS = (env.BENCH_BACKENDS ?? 'pglite,postgres').split(',');
const GATEWAY_NODE_ARGS = (env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean);
/** the baseline build's extra node flags (BENCH_BASELINE_NODE_ARGS; default: the gateway's), for an A/B of a flag */
const BASELINE_NODE_ARGS = (env.BENCH_BASELINE_NODE_ARGS ?? env.BENCH_GATEWAY_NODE_ARGS ?? '')
  .split(' ')
  .filter(Boolean);
const ROOT = repositoryRoot();
/** another build of the gateway to measure with this harness (a checkout with its dist/ built) */
const GATEWAY_ROOT = env.BENCH_GATEWAY_ROOT ?? ROOT;
/**
 * a second build measured beside this one in the same run (`baseline/<backend>`, taking turns with
 * `gateway/<backend>`): an A/B on a shared machine, where two runs minutes apart differ by more than 5%
 */
const BASELINE_ROOT = env.BENCH_BASELINE_ROOT;
if (!(DURATION_S > 0 && WARMUP_S >= 0 && REPEATS >= 1 && RECORDER_ROWS >= 0))
  throw new Error('BENCH_DURATION, BENCH_WARMUP, BENCH_REPEATS and BENCH_RECORDER_ROWS must be numbers');
const TOOL = loadTool();

// the recorded request (test/fixtures/nonstream/hf-groq-gpt-oss-120b.request.json)
const REQUEST = {
  model: 'openai/gpt-oss-120b:groq',
  messages: [{ role: 'user', content: 'Explain in one sentence why the sky is blue.' }],
};
const HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` };
type Case = {
  name: string;
  stream: boolean;
  connections: number;
  /** client keys used in turn (created on each gateway); unset: the admin key */
  keys?: number;
  /** what those keys carry (default plain: no limits) */
  keyKind?: KeyKind;
  /** the prompt's size in bytes; unset: the recorded one-sentence prompt */
  promptBytes?: number;
};
const CASES: readonly Case[] = [
  { name: 'json c=1', stream: false, connections: 1 },
  { name: 'json c=16', stream: false, connections: 16 },
  { name: 'json c=64', stream: false, connections: 64 },
  { name: 'json c=256', stream: false, connections: 256 },
  { name: 'stream c=16', stream: true, connections: 16 },
  { name: 'json c=16 keys=1000', stream: false, connections: 16, keys: 1000 },
  // one client key each: a key without limits, one with a budget, one with a budget and RPM/TPM limits,
  // an account's key (its balance reserved like a budget)
  { name: 'json c=16 key', stream: false, connections: 16, keys: 1 },
  { name: 'json c=16 key+budget', stream: false, connections: 16, keys: 1, keyKind: 'budget' },
  { name: 'json c=16 key+limits', stream: false, connections: 16, keys: 1, keyKind: 'limited' },
  { name: 'json c=16 key+account', stream: false, connections: 16, keys: 1, keyKind: 'account' },
  { name: 'json c=16 prompt=32KB', stream: false, connections: 16, promptBytes: 32 * 1024 },
];
/** BENCH_CASES='json c=16,stream c=16' runs only those (for profiling one case). */
const SELECTED = env.BENCH_CASES?.split(',').map((name) => name.trim());
const RUN_CASES = CASES.filter((c) => !SELECTED || SELECTED.includes(c.name));
/** the reprice case runs with every case, or alone with BENCH_CASES=reprice */
const RUN_REPRICE = REPRICE_ROWS > 0 && (!SELECTED || SELECTED.includes('reprice'));
const T0 = performance.now();
/** A progress line on stderr, stamped with the seconds since the start. */
const progress = (line: string) =>
  console.error(`[${((performance.now() - T0) / 1000).toFixed(0).padStart(3)} s] ${line}`);

function bodyOf(c: Case): string {
  const sentence = REQUEST.messages[0]?.content ?? '';
  const content = c.promptBytes
    ? `${sentence} `.repeat(Math.ceil(c.promptBytes / (sentence.length + 1))).slice(0, c.promptBytes)
    : sentence;
  return JSON.stringify({
    ...REQUEST,
    messages: [{ role: 'user', content }],
    ...(c.stream ? { stream: true } : {}),
  });
}

/** What one measured run adds to the load generator's figures (CPU, rows per INSERT, the rows check). */
type Probe<S> = {
  before(): Promise<S>;
  after(state: S, run: LoadResult): Promise<Partial<Record<Figure, number | null>> & { check?: string }>;
};

/**
 * One thing under load: the mock directly, the bare proxy, or the gateway on one backend. Every target
 * runs from the start to the end, so a case's runs take turns across targets (run 1 of each, then run
 * 2 of each, …): a busy moment of a shared machine touches all of them, not one.
 */
type Target = {
  name: string;
  url: string;
  pid: number;
  /** the keys a case sends in turn (created on a gateway; made up for direct and the bare proxy) */
  keys: (c: Case) => readonly string[] | undefined;
  probe: (c: Case) => Probe<unknown>;
  gateway?: GatewayProcess;
};

type Run = Partial<Record<Figure, number | null>>;

const perRequest = (seconds: number, requests: number) => (requests > 0 ? (seconds * 1e6) / requests : null);

/** CPU µs per request of `pid` over a run (direct: the mock's own; bare proxy: the proxy's). */
function cpuProbe(pid: number): Probe<number> {
  return {
    before: async () => cpuSeconds(pid),
    after: async (cpu, run) => ({ cpu_us_per_req: perRequest(cpuSeconds(pid) - cpu, run.ok + run.failed) }),
  };
}

type GatewayReading = {
  answered: number;
  rows: number;
  inserts: number;
  committed: number;
  cpu: number;
  db: Map<number, number> | undefined;
  since: number;
};

async function readGateway(
  gateway: GatewayProcess,
  databaseUrl: string | undefined,
): Promise<GatewayReading> {
  // the last replies land first (the load generator abandons some at its end); then the counters,
  // then the CPU clock, last thing before the load
  const { all } = await settle(gateway.base);
  const rows = await usageRows(gateway.base);
  const ledger = await ledgerCounters(gateway.base);
  const db = databaseUrl ? await backendCpu(databaseUrl) : undefined;
  return {
    answered: all,
    rows,
    inserts: ledger.inserts,
    committed: ledger.rows,
    db,
    cpu: cpuSeconds(gateway.pid),
    since: monotonicUs(),
  };
}

/** A gateway's run: its CPU and its backends', rows per INSERT, rows against answers; the profile window. */
function gatewayProbe(
  gateway: GatewayProcess,
  databaseUrl: string | undefined,
  c: Case,
  windows: Array<[number, number]>,
): Probe<GatewayReading> {
  return {
    before: () => readGateway(gateway, databaseUrl),
    async after(before, run) {
      const cpu = cpuSeconds(gateway.pid) - before.cpu;
      windows.push([before.since, monotonicUs()]);
      const db = databaseUrl && before.db ? await backendCpu(databaseUrl) : undefined;
      const now = await readGateway(gateway, undefined);
      const answered = now.answered - before.answered;
      const inserts = now.inserts - before.inserts;
      return {
        cpu_us_per_req: perRequest(cpu, answered),
        db_cpu_us_per_req: db && before.db ? perRequest(cpuBetween(before.db, db), answered) : null,
        rows_per_insert: inserts > 0 ? (now.committed - before.committed) / inserts : null,
        answered,
        rows: now.rows - before.rows,
        check: rowsCheck({
          rows: now.rows - before.rows,
          gatewayAnswered: answered,
          ok: run.ok,
          failed: run.failed,
          inFlightAtCutoff: c.connections,
        }),
      };
    },
  };
}

/** One case on every target: warm-ups, then REPEATS rounds of one run per target. */
async function measureCase(c: Case, targets: Target[]): Promise<CaseRow[]> {
  const body = bodyOf(c);
  const options = (t: Target) => ({
    url: t.url,
    connections: c.connections,
    body,
    headers: HEADERS,
    keys: t.keys(c),
  });
  for (const t of targets) await runLoad(TOOL, { ...options(t), durationS: WARMUP_S });
  const runs = new Map<string, Run[]>(targets.map((t) => [t.name, []]));
  const totals = new Map<string, { ok: number; failed: number; checks: string[] }>(
    targets.map((t) => [t.name, { ok: 0, failed: 0, checks: [] }]),
  );
  for (let i = 0; i < REPEATS; i++) {
    for (const t of targets) {
      const probe = t.probe(c);
      const state = await probe.before();
      const run = await runLoad(TOOL, { ...options(t), durationS: DURATION_S });
      const { check, ...extra } = await probe.after(state, run);
      runs.get(t.name)?.push({ rps: run.rps, p50_ms: run.p50_ms, p99_ms: run.p99_ms, ...extra });
      const total = totals.get(t.name) as { ok: number; failed: number; checks: string[] };
      total.ok += run.ok;
      total.failed += run.failed;
      if (check && check !== 'ok') total.checks.push(`run ${i + 1}: ${check}`);
    }
  }
  const of = (name: string) => runs.get(name) ?? [];
  /** run by run, a figure of this target over the same figure of `other` in the same round */
  const ratios = (mine: Run[], other: Run[], figure: Figure) => {
    const values = mine
      .map((r, i) => (r[figure] ?? Number.NaN) / (other[i]?.[figure] ?? Number.NaN))
      .filter(Number.isFinite);
    return values.length > 0 ? spread(values) : null;
  };
  return targets.map((t) => {
    const mine = of(t.name);
    const total = totals.get(t.name) as { ok: number; failed: number; checks: string[] };
    const figures = spreads(mine);
    const gateway = t.gateway !== undefined;
    const sum = (figure: Figure) => mine.reduce((n, r) => n + (r[figure] ?? 0), 0);
    return {
      target: t.name,
      case: c.name,
      stream: c.stream,
      connections: c.connections,
      figures,
      rps: figures.rps?.median ?? Number.NaN,
      ratio: ratios(mine, of('direct'), 'rps')?.median ?? Number.NaN,
      bare_rps_ratio: gateway ? ratios(mine, of('bare-proxy'), 'rps') : null,
      bare_cpu_ratio: gateway ? ratios(mine, of('bare-proxy'), 'cpu_us_per_req') : null,
      ok: total.ok,
      failed: total.failed,
      peak_rss_mb: t.name === 'direct' ? null : peakRssMb(t.pid),
      gateway_answered: gateway ? sum('answered') : null,
      rows: gateway ? sum('rows') : null,
      rows_check: gateway ? (total.checks.length === 0 ? 'ok' : total.checks.join('; ')) : null,
    };
  });
}

/** Direct and the bare proxy send as many distinct keys as the gateway's case (they check none). */
const fakeKeys = (c: Case) =>
  c.keys ? Array.from({ length: c.keys }, (_, i) => `tg_bench_${String(i).padStart(40, '0')}`) : undefined;

/** CLOCK_MONOTONIC in µs: the clock V8 stamps CPU profile samples with. */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** Starts a child that prints its port on its first line of stdout. */
async function startChild(core: number, script: string, args: string[], env?: Record<string, string>) {
  const child = spawnOn(core, process.execPath, [...(env ? PRODUCTION_NODE_ARGS : []), script, ...args], env);
  const output = collect(child);
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout?.once('data', (d: Buffer) => resolve(String(d).trim()));
    child.once('exit', () => reject(new Error(`${script} did not start`)));
  });
  return { child, output, port, pid: child.pid as number };
}

async function main(): Promise<void> {
  const loadAtStart = loadavg();
  const pressureAtStart = cpuPressure();
  pinSelf();
  const fixtures = loadFixtures(ROOT);
  const mock = await startChild(CORE.mock, join(ROOT, 'dist', 'bench', 'mock-upstream.js'), ['0']);
  const upstream = `http://127.0.0.1:${mock.port}`;
  const directUrl = `${upstream}/v1/chat/completions`;
  const serverUrl = env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const pg: ScratchDatabase | undefined = BACKENDS.includes('postgres')
    ? await createScratchDatabase(serverUrl, 'tollgate_bench').catch((err: unknown) => {
        console.error(`PostgreSQL at ${serverUrl} not usable (${String(err)}): PGlite only`);
        return undefined;
      })
    : undefined;
  /** the baseline build's databases, dropped with pg */
  const scratch: ScratchDatabase[] = [];
  const database: Results['database'] = {
    postgres: pg ? await databaseSettings(pg.url) : null,
    pglite: pgliteVersion(ROOT),
  };
  // the same stack with nothing of ours: Hono + undici, bytes through, on the gateway's core
  const bare = await startChild(
    CORE.gateway,
    join(ROOT, 'dist', 'bench', 'bare-proxy.js'),
    [upstream, '0'],
    PRODUCTION_ENV,
  );

  const cases: CaseRow[] = [];
  const ttfb: Results['ttfb'] = {
    requests: TTFB_REQUESTS,
    repeats: REPEATS,
    median_ms: {},
    added_ms: {},
    beyond_bare_ms: {},
  };
  const profiles: Record<string, string> = {};
  const gateways: Array<{ gateway: GatewayProcess; windows: Array<[number, number]>; build: string }> = [];
  let recorder: Results['recorder'] = null;
  let reprice: RepriceBench | { error: string } | null = null;
  try {
    const targets: Target[] = [
      { name: 'direct', url: directUrl, pid: mock.pid, keys: fakeKeys, probe: () => cpuProbe(mock.pid) },
      {
        name: 'bare-proxy',
        url: `http://127.0.0.1:${bare.port}/v1/chat/completions`,
        pid: bare.pid,
        keys: fakeKeys,
        probe: () => cpuProbe(bare.pid),
      },
    ];
    const backends: Array<[string, string | undefined]> = [];
    if (BACKENDS.includes('pglite')) backends.push(['pglite', undefined]);
    if (pg) backends.push(['postgres', pg.url]);
    const kinds = [...new Set(RUN_CASES.filter((c) => c.keys).map((c) => c.keyKind ?? 'plain'))];
    const most = (kind: KeyKind) =>
      Math.max(0, ...RUN_CASES.filter((c) => (c.keyKind ?? 'plain') === kind).map((c) => c.keys ?? 0));
    const builds: Array<[string, string]> = [['gateway', GATEWAY_ROOT]];
    if (BASELINE_ROOT) builds.push(['baseline', BASELINE_ROOT]);
    for (const [build, root] of builds)
      for (const [backend, baseUrl] of backends) {
        // each build its own scratch database, so neither one's rows or locks slow the other
        const extra =
          baseUrl && build !== 'gateway' ? await createScratchDatabase(serverUrl, 'tollgate_base') : null;
        if (extra) scratch.push(extra);
        const databaseUrl = extra?.url ?? baseUrl;
        const gateway = await startGateway({
          root,
          backend,
          upstream,
          databaseUrl,
          profile: PROFILE,
          nodeArgs: build === 'gateway' ? GATEWAY_NODE_ARGS : BASELINE_NODE_ARGS,
        });
        const windows: Array<[number, number]> = [];
        gateways.push({ gateway, windows, build });
        const keys = new Map<KeyKind, string[]>();
        for (const kind of kinds) keys.set(kind, await createKeys(gateway.base, most(kind), kind));
        targets.push({
          name: `${build}/${backend}`,
          url: `${gateway.base}/v1/chat/completions`,
          pid: gateway.pid,
          keys: (c) => (c.keys ? keys.get(c.keyKind ?? 'plain')?.slice(0, c.keys) : undefined),
          probe: (c) => gatewayProbe(gateway, databaseUrl, c, windows) as Probe<unknown>,
          gateway,
        });
        progress(`gateway on ${backend} ready`);
      }
    progress(
      `load generator: ${TOOL}; ${REPEATS} × ${DURATION_S} s per case and target; fixtures: ${fixtures.source}`,
    );
    for (const c of RUN_CASES) {
      const rows = await measureCase(c, targets);
      cases.push(...rows);
      for (const row of rows) {
        if (row.rows_check && row.rows_check !== 'ok')
          console.error(`\n*** ${row.target} ${c.name}: ${row.rows_check} ***\n`);
      }
      progress(`${c.name}: ${rows.map((r) => `${r.target} ${r.rps.toFixed(0)}`).join(', ')} req/s`);
    }
    // every run times direct, the bare proxy and each gateway in turn, one request each at a time
    const ttfbTargets = [
      { name: 'direct', url: directUrl },
      { name: 'bare-proxy', url: `http://127.0.0.1:${bare.port}/v1/chat/completions` },
      // the baseline under its own name: the same backend's name would overwrite the gateway's figures
      ...gateways.map(({ gateway, build }) => ({
        name: build === 'gateway' ? gateway.backend : `${build}/${gateway.backend}`,
        url: `${gateway.base}/v1/chat/completions`,
      })),
    ];
    const samples = ttfbTargets.map((): number[] => []);
    const added = ttfbTargets.map((): number[] => []);
    const beyondBare = ttfbTargets.map((): number[] => []);
    for (let i = 0; i < REPEATS; i++) {
      const runs = await timeToFirstByte(
        ttfbTargets.map((t) => t.url),
        { n: TTFB_REQUESTS, body: bodyOf({ name: 'ttfb', stream: true, connections: 1 }), headers: HEADERS },
      );
      const medians = runs.map((run) => median([...run].sort((a, b) => a - b)));
      runs.forEach((run, t) => {
        samples[t]?.push(...run);
        added[t]?.push((medians[t] ?? 0) - (medians[0] ?? 0));
        beyondBare[t]?.push((medians[t] ?? 0) - (medians[1] ?? 0));
      });
    }
    ttfbTargets.forEach((t, i) => {
      ttfb.median_ms[t.name] = median((samples[i] ?? []).sort((a, b) => a - b));
      if (i > 0) ttfb.added_ms[t.name] = spread(added[i] ?? []);
      if (i > 1) ttfb.beyond_bare_ms[t.name] = spread(beyondBare[i] ?? []);
    });
    // last: it leaves REPRICE_ROWS rows and their corrections in the PostgreSQL gateway's database
    const onPostgres = gateways.find(({ gateway }) => gateway.backend === 'postgres')?.gateway;
    if (RUN_REPRICE && onPostgres && pg) {
      reprice = await benchReprice({
        base: onPostgres.base,
        databaseUrl: pg.url,
        tool: TOOL,
        rows: REPRICE_ROWS,
        connections: 16,
        durationS: Math.max(DURATION_S, 10),
        body: bodyOf({ name: 'reprice', stream: false, connections: 16 }),
        progress,
      }).catch((err: unknown) => ({ error: String(err) }));
    }
  } finally {
    for (const { gateway } of gateways) await gateway.stop();
    await stop(bare.child);
    await bare.output;
  }
  for (const { gateway, windows, build } of gateways) {
    if (!gateway.profileDir) continue;
    // the baseline build's profile is its own: its requests, under its own name
    const target = `${build}/${gateway.backend}`;
    const requests = cases
      .filter((r) => r.target === target)
      .reduce((n, r) => n + (r.gateway_answered ?? 0), 0);
    for (const [file, summary] of summarizeProfileDir(gateway.profileDir, { windows, requests }))
      console.log(`\nCPU profile of ${target} (${file}):\n${summary}`);
    profiles[build === 'gateway' ? gateway.backend : target] = gateway.profileDir;
  }
  try {
    if (pg && RECORDER_ROWS > 0) {
      progress(`recorder: ${RECORDER_ROWS} rows per case into PostgreSQL`);
      recorder = await benchRecorder(serverUrl, { rows: RECORDER_ROWS }).catch((err: unknown) => ({
        error: String(err),
      }));
    }
  } finally {
    await stop(mock.child);
    await mock.output;
    await pg?.drop();
    for (const extra of scratch) await extra.drop();
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
        ? `taskset: load generator on core ${CORE.load}, mock on core ${CORE.mock}, proxies on core ${CORE.gateway}`
        : `not pinned (${CORES} core(s), taskset ${TASKSET ? 'found' : 'missing'})`,
      duration_s: DURATION_S,
      warmup_s: WARMUP_S,
      repeats: REPEATS,
      mock_delay_ms: Number(env.MOCK_DELAY_MS ?? 0),
      gateway_node_args: GATEWAY_NODE_ARGS.join(' '),
      gateway_root: GATEWAY_ROOT === ROOT ? null : GATEWAY_ROOT,
      fixtures: fixtures.source,
      postgres: pg ? serverUrl.replace(/\/\/[^@/]*@/, '//') : null,
    },
    database,
    cases,
    ttfb,
    recorder,
    reprice,
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

/** The embedded database's version, from its package. */
function pgliteVersion(root: string): string {
  const file = join(root, 'node_modules', '@electric-sql', 'pglite', 'package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
