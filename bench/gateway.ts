// The gateway under test as a child process on its own core, and what the benchmark reads from it:
// completions it answered (/metrics), usage rows committed (/usage totals), its PostgreSQL backends'
// CPU, and streaming time to first byte.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { Client, request } from 'undici';
import { CORE, cpuSeconds, freePort, spawnOn, stop, waitForHttp } from './processes.ts';

/** the flags `npm start` and the Dockerfile give node (the entry too: the bundle, dist/server.mjs) */
export const PRODUCTION_NODE_ARGS = ['--max-semi-space-size=16'];
/** and the environment they set */
export const PRODUCTION_ENV = { MALLOC_ARENA_MAX: '2' };

export const ADMIN_KEY = 'bench-admin-key-0123456789';
/**
 * The gateway's upstream token: shaped like a real one. The gateway redacts its token from every byte
 * the upstream sends back, so a one-letter token (an earlier bench used 'x') rewrote every reply and
 * measured the redaction of thousands of matches a real token never has. BENCH_HF_TOKEN overrides it.
 */
const HF_TOKEN = process.env.BENCH_HF_TOKEN ?? 'hf_benchBenchBenchBenchBenchBenchBench';
const CHAT_ROUTE = 'route="/v1/chat/completions"';

export type GatewayProcess = {
  /** what the gateway stores in: pglite or postgres */
  backend: string;
  base: string;
  pid: number;
  /** where the CPU profile goes when profiling, else undefined */
  profileDir: string | undefined;
  stop(): Promise<void>;
};

export async function startGateway({
  root,
  upstream,
  databaseUrl,
  backend = databaseUrl ? 'postgres' : 'pglite',
  profile,
  nodeArgs = [],
}: {
  root: string;
  backend?: string;
  /** the mock's origin */
  upstream: string;
  /** PostgreSQL; unset → PGlite in a fresh DATA_DIR */
  databaseUrl?: string | undefined;
  profile: boolean;
  /** extra flags for the gateway's node (BENCH_GATEWAY_NODE_ARGS), after the production ones */
  nodeArgs?: string[];
}): Promise<GatewayProcess> {
  const port = await freePort();
  const profileDir = profile ? mkdtempSync(join(tmpdir(), 'tollgate-bench-prof-')) : undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-bench-data-'));
  const child: ChildProcess = spawnOn(
    CORE.gateway,
    process.execPath,
    [
      ...PRODUCTION_NODE_ARGS,
      ...nodeArgs,
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      join(root, 'dist', 'server.mjs'),
    ],
    {
      ...PRODUCTION_ENV,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      ADMIN_API_KEY: ADMIN_KEY,
      UPSTREAM_BASE_URL: `${upstream}/v1`,
      HF_TOKEN,
      LOG_LEVEL: 'info',
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    },
  );
  let output = '';
  // the gateway logs a line per request: keep only the tail, for a failed start's message
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    output = (output + d).slice(-65_536);
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    output += d;
    // a gateway that complains under load is part of the result: pass it on
    process.stderr.write(`[gateway] ${d}`);
  });
  const base = `http://127.0.0.1:${port}`;
  const stopAndClean = async () => {
    await stop(child);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitForHttp(`${base}/readyz`, child, () => output);
  } catch (err) {
    await stopAndClean();
    throw err;
  }
  return { backend, base, pid: child.pid as number, profileDir, stop: stopAndClean };
}

/** Chat completions the gateway has answered so far: every status, and the 2xx among them. */
export async function answered(base: string): Promise<{ all: number; ok: number }> {
  const text = await get(`${base}/metrics`);
  let all = 0;
  let ok = 0;
  for (const [, labels = '', value] of text.matchAll(/^tollgate_http_requests_total\{([^}]*)\} (\S+)$/gm)) {
    if (!labels.includes(CHAT_ROUTE)) continue;
    all += Number(value);
    if (/status="2\d\d"/.test(labels)) ok += Number(value);
  }
  return { all, ok };
}

/** The recorder's counters from /metrics: rows committed and the INSERT statements that carried them. */
export async function ledgerCounters(base: string): Promise<{ rows: number; inserts: number }> {
  const text = await get(`${base}/metrics`);
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { rows: value('tollgate_usage_rows_committed'), inserts: value('tollgate_usage_inserts') };
}

/**
 * What a case's client keys carry: `plain`, no limits; `budget`, a budget alone; `limited`, a budget with RPM and TPM limits that a
 * run never reaches (as teams run keys: every request reserves, counts and settles); `account`, a key of
 * an account on a plan with a markup and a prepaid balance (every request reserves its worst-case charge).
 */
