// The benchmark's process plumbing: children pinned to a core (taskset), their CPU time and peak RSS
// from /proc, free ports, and waiting for a child to answer HTTP.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { request } from 'undici';

export const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((path) => existsSync(path));
export const CORES = availableParallelism();
/** Pinning needs taskset and at least two cores (load generator and mock on one, the gateway on another). */
export const PINNED = TASKSET !== undefined && CORES >= 2;
/** Where each party runs: the mock gets a core of its own when there are three or more. */
export const CORE = { load: 0, mock: CORES >= 3 ? 2 : 0, gateway: 1 } as const;
const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;

/** Spawns `command args`, on `core` when pinning; taskset execs, so the child's pid is the command's. */
export function spawnOn(
  core: number,
  command: string,
  args: string[],
  env: Record<string, string> = {},
): ChildProcess {
  const [cmd, ...rest] = PINNED
    ? [TASKSET as string, '-c', String(core), command, ...args]
    : [command, ...args];
  return spawn(cmd as string, rest, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Keeps this process (the runner, the TTFB client) on the load generator's core. */
export function pinSelf(): void {
  if (PINNED) execFileSync(TASKSET as string, ['-a', '-p', '-c', String(CORE.load), String(process.pid)]);
}

/** Everything a child wrote to stdout and stderr, and its exit code. */
export function collect(
  child: ChildProcess,
): Promise<{ stdout: string; stderr: string; code: number | null }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code }));
  });
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  // the command name may hold spaces and parentheses: the fields start after the last ')'
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

/** Share of the last minute some runnable task waited for a CPU (Linux PSI), %: other work on the machine. */
export function cpuPressure(): number | null {
  try {
    return Number(
      /^some .*avg60=([\d.]+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? Number.NaN,
    );
  } catch {
    return null;
  }
}

/** Peak resident set size of a process so far (VmHWM), MB. */
export function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

/** Resolves once `url` answers 200; rejects if the child exits first or a minute passes. */
export async function waitForHttp(url: string, child: ChildProcess, output: () => string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null)
      throw new Error(`exited (${child.exitCode}) before ${url} answered:\n${output()}`);
    try {
      const res = await request(url);
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within a minute:\n${output()}`);
}

/** Stops a child with SIGTERM (SIGKILL after `graceMs`) and resolves when it is gone. */
export async function stop(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}
