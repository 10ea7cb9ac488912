// A PostgreSQL server of the test's own: initdb into a temp folder, a free port, and the power to stop
// it hard and start it again. Uses the server binaries on this machine (Debian's postgresql package).
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The newest installed server's bin folder, or undefined when there is none. */
export function postgresBinaries(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  return versions
    .map((v) => join(root, v, 'bin'))
    .find((bin) => existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl')));
}

/** Why this machine cannot run a PostgreSQL of the test's own, or undefined when it can. */
export function postgresUnavailable(): string | undefined {
  if (!postgresBinaries()) return 'no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql';
  if (process.getuid?.() === 0) {
    // initdb refuses root: the server runs as the postgres user
    try {
      execFileSync('id', ['-u', 'postgres'], { stdio: 'pipe' });
    } catch {
      return 'running as root and there is no postgres user to run the server as';
    }
  }
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export type PostgresInstance = {
  /** the `postgres` database on this server, as user postgres (trust auth) */
  url: string;
  port: number;
  /** an immediate stop: connections cut, no checkpoint, as a crash or a failover would */
  stop(): Promise<void>;
  /** starts it again (crash recovery first); resolves once it accepts connections */
  start(): Promise<void>;
  /** SIGSTOPs the server and all its processes: connections stay open and nothing answers, as a hung host */
  freeze(): void;
  /** SIGCONTs what freeze() stopped */
  thaw(): void;
  destroy(): void;
};

export async function startPostgresInstance(): Promise<PostgresInstance> {
  const bin = postgresBinaries();
  if (!bin) throw new Error('no PostgreSQL server binaries on this machine');
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-pg-'));
  const data = join(dir, 'data');
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);
  const command = (tool: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]] : [join(bin, tool), args];
  const tool = async (name: string, args: string[]) => {
    const [file, argv] = command(name, args);
    await run(file, argv, { timeout: 60_000 });
  };
  const toolSync = (name: string, args: string[]) => {
    const [file, argv] = command(name, args);
    execFileSync(file, argv, { stdio: 'pipe', timeout: 60_000 });
  };

  await tool('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  // fsync off: the tests crash the server, never the machine, so the page cache survives every stop
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
  const start = () => tool('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', 'start']);
  await start();

  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    process.off('exit', destroy);
    try {
      // a frozen server cannot act on the stop signal
      signal('SIGCONT');
    } catch {
      // not running: no postmaster.pid
    }
    try {
      toolSync('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // already stopped
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // a test process that dies without its afterAll must not leave a server running
  process.on('exit', destroy);
  /** the postmaster and its children (backends, checkpointer, …), from postmaster.pid and /proc */
  const processes = (): number[] => {
    const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const children = readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .filter((pid) => {
        try {
          // pid (comm) state ppid …: comm may hold spaces, so read past its closing parenthesis
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster;
        } catch {
          return false; // gone meanwhile
        }
      })
      .map(Number);
    return [postmaster, ...children];
  };
  const signal = (name: NodeJS.Signals) => {
    for (const pid of processes()) {
      try {
        process.kill(pid, name);
      } catch {
        // exited meanwhile
      }
    }
  };
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    freeze: () => signal('SIGSTOP'),
    thaw: () => signal('SIGCONT'),
    stop: () => tool('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']),
    destroy,
  };
}
