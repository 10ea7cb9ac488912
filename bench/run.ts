// `npm run bench`: in one run, the mock upstream directly and the gateway in front of it (PGlite, and
// PostgreSQL when reachable): requests/s, p50/p99, ratio to direct, gateway CPU µs per request, peak
// RSS, rows written; streaming time to first byte; the recorder's rows/s. Prints a table and writes
// bench/results.json. BENCH_DURATION (s per case, default 8), BENCH_QUICK=1 (2 s), BENCH_DATABASE_URL.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { request } from 'undici';
import { benchRecorder, type RecorderResult } from './recorder.ts';
import { createScratchDatabase, type ScratchDatabase } from './scratch-database.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const DURATION_S = Number(process.env.BENCH_DURATION ?? (QUICK ? 2 : 8));
const WARMUP_S = QUICK ? 1 : 2;
const ADMIN = 'bench-admin-key-0123456789';
const ROOT = findRoot();
const HAS_TASKSET = existsSync('/usr/bin/taskset');
const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;
const BODY = JSON.stringify({
  model: 'openai/gpt-oss-120b:groq',
  messages: [{ role: 'user', content: 'What is the capital of France?' }],
});
const STREAM_BODY = JSON.stringify({ ...JSON.parse(BODY), stream: true });

type Case = { name: string; target: string; stream: boolean; connections: number };
type Row = Case & {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  ratio: number | null;
  cpu_us_per_req: number | null;
  peak_rss_mb: number | null;
  answered: number;
  rows_written: number | null;
};

function findRoot(): string {
  for (let dir = import.meta.dirname; dirname(dir) !== dir; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'drizzle'))) return dir;
  }
  throw new Error('repository root not found');
}