export type KeyKind = 'plain' | 'budget' | 'limited' | 'account';

async function admin(base: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await request(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode !== 201) throw new Error(`POST ${path} answered ${res.statusCode}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** `n` client keys of one kind, created through the admin API: their secrets. */
export async function createKeys(base: string, n: number, kind: KeyKind = 'plain'): Promise<string[]> {
  let limits: Record<string, unknown> = {};
  if (kind === 'budget') {
    limits = { monthly_budget_usd: '1000000' };
  } else if (kind === 'limited') {
    limits = { monthly_budget_usd: '1000000', rpm_limit: 1_000_000_000, tpm_limit: 1_000_000_000 };
  } else if (kind === 'account') {
    const plan = await admin(base, '/admin/plans', { name: 'bench', markup: '1.25' });
    const account = await admin(base, '/admin/accounts', { name: 'bench', plan_id: plan.id });
    await admin(base, `/admin/accounts/${account.id}/credits`, {
      amount_usd: '1000000',
      idempotency_key: 'bench',
    });
    limits = { account_id: account.id };
  }
  const keys: string[] = [];
  for (let i = 0; i < n; i++) {
    const created = await admin(base, '/admin/keys', { name: `bench-${kind}-${i}`, ...limits });
    keys.push(created.key as string);
  }
  return keys;
}

/** What the PostgreSQL server says of the settings that decide a commit's cost. */
export async function databaseSettings(url: string): Promise<Record<string, string>> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<Record<string, string>[]>`
      select current_setting('server_version') as server_version,
             current_setting('synchronous_commit') as synchronous_commit,
             current_setting('fsync') as fsync,
             current_setting('wal_sync_method') as wal_sync_method,
             current_setting('shared_buffers') as shared_buffers`;
    return { ...row };
  } finally {
    await sql.end();
  }
}

/** Usage rows committed so far, as an admin reads them. */
export async function usageRows(base: string): Promise<number> {
  const text = await get(`${base}/usage?limit=1`);
  return (JSON.parse(text) as { totals: { requests: number } }).totals.requests;
}

/** GET on a connection of its own (`reset`: a kept-alive one may be closed by the server meanwhile). */
async function get(url: string): Promise<string> {
  const res = await request(url, { headers: { authorization: `Bearer ${ADMIN_KEY}` }, reset: true });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET ${url} answered ${res.statusCode}: ${text}`);
  return text;
}

/** Waits until the gateway's answered count stops moving (the replies the load generator abandoned at its end). */
export async function settle(base: string): Promise<{ all: number; ok: number }> {
  let last = await answered(base);
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await answered(base);
    if (now.all === last.all) return now;
    last = now;
  }
  return last;
}

/**
 * CPU seconds of every server process serving the database `url` names (the gateway's pool), by pid,
 * or undefined when the server is not on this machine.
 */
export async function backendCpu(url: string): Promise<Map<number, number> | undefined> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ pid: number }[]>`
      select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`;
    const cpu = new Map<number, number>();
    for (const { pid } of rows) cpu.set(pid, cpuSeconds(pid));
    return cpu;
  } catch {
    return undefined;
  } finally {
    await sql.end();
  }
}

/** CPU seconds the backends spent between two readings (a backend born in between counts whole). */
export function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
}

/**
 * Time to the first body byte of a streamed completion, ms, for each url: `n` sequential requests per url,
 * taken in turns (so a busy moment of the machine touches all alike), each url on its own kept-alive
 * connection, after `warmup` unmeasured rounds. Sorted samples, in the order of `urls`.
 */
export async function timeToFirstByte(
  urls: string[],
  {
    n,
    warmup = 20,
    body,
    headers,
  }: { n: number; warmup?: number; body: string; headers: Record<string, string> },
): Promise<number[][]> {
  const targets = urls.map((url) => new URL(url));
  const clients = targets.map((target) => new Client(target.origin, { pipelining: 1 }));
  const samples = urls.map((): number[] => []);
  try {
    for (let round = 0; round < warmup + n; round++) {
      for (const [i, target] of targets.entries()) {
        const start = performance.now();
        const res = await (clients[i] as Client).request({
          method: 'POST',
          path: target.pathname,
          headers,
          body,
        });
        let first = 0;
        // read to the end so the connection stays open for the next request
        for await (const _ of res.body) first ||= performance.now();
        if (res.statusCode !== 200)
          throw new Error(`TTFB request to ${target.href} answered ${res.statusCode}`);
        if (round >= warmup) samples[i]?.push(first - start);
      }
    }
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
  return samples.map((s) => s.sort((a, b) => a - b));
}

export function median(sorted: readonly number[]): number {
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
