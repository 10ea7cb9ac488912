// Where a V8 CPU profile (.cpuprofile, from `node --cpu-prof`) spends its time once started: self time
// by function, self time by package or file (a native call charged to the JS that made it), inclusive
// time by function; µs per request when told how many requests the profile served. Startup (module
// loading) is set apart. `node dist/bench/cpuprofile-top.js <file.cpuprofile> [top] [requests]`.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

type Frame = { functionName: string; url: string; lineNumber: number };
type ProfileNode = { id: number; callFrame: Frame; children?: number[] };
type Profile = { nodes: ProfileNode[]; startTime: number; samples: number[]; timeDeltas: number[] };

export type Ranked = Array<{ name: string; ms: number; share: number }>;
export type ProfileSummary = {
  /** profiled wall time (inside the windows, when given), ms */
  total_ms: number;
  /** module loading and evaluation, ms (left out of everything below) */
  startup_ms: number;
  /** time neither idle nor startup, ms: the denominator of every share */
  busy_ms: number;
  requests: number | undefined;
  self: Ranked;
  packages: Ranked;
  inclusive: Ranked;
};

const STARTUP = /^node:internal\/modules\/(esm\/module_job|run_main)/;

function shortFile(url: string): string {
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + '/node_modules/'.length);
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  return url.replace(/^file:\/\//, '');
}

/** `fn file:line`, with the repository and node_modules prefixes cut. */
function label(frame: Frame): string {
  if (!frame.url) return frame.functionName || '(native)';
  return `${frame.functionName || '(anonymous)'} ${shortFile(frame.url)}:${frame.lineNumber + 1}`;
}

/** The npm package, our source file, or node's internal module a frame belongs to. */
function owner(frame: Frame): string {
  const file = shortFile(frame.url);
  if (!frame.url.includes('/node_modules/')) return file;
  const [scope, name] = file.split('/');
  return scope?.startsWith('@') ? `${scope}/${name}` : (scope ?? file);
}

export type SummaryOptions = {
  top?: number;
  /** requests served in the time summarized, for µs per request */
  requests?: number;
  /** only samples inside these [start, end] spans (µs of CLOCK_MONOTONIC, V8's sample clock) */
  windows?: ReadonlyArray<readonly [number, number]>;
};

export function summarizeProfile(path: string, { top = 25, requests, windows }: SummaryOptions = {}) {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackOf = (id: number) => {
    const frames: Frame[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (frame) frames.push(frame);
    }
    return frames;
  };

  const self = new Map<string, number>();
  const packages = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);
  let total = 0;
  let idle = 0;
  let startup = 0;
  let at = profile.startTime;
  const inWindow = (t: number) => !windows || windows.some(([from, to]) => t >= from && t <= to);
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    at += us;
    if (!inWindow(at)) return;
    total += us;
    const stack = stackOf(id);
    const leaf = stack[0];
    if (!leaf || leaf.functionName === '(idle)') {
      idle += us;
      return;
    }
    if (stack.some((f) => STARTUP.test(f.url))) {
      startup += us;
      return;
    }
    add(self, label(leaf), us);
    // a native leaf (a syscall, the GC) is charged to the nearest JS frame's package, GC to itself
    const charged = leaf.url || leaf.functionName === '(garbage collector)' ? leaf : stack.find((f) => f.url);
    add(packages, charged?.url ? owner(charged) : label(leaf), us);
    const seen = new Set<string>();
    for (const frame of stack) {
      if (!frame.url) continue;
      const key = label(frame);
      if (!seen.has(key)) {
        seen.add(key);
        add(inclusive, key, us);
      }
    }
  });
  const busy = total - idle - startup;
  const rank = (map: Map<string, number>): Ranked =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: busy > 0 ? us / busy : 0 }));
  return {
    total_ms: total / 1000,
    startup_ms: startup / 1000,
    busy_ms: busy / 1000,
    requests,
    self: rank(self),
    packages: rank(packages),
    inclusive: rank(inclusive),
  } satisfies ProfileSummary;
}

export function formatSummary(summary: ProfileSummary): string {
  const { requests } = summary;
  const perRequest = (ms: number) =>
    requests ? `${((ms * 1000) / requests).toFixed(1).padStart(7)} µs/req` : '';
  const list = (title: string, rows: Ranked) =>
    [
      title,
      ...rows.map(
        (r) =>
          `  ${(r.share * 100).toFixed(1).padStart(5)}% ${r.ms.toFixed(0).padStart(7)} ms ${perRequest(r.ms)}  ${r.name}`,
      ),
    ].join('\n');
  return [
    `busy ${summary.busy_ms.toFixed(0)} ms${requests ? ` for ${requests} requests (${perRequest(summary.busy_ms).trim()})` : ''}; ` +
      `startup ${summary.startup_ms.toFixed(0)} ms and idle time left out, of ${summary.total_ms.toFixed(0)} ms summarized`,
    list('self time by function:', summary.self),
    list('self time by package or file (native calls charged to their JS caller):', summary.packages),
    list('inclusive time by function:', summary.inclusive),
  ].join('\n');
}

/** Summarizes every profile in `dir` (also written next to it as .txt); [path, summary] pairs. */
export function summarizeProfileDir(dir: string, options: SummaryOptions): Array<[string, string]> {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.cpuprofile'))
    .map((file) => {
      const summary = formatSummary(summarizeProfile(join(dir, file), { top: 30, ...options }));
      writeFileSync(join(dir, `${file}.txt`), `${summary}\n`);
      return [join(dir, file), summary];
    });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file, top, requests] = process.argv.slice(2);
  if (!file) throw new Error('usage: node dist/bench/cpuprofile-top.js <file.cpuprofile> [top] [requests]');
  const options = { top: Number(top ?? 25), ...(requests ? { requests: Number(requests) } : {}) };
  console.log(formatSummary(summarizeProfile(file, options)));
}