/** Spawns a process, pinned to a core when taskset exists (load and mock on 0, gateway on 1). */
function spawnPinned(core: number, args: string[], env: Record<string, string> = {}): ChildProcess {
  const [cmd, ...rest] = HAS_TASKSET
    ? ['taskset', '-c', String(core), process.execPath, ...args]
    : [process.execPath, ...args];
  return spawn(cmd as string, rest, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`process exited before ${url} answered`);
    try {
      const res = await request(url);
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never answered`);
}

/** The real pid behind taskset (taskset execs, so it is the same pid). */
const cpuTicks = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return Number(fields[11]) + Number(fields[12]); // utime + stime
};
const peakRssMb = (pid: number) =>
  Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

type LoadResult = { rps: number; p50: number; p99: number; answered: number; errors: number };

async function autocannon(
  url: string,
  { connections, duration, stream }: { connections: number; duration: number; stream: boolean },
): Promise<LoadResult> {
  const child = spawnPinned(0, [
    join(ROOT, 'node_modules', 'autocannon', 'autocannon.js'),
    '--json',
    '-c',
    String(connections),
    '-d',
    String(duration),
    '-m',
    'POST',
    '-H',
    'content-type=application/json',
    '-H',
    `authorization=Bearer ${ADMIN}`,
    '-b',
    stream ? STREAM_BODY : BODY,
    url,
  ]);
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  await new Promise((resolve) => child.on('exit', resolve));
  const r = JSON.parse(out) as {
    requests: { average: number };
    latency: { p50: number; p99: number };
    '2xx': number;
    non2xx: number;
    errors: number;
  };
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    answered: r['2xx'],
    errors: r.non2xx + r.errors,
  };
}

/** Completions the gateway itself answered and metered, from /metrics (the load generator may abandon a few at the end). */
async function completions(base: string): Promise<number> {
  const res = await request(`${base}/metrics`);
  const text = await res.body.text();
  let total = 0;
  for (const match of text.matchAll(/^tollgate_completions_total\{[^}]*\} (\d+)/gm))
    total += Number(match[1]);
  return total;
}

async function usageRows(base: string): Promise<number> {
  const res = await request(`${base}/usage?limit=1`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return ((await res.body.json()) as { totals: { requests: number } }).totals.requests;
}

/** Median time to the first body byte of a streamed completion, over `n` sequential requests (ms). */
async function ttfb(url: string, n: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    const res = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
      body: STREAM_BODY,
    });
    for await (const _ of res.body) {
      samples.push(performance.now() - start);
      break;
    }
    await res.body.dump().catch(() => {});
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] ?? Number.NaN;
}

/** A fresh database on BENCH_DATABASE_URL's server (or the local one); undefined when none answers. */
async function postgresUrl(): Promise<ScratchDatabase | undefined> {
  const server = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  return createScratchDatabase(server, 'tollgate_bench').catch(() => undefined);
}

const CASES: Array<Omit<Case, 'name' | 'target'>> = [
  { stream: false, connections: 1 },
  { stream: false, connections: 16 },
  { stream: false, connections: 64 },
  { stream: true, connections: 16 },
];

async function main() {
  const mockPort = await freePort();
  const mock = spawnPinned(0, [join(ROOT, 'dist', 'bench', 'mock-upstream.js'), String(mockPort)]);
  const upstream = `http://127.0.0.1:${mockPort}`;
  await new Promise((r) => mock.stdout?.once('data', r));
  const rows: Row[] = [];
  const direct = new Map<string, number>();
  const ttfbMs: Record<string, number> = {};
  let recorder: RecorderResult | undefined;
  const pg = await postgresUrl();
  try {
    for (const c of CASES) {
      const url = `${upstream}/v1/chat/completions`;
      await autocannon(url, { ...c, duration: WARMUP_S });
      const r = await autocannon(url, { ...c, duration: DURATION_S });
      const name = `${c.stream ? 'stream' : 'json'} c=${c.connections}`;
      direct.set(name, r.rps);
      rows.push({
        ...c,
        name,
        target: 'direct',
        rps: r.rps,
        p50_ms: r.p50,
        p99_ms: r.p99,
        ratio: 1,
        cpu_us_per_req: null,
        peak_rss_mb: null,
        answered: r.answered,
        rows_written: null,
      });
    }
    ttfbMs.direct = await ttfb(`${upstream}/v1/chat/completions`, QUICK ? 50 : 200);

    const backends: Array<[string, Record<string, string>]> = [['pglite', {}]];
    if (pg) backends.push(['postgres', { DATABASE_URL: pg.url }]);
    for (const [backend, env] of backends) {
      const port = await freePort();
      const gateway = spawnPinned(1, [join(ROOT, 'dist', 'src', 'server.js')], {
        PORT: String(port),
        HOST: '127.0.0.1',
        DATA_DIR: mkdtempSync(join(tmpdir(), 'tollgate-bench-')),
        ADMIN_API_KEY: ADMIN,
        UPSTREAM_BASE_URL: `${upstream}/v1`,
        HF_TOKEN: 'bench',
        LOG_LEVEL: 'warn',
        ...env,
      });
      const base = `http://127.0.0.1:${port}`;
      await waitFor(`${base}/readyz`, gateway);
      const pid = gateway.pid as number;
      for (const c of CASES) {
        const url = `${base}/v1/chat/completions`;
        await autocannon(url, { ...c, duration: WARMUP_S });
        const before = { rows: await usageRows(base), ticks: cpuTicks(pid), served: await completions(base) };
        const r = await autocannon(url, { ...c, duration: DURATION_S });
        const ticks = cpuTicks(pid) - before.ticks;
        await new Promise((resolve) => setTimeout(resolve, 200)); // the last replies the generator abandoned
        const served = (await completions(base)) - before.served;
        const written = (await usageRows(base)) - before.rows;
        const name = `${c.stream ? 'stream' : 'json'} c=${c.connections}`;
        if (written !== served)
          console.error(`MISMATCH ${backend} ${name}: ${served} answered by the gateway, ${written} rows`);
        rows.push({
          ...c,
          name,
          target: `gateway/${backend}`,
          rps: r.rps,
          p50_ms: r.p50,
          p99_ms: r.p99,
          ratio: r.rps / (direct.get(name) ?? r.rps),
          cpu_us_per_req: served > 0 ? ((ticks / TICKS_PER_S) * 1e6) / served : null,
          peak_rss_mb: peakRssMb(pid),
          answered: served,
          rows_written: written,
        });
      }
      ttfbMs[backend] = await ttfb(`${base}/v1/chat/completions`, QUICK ? 50 : 200);
      gateway.kill('SIGTERM');
      await new Promise((r) => gateway.on('exit', r));
    }
    if (pg) recorder = await benchRecorder(pg.url, { rows: QUICK ? 2000 : 10_000 });
  } finally {
    mock.kill();
    await pg?.drop();
  }

  const machine = {
    date: new Date().toISOString(),
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    pinned: HAS_TASKSET,
    duration_s: DURATION_S,
  };
  const ttfbAdded = Object.fromEntries(
    Object.entries(ttfbMs)
      .filter(([k]) => k !== 'direct')
      .map(([k, v]) => [k, v - (ttfbMs.direct ?? 0)]),
  );
  writeFileSync(
    join(ROOT, 'bench', 'results.json'),
    `${JSON.stringify({ machine, cases: rows, ttfb_ms: ttfbMs, ttfb_added_ms: ttfbAdded, recorder }, null, 2)}\n`,
  );

  const fmt = (n: number | null, digits = 0) => (n === null || Number.isNaN(n) ? '—' : n.toFixed(digits));
  console.log(
    `\nTollgate benchmark — ${machine.date}, ${machine.cpus}× ${machine.cpu}, Node ${machine.node}, ${DURATION_S}s per case\n`,
  );
  console.log(
    '| target | case | req/s | p50 ms | p99 ms | × direct | CPU µs/req | peak RSS MB | answered | rows |',
  );
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.target} | ${r.name} | ${fmt(r.rps)} | ${fmt(r.p50_ms, 1)} | ${fmt(r.p99_ms, 1)} | ${fmt(r.ratio, 2)} | ${fmt(r.cpu_us_per_req)} | ${fmt(r.peak_rss_mb)} | ${r.answered} | ${r.rows_written ?? '—'} |`,
    );
  }
  console.log(
    `\nStreaming time to first byte, c=1, median: direct ${fmt(ttfbMs.direct ?? null, 2)} ms; added by the gateway: ${Object.entries(
      ttfbAdded,
    )
      .map(([k, v]) => `${k} ${fmt(v, 2)} ms`)
      .join(', ')}`,
  );
  if (recorder) {
    console.log('\nRecorder into PostgreSQL, rows/s (group commit vs one INSERT per row):');
    for (const r of recorder.cases)
      console.log(
        `  ${r.writers} writers: ${fmt(r.grouped_rows_per_s)} vs ${fmt(r.single_rows_per_s)} (${fmt(r.grouped_rows_per_s / r.single_rows_per_s, 1)}×)`,
      );
  }
  console.log('\nwritten bench/results.json');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
