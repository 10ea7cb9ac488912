// The load generator, always in a child process of its own on the load core: wrk when installed (a C
// client leaves more of the shared core to the mock), else autocannon through its programmatic API
// (this module is also that child: `node dist/bench/load.js '<options json>'`). BENCH_LOAD picks one.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { CORE, collect, spawnOn } from './processes.ts';

export type LoadTool = 'wrk' | 'autocannon';

export type LoadOptions = {
  url: string;
  connections: number;
  durationS: number;
  body: string;
  headers: Record<string, string>;
  /** bearer keys sent in turn, one per request (round-robin); unset: `headers` as given */
  keys?: readonly string[] | undefined;
};

export type LoadResult = {
  tool: LoadTool;
  /** responses per second over the run, any status */
  rps: number;
  /** latency percentiles of the 2xx responses (whole response, last byte), ms */
  p50_ms: number;
  p99_ms: number;
  /** responses with a 2xx status */
  ok: number;
  /** non-2xx responses, connection errors and timeouts */
  failed: number;
  duration_s: number;
};

const MARK = 'BENCH_RESULT ';

/** wrk when it is installed and BENCH_LOAD does not ask for autocannon. */
export function loadTool(preference = process.env.BENCH_LOAD): LoadTool {
  if (preference === 'autocannon') return 'autocannon';
  const wrk = whichWrk();
  if (preference === 'wrk' && !wrk) throw new Error('BENCH_LOAD=wrk but wrk is not installed');
  return wrk ? 'wrk' : 'autocannon';
}

function whichWrk(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Runs one load in a child process pinned to the load core; resolves with its figures. */
export async function runLoad(tool: LoadTool, options: LoadOptions): Promise<LoadResult> {
  const script = tool === 'wrk' ? wrkScript(options) : undefined;
  const child = script
    ? spawnOn(CORE.load, 'wrk', [
        '-t1',
        `-c${options.connections}`,
        `-d${options.durationS}s`,
        '--timeout',
        '30s',
        '-s',
        script,
        options.url,
      ])
    : spawnOn(CORE.load, process.execPath, [import.meta.filename, JSON.stringify(options)]);
  const { stdout, stderr, code } = await collect(child).finally(() => {
    if (script) rmSync(dirname(script), { recursive: true, force: true });
  });
  const line = stdout.split('\n').find((l) => l.startsWith(MARK));
  if (code !== 0 || !line) throw new Error(`${tool} failed (exit ${code}):\n${stdout}\n${stderr}`);
  const raw = JSON.parse(line.slice(MARK.length)) as Omit<LoadResult, 'tool'>;
  return { tool, ...raw };
}

/**
 * A wrk script sending our POST and printing the figures as one JSON line when done. With keys, each
 * thread builds one request per key at start and sends them in turn.
 */
function wrkScript({ body, headers, keys }: LoadOptions): string {
  const quote = (text: string) => {
    if (text.includes(']==]')) throw new Error('request text cannot be quoted for lua');
    return `[==[${text}]==]`;
  };
  const lua = [
    'wrk.method = "POST"',
    `wrk.body = ${quote(body)}`,
    ...Object.entries(headers).map(([k, v]) => `wrk.headers[ ${quote(k)} ] = ${quote(v)}`),
    ...(keys && keys.length > 0
      ? [
          `local keys = { ${keys.map(quote).join(', ')} }`,
          'local requests, turn = {}, 0',
          'init = function(args)',
          '  for i, key in ipairs(keys) do',
          '    local h = {}',
          '    for k, v in pairs(wrk.headers) do h[k] = v end',
          '    h["authorization"] = "Bearer " .. key',
          '    requests[i] = wrk.format(nil, nil, h, nil)',
          '  end',
          'end',
          'request = function()',
          '  turn = turn % #requests + 1',
          '  return requests[turn]',
          'end',
        ]
      : []),
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    '  local failed = e.status + e.connect + e.read + e.write + e.timeout',
    '  local s = summary.duration / 1e6',
    `  io.write(string.format('${MARK}{"rps":%.3f,"p50_ms":%.4f,"p99_ms":%.4f,"ok":%d,"failed":%d,"duration_s":%.3f}\\n',`,
    '    summary.requests / s, latency:percentile(50) / 1000, latency:percentile(99) / 1000,',
    '    summary.requests - e.status, failed, s))',
    'end',
  ].join('\n');
  const path = join(mkdtempSync(join(tmpdir(), 'tollgate-bench-wrk-')), 'post.lua');
  writeFileSync(path, lua);
  return path;
}

/** The autocannon child: latencies kept per response at full resolution (its histogram keeps whole ms). */
async function autocannonChild(options: LoadOptions): Promise<void> {
  const latencies: number[] = [];
  const keys = options.keys && options.keys.length > 0 ? options.keys : undefined;
  let turn = 0;
  const nextKey = (request: autocannon.Request): autocannon.Request => {
    turn = (turn + 1) % (keys?.length ?? 1);
    return { ...request, headers: { ...request.headers, authorization: `Bearer ${keys?.[turn]}` } };
  };
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.durationS,
        method: 'POST',
        headers: options.headers,
        body: options.body,
        timeout: 30,
        ...(keys ? { requests: [{ setupRequest: nextKey }] } : {}),
      },
      (err: unknown, result) => (err ? reject(err) : resolve(result)),
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  const answered = result['2xx'] + result.non2xx;
  const figures: Omit<LoadResult, 'tool'> = {
    rps: answered / result.duration,
    p50_ms: at(0.5),
    p99_ms: at(0.99),
    ok: result['2xx'],
    failed: result.non2xx + result.errors,
    duration_s: result.duration,
  };
  process.stdout.write(`${MARK}${JSON.stringify(figures)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await autocannonChild(JSON.parse(process.argv[2] ?? '{}') as LoadOptions);
}
