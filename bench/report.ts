// The benchmark's results: the shape written to bench/results.json, the rows-vs-answers check, the
// targets of issue 5 weighed against the figures, and the Markdown table printed at the end.
import { cpus, release } from 'node:os';
import type { RecorderResult } from './recorder.ts';

/** The machine a result was measured on. */
export function machine() {
  return {
    nproc: cpus().length,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    kernel: release(),
  };
}

export type CaseRow = {
  target: string;
  case: string;
  stream: boolean;
  connections: number;
  /** responses/s (median over repeats) and latency of the 2xx responses, ms */
  rps: number;
  p50_ms: number;
  p99_ms: number;
  /** rps ÷ direct-to-mock rps for the same case, same run */
  ratio: number;
  /** 2xx responses the load generator received, and everything else it saw (non-2xx, errors) */
  ok: number;
  failed: number;
  /** CPU µs (user + system) per answered request: the gateway's and its PostgreSQL backends'; for direct, the mock's */
  cpu_us_per_req: number | null;
  db_cpu_us_per_req: number | null;
  /** gateway only: the process's peak RSS so far (VmHWM), MB */
  peak_rss_mb: number | null;
  /** gateway only: completions it answered (any status), and usage rows committed meanwhile */
  gateway_answered: number | null;
  rows: number | null;
  /** 'ok', or what does not add up */
  rows_check: string | null;
};

export type Results = {
  date: string;
  machine: {
    nproc: number;
    cpu: string;
    node: string;
    kernel: string;
    /** other work on the machine: load averages and PSI CPU pressure (some, avg60, %) */
    loadavg_at_start: number[];
    cpu_pressure_at_start: number | null;
    loadavg_at_end: number[];
  };
  settings: {
    load_tool: string;
    pinned: string;
    duration_s: number;
    warmup_s: number;
    repeats: number;
    mock_delay_ms: number;
    gateway_node_args: string;
    fixtures: string;
    postgres: string | null;
  };
  cases: CaseRow[];
  ttfb: {
    requests: number;
    median_ms: Record<string, number>;
    /** median through the gateway − median direct, ms */
    added_ms: Record<string, number>;
  };
  recorder: RecorderResult | { error: string } | null;
  targets: Target[];
  /** path of each CPU profile summary, when BENCH_PROFILE=1 */
  profiles?: Record<string, string>;
};

export type Target = { what: string; value: number | null; goal: string; met: boolean };

/** Every answer the gateway gave has exactly one row, and every 2xx the client got is among them. */
export function rowsCheck(r: {
  rows: number;
  gatewayAnswered: number;
  ok: number;
  failed: number;
  inFlightAtCutoff: number;
}): string {
  const problems: string[] = [];
  if (r.rows !== r.gatewayAnswered)
    problems.push(`${r.gatewayAnswered} answered by the gateway but ${r.rows} rows`);
  if (r.rows < r.ok) problems.push(`${r.ok} 2xx received but only ${r.rows} rows`);
  // the load generator stops mid-flight: at most one request per connection is answered after it left
  if (r.rows > r.ok + r.failed + r.inFlightAtCutoff)
    problems.push(`${r.rows} rows for ${r.ok} 2xx (+${r.inFlightAtCutoff} possibly abandoned at the cutoff)`);
  return problems.length === 0 ? 'ok' : `MISMATCH: ${problems.join('; ')}`;
}

export function weighTargets(results: Pick<Results, 'cases' | 'ttfb'>): Target[] {
  const find = (target: string, name: string) =>
    results.cases.find((c) => c.target === target && c.case === name);
  const targets: Target[] = [];
  const push = (what: string, value: number | null | undefined, goal: string, met: (v: number) => boolean) =>
    targets.push({
      what,
      value: value ?? null,
      goal,
      met: value != null && Number.isFinite(value) && met(value),
    });
  const pg = find('gateway/postgres', 'json c=16');
  push('PostgreSQL, JSON c=16, req/s', pg?.rps, '≥ 10000', (v) => v >= 10_000);
  push('PostgreSQL, JSON c=16, gateway CPU µs/req', pg?.cpu_us_per_req, '≤ 100', (v) => v <= 100);
  push('PGlite, JSON c=16, req/s', find('gateway/pglite', 'json c=16')?.rps, '≥ 3000', (v) => v >= 3000);
  for (const backend of ['postgres', 'pglite']) {
    const gateway = results.cases.filter((c) => c.target === `gateway/${backend}`);
    if (gateway.length === 0) continue;
    push(
      `${backend}: streaming c=16, × direct`,
      find(`gateway/${backend}`, 'stream c=16')?.ratio,
      '≥ 0.85',
      (v) => v >= 0.85,
    );
    push(`${backend}: TTFB added, ms`, results.ttfb.added_ms[backend], '≤ 0.5', (v) => v <= 0.5);
    push(
      `${backend}: peak RSS, MB`,
      Math.max(...gateway.map((c) => c.peak_rss_mb ?? 0)),
      '≤ 200',
      (v) => v <= 200,
    );
  }
  return targets;
}

