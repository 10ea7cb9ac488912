// Applies the drizzle-kit migrations in drizzle/. On PostgreSQL an advisory lock serializes
// replicas that start together, so each migration runs exactly once.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { Database } from './client.ts';

const MIGRATION_LOCK = 7_301_100; // arbitrary, constant across replicas

/** drizzle/ from src/db (source) or dist/src/db (built): the nearest ancestor that has it. */
export function migrationsFolder(from: string = import.meta.dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'drizzle');
    if (existsSync(join(candidate, 'meta', '_journal.json'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`no drizzle/ migrations folder above ${from}`);
  }
}

export async function migrate(database: Database): Promise<void> {
  const folder = migrationsFolder();
  const { client } = database;
  if (client.kind === 'pglite') {
    await migratePglite(drizzlePglite(client.pg), { migrationsFolder: folder });
    return;
  }
  // one dedicated connection: the advisory lock belongs to a session
  const one = postgres(client.url, { max: 1, onnotice: () => {} });
  try {
    await one`select pg_advisory_lock(${MIGRATION_LOCK})`;
    await migratePostgres(drizzlePostgres(one), { migrationsFolder: folder });
  } finally {
    await one.end({ timeout: 5 });
  }
}
