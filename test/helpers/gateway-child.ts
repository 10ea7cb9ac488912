// The gateway as a real child process, for tests that kill it, stop its database or run two of it.
// It runs a build of the current sources of its own (compiled once per source fingerprint into
// node_modules/.cache), never dist/: a stale dist would test old code, and a `npm run build` running
// meanwhile rewrites dist under a starting process.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { request } from 'undici';
import { freePort } from './postgres-instance.ts';

/** the child's admin key (not imported from ./gateway.ts, which would load the whole app into the test) */
export const ADMIN_KEY = 'tg-admin-test-key-0123456789';
const ROOT = new URL('../..', import.meta.url).pathname;
const CACHE = join(ROOT, 'node_modules', '.cache', 'tollgate-test-build');
/** what the build and the server read: a change to any of these means a new build */
const INPUTS = ['src', 'scripts', 'bench', 'drizzle', 'tsconfig.json', 'package.json'];
const SOURCE = /\.(ts|tsx|sql|json)$/;

function files(path: string): string[] {
  const full = join(ROOT, path);
  if (!existsSync(full)) return [];
  if (!statSync(full).isDirectory()) return SOURCE.test(path) && !path.endsWith('results.json') ? [path] : [];
  return readdirSync(full).flatMap((name) => files(join(path, name)));
}

function fingerprint(): string {
  const hash = createHash('sha256');
  for (const file of [...new Set(INPUTS.flatMap(files))].sort()) {
    hash
      .update(file)
      .update('\0')
      .update(readFileSync(join(ROOT, file)))
      .update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

let built: string | undefined;

/** server.js compiled from the sources as they are now (built on first use, then cached). */
export function builtServer(): string {
  if (built) return built;
  const dir = join(CACHE, fingerprint());
  const server = join(dir, 'src', 'server.js');
  if (!existsSync(server)) {
    const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const tsc = spawnSync(
      process.execPath,
      [
        join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
        ...['-p', join(ROOT, 'scripts', 'tsconfig.build.json'), '--outDir', tmp, '--sourceMap', 'false'],
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 120_000 },
    );
    // type errors elsewhere in the tree still emit JavaScript; only a missing server is fatal here
    if (!existsSync(join(tmp, 'src', 'server.js')))
      throw new Error(`could not build the gateway: ${tsc.stdout}${tsc.stderr}${tsc.error ?? ''}`);
    // under node_modules a file has no package scope: say these are ES modules
    writeFileSync(join(tmp, 'package.json'), '{"type":"module"}\n');
    // the migrations of these sources, found first by migrationsFolder(): the nearest drizzle/ above the
    // build would be the checkout's that node_modules lives in (another worktree's, when it is a symlink)
    cpSync(join(ROOT, 'drizzle'), join(tmp, 'drizzle'), { recursive: true });
    try {
      renameSync(tmp, dir);
    } catch {
      // another test process built the same sources first: use theirs
      rmSync(tmp, { recursive: true, force: true });
    }
    pruneOldBuilds(dir);
  }
  built = server;
  return server;
}

function pruneOldBuilds(keep: string): void {
  const dayAgo = Date.now() - 24 * 3600_000;
  for (const name of readdirSync(CACHE)) {
    const path = join(CACHE, name);
    if (path !== keep && statSync(path).mtimeMs < dayAgo) rmSync(path, { recursive: true, force: true });
  }
}

export type GatewayChild = {
  url: string;
  child: ChildProcess;
  /** everything it printed, stdout and stderr */
  output(): string;
  /** sends the signal and resolves with the exit code (null when killed by a signal) */
  kill(signal: NodeJS.Signals): Promise<number | null>;
};

/** Starts the gateway on a free port; resolves once /healthz answers. */
export async function startGatewayChild(env: Record<string, string>): Promise<GatewayChild> {
  const server = builtServer();
  const port = await freePort();
  const child = spawn(process.execPath, [server], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_API_KEY: ADMIN_KEY,
      HF_TOKEN: 'hf_test_fault_token',
      // warnings and errors only (the spool and replay report there), kept here, not printed
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the gateway exited early (${child.exitCode}): ${output}`);
    try {
      const res = await request(`${url}/healthz`);
      await res.body.dump();
      if (res.statusCode === 200) break;
    } catch {
      // not listening yet
    }
    if (i > 1200) {
      child.kill('SIGKILL');
      throw new Error(`the gateway did not start within 60 s (${relative(ROOT, server)}): ${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    child,
    output: () => output,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const [code] = await exited;
      return code;
    },
  };
}