const fmt = (n: number | null | undefined, digits = 0) =>
  n === null || n === undefined || Number.isNaN(n) ? '—' : n.toFixed(digits);

/** The gateway's CPU per request over the bare proxy's, case by case: what metering costs on this stack. */
function againstBareProxy(cases: CaseRow[]): string[] {
  const lines: string[] = [];
  for (const gateway of cases.filter((c) => c.target.startsWith('gateway/'))) {
    const bare = cases.find((c) => c.target === 'bare-proxy' && c.case === gateway.case);
    if (!bare?.cpu_us_per_req || !gateway.cpu_us_per_req) continue;
    lines.push(
      `${gateway.target} ${gateway.case}: ${fmt(gateway.cpu_us_per_req / bare.cpu_us_per_req, 2)}× the bare proxy's CPU per request, ${fmt(gateway.rps / bare.rps, 2)}× its req/s`,
    );
  }
  return lines.length > 0 ? [...lines, ''] : [];
}

export function formatResults(results: Results): string {
  const { machine, settings } = results;
  const lines = [
    `Tollgate benchmark — ${results.date}`,
    `${machine.nproc}× ${machine.cpu}, Node ${machine.node}, Linux ${machine.kernel}`,
    `other load on the machine: load average ${machine.loadavg_at_start.map((l) => l.toFixed(2)).join(' ')} at start, ` +
      `${machine.loadavg_at_end.map((l) => l.toFixed(2)).join(' ')} at end; CPU pressure ${fmt(machine.cpu_pressure_at_start, 0)}% (PSI some avg60) at start`,
    `load: ${settings.load_tool}; ${settings.pinned}; ${settings.duration_s} s per case after ${settings.warmup_s} s warm-up` +
      `${settings.repeats > 1 ? `, median of ${settings.repeats} runs` : ''}; mock delay ${settings.mock_delay_ms} ms` +
      `${settings.gateway_node_args ? `; gateway node flags: ${settings.gateway_node_args}` : ''}`,
    '',
    '| target | case | req/s | p50 ms | p99 ms | × direct | CPU µs/req (db) | peak RSS MB | 2xx | rows | rows check |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...results.cases.map(
      (r) =>
        `| ${r.target} | ${r.case} | ${fmt(r.rps)} | ${fmt(r.p50_ms, 2)} | ${fmt(r.p99_ms, 2)} | ${fmt(r.ratio, 2)} | ${fmt(r.cpu_us_per_req)}${r.db_cpu_us_per_req === null ? '' : ` (${fmt(r.db_cpu_us_per_req)})`} | ${fmt(r.peak_rss_mb)} | ${r.ok}${r.failed ? ` (+${r.failed} failed)` : ''} | ${r.rows ?? '—'} | ${r.rows_check ?? '—'} |`,
    ),
    '',
    ...againstBareProxy(results.cases),
    `Streaming time to first byte, 1 connection, median of ${results.ttfb.requests}: ` +
      Object.entries(results.ttfb.median_ms)
        .map(([k, v]) => `${k} ${fmt(v, 3)} ms`)
        .join(', ') +
      `; added by the gateway: ${
        Object.entries(results.ttfb.added_ms)
          .map(([k, v]) => `${k} ${fmt(v, 3)} ms`)
          .join(', ') || '—'
      }`,
  ];
  const recorder = results.recorder;
  if (recorder && 'cases' in recorder) {
    lines.push(
      '',
      `Recorder alone into PostgreSQL (pool of ${recorder.pool}), rows/s, group commit vs one INSERT per row:`,
    );
    for (const r of recorder.cases)
      lines.push(
        `  ${String(r.writers).padStart(2)} writers: ${fmt(r.grouped_rows_per_s)} vs ${fmt(r.single_rows_per_s)} (${fmt(r.speedup, 2)}×); ` +
          `${fmt(r.grouped_rows_per_insert, 1)} rows per INSERT; record() p50/p99 ${fmt(r.grouped_p50_ms, 2)}/${fmt(r.grouped_p99_ms, 2)} ms`,
      );
  } else if (recorder) lines.push('', `Recorder benchmark failed: ${recorder.error}`);
  lines.push('', 'Targets:');
  for (const t of results.targets)
    lines.push(
      `  ${t.met ? 'met   ' : 'MISSED'} ${t.what}: ${fmt(t.value, t.value !== null && t.value < 10 ? 3 : 0)} (target ${t.goal})`,
    );
  return lines.join('\n');
}
