// Opens the database: PostgreSQL through postgres.js when a URL is given, else embedded PGlite.
// Both sit behind one drizzle type and one small interface, so every code path serves both.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import type { SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { schema } from './schema.ts';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

/** A statement parameter: text, a number or a boolean (see db/usage-insert.ts for what each column takes). */
export type Parameter = string | number | boolean | null;

export type Database = {
  kind: 'postgres' | 'pglite';
  db: Db;
  /** rows of a raw (parameterized) query */
  rows<T>(query: SQL): Promise<T[]>;
  /** runs a parameterized statement through the driver itself (hot paths that skip the query builder) */
  execute(text: string, params: Parameter[]): Promise<void>;
  /** the rows of a parameterized statement through the driver, prepared once per connection (hot paths) */
  query<T>(text: string, params: Parameter[]): Promise<T[]>;
  /** subscribes to a NOTIFY channel; resolves to an unsubscribe function */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
  /** throws when the database cannot be reached */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** the driver handle, for migrations */
  readonly client: { kind: 'postgres'; sql: postgres.Sql; url: string } | { kind: 'pglite'; pg: PGlite };
};

export type DatabaseOptions = {
  /** postgres://… ; unset → PGlite */
  databaseUrl?: string | undefined;
  /** PGlite's folder; unset → in memory (tests) */
  dataDir?: string | undefined;
  /** postgres.js pool size */
  maxConnections?: number;
  /**
   * PostgreSQL statement_timeout of every pooled connection (ms): the server cancels a statement that
   * runs longer. lock_timeout is a third of it, at most 5 s: waiting on a lock is never worth more.
   * A frozen server cancels nothing; callers on the request path add a deadline of their own
   * (db/deadline.ts).
   */
  statementTimeoutMs?: number;
  /**
   * In-memory PGlite only: a data directory dumped by PGlite's dumpDataDir to start from instead of a
   * new cluster (tests start from one migrated image: initdb and the migrations run once per run)
   */
  pgliteImage?: Blob | undefined;
};

export async function openDatabase({
  databaseUrl,
  dataDir,
  maxConnections = 10,
  statementTimeoutMs = 15_000,
  pgliteImage,
}: DatabaseOptions): Promise<Database> {
  return databaseUrl
    ? openPostgres(databaseUrl, maxConnections, statementTimeoutMs)
    : openPglite(dataDir, pgliteImage);
}

function openPostgres(url: string, max: number, statementTimeoutMs: number): Database {
  const sql = postgres(url, {
    max,
    onnotice: () => {},
    connect_timeout: 5,
    // startup parameters: every connection of the pool has them from its first statement
    connection: {
      statement_timeout: statementTimeoutMs,
      lock_timeout: Math.min(5000, Math.ceil(statementTimeoutMs / 3)),
      // PostgreSQL compiles a query whose estimated cost passes jit_above_cost with LLVM, and a usage
      // summary over millions of rows passes it: at 10 M rows the summary by tag took 1.7 s with JIT
      // and 0.2 s without (compiling its ~60 expressions cost more than evaluating them). The gateway's
      // queries are short or index-bound; none gains from JIT.
      jit: 'off',
    },
    // numeric stays a string: money never passes through a JS number
    types: { numeric: { to: 1700, from: [1700], serialize: String, parse: String } },
  });
  const db = drizzlePostgres(sql, { schema }) as unknown as Db;
  return {
    kind: 'postgres',
    db,
    client: { kind: 'postgres', sql, url },
    rows: async <T>(query: SQL) => [...((await db.execute(query)) as unknown as T[])],
    async execute(text, params) {
      await sql.unsafe(text, params, { prepare: true });
    },
    query: async <T>(text: string, params: Parameter[]) =>
      [...(await sql.unsafe(text, params, { prepare: true }))] as T[],
    async listen(channel, onPayload) {
      const { unlisten } = await sql.listen(channel, onPayload);
      return unlisten;
    },
    async notify(channel, payload) {
      await sql.notify(channel, payload);
    },
    async ping() {
      await sql`select 1`;
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

// PGlite's WASM memory never shrinks: shared_buffers lives inside it (16 MB holds the ledger's hot
// pages; the default 128 MB is touched page by page under load), and an in-process initdb on a new
// folder leaves the process at ~1 GB. initdb runs once, in a child process that exits with its memory.
const PGLITE_START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

async function openPglite(dataDir: string | undefined, image: Blob | undefined): Promise<Database> {
  let folder: string | undefined;
  if (dataDir) {
    folder = join(dataDir, 'pglite');
    if (!existsSync(join(folder, 'PG_VERSION'))) await createPgliteFolder(folder);
  }
  const pg = await PGlite.create(folder, {
    startParams: PGLITE_START_PARAMS,
    ...(image && !folder ? { loadDataDir: image } : {}),
  });
  const db = drizzlePglite(pg, { schema }) as unknown as Db;
  return {
    kind: 'pglite',
    db,
    client: { kind: 'pglite', pg },
    rows: async <T>(query: SQL) => ((await db.execute(query)) as unknown as { rows: T[] }).rows,
    async execute(text, params) {
      await pg.query(text, params);
    },
    query: async <T>(text: string, params: Parameter[]) => (await pg.query<T>(text, params)).rows,
    async listen(channel, onPayload) {
      const unsubscribe = await pg.listen(channel, onPayload);
      return unsubscribe;
    },
    async notify(channel, payload) {
      await pg.query('select pg_notify($1, $2)', [channel, payload]);
    },
    async ping() {
      if (pg.closed) throw new Error('PGlite is closed');
      await pg.query('select 1');
    },
    close: () => pg.close(),
  };
}

/**
 * Creates a PGlite cluster at `folder` from a child Node process: initdb's peak memory leaves with it.
 * Same PGlite module, same Node binary, so the folder is what PGlite.create would have written. The
 * cluster is made beside it and renamed into place: a start killed mid-initdb leaves no half a cluster.
 */
async function createPgliteFolder(folder: string): Promise<void> {
  if (existsSync(folder) && readdirSync(folder).length > 0)
    throw new Error(
      `${folder} holds files but no PostgreSQL cluster (no PG_VERSION): move it away to start afresh`,
    );
  const staging = `${folder}.init`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const script =
    'const { PGlite } = await import(process.argv[1]); const pg = await PGlite.create(process.argv[2]); await pg.close();';
  await promisify(execFile)(
    process.execPath,
    ['--input-type=module', '-e', script, import.meta.resolve('@electric-sql/pglite'), staging],
    { timeout: 120_000 },
  );
  if (existsSync(folder)) rmdirSync(folder);
  renameSync(staging, folder);
}
