// Databases for tests: PGlite in memory always; with TEST_DATABASE_URL, also a real PostgreSQL
// database of the test file's own, created here and dropped when the file is done.
import { readFileSync } from 'node:fs';
import { inject } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../../bench/scratch-database.ts';
import { type Database, openDatabase } from '../../src/db/client.ts';

export type Backend = 'pglite' | 'postgres';

/** The backends every database suite runs on. */
export const BACKENDS: Backend[] = process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

export type TestDatabase = { database: Database; url: string | undefined; drop(): Promise<void> };

/**
 * A database of the test's own: empty, or with `migrated` a copy of the run's migrated image
 * (global-setup.ts), as a gateway's start would leave it.
 */
export async function createTestDatabase(
  backend: Backend,
  { migrated = false }: { migrated?: boolean } = {},
): Promise<TestDatabase> {
  if (backend === 'pglite') {
    const image = migrated ? pgliteImage() : undefined;
    const database = await openDatabase({ pgliteImage: image });
    return { database, url: undefined, drop: () => database.close() };
  }
  const url = await createPostgresDatabase(migrated ? postgresTemplate() : undefined);
  const database = await openDatabase({ databaseUrl: url.url });
  return {
    database,
    url: url.url,
    drop: async () => {
      await database.close();
      await url.drop();
    },
  };
}

/** A fresh, empty PostgreSQL database on TEST_DATABASE_URL's server. */
export async function createPostgresDatabase(template?: string): Promise<ScratchDatabase> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) throw new Error('TEST_DATABASE_URL is not set');
  return createScratchDatabase(base, 'tollgate_test', template ? { template } : {});
}

/** The migrated PGlite image, read once per test file (undefined: a new cluster, migrated by its user). */
let image: Blob | undefined;
function pgliteImage(): Blob | undefined {
  const file = inject('pgliteImage');
  if (!image && file) image = new Blob([readFileSync(file)]);
  return image;
}

function postgresTemplate(): string | undefined {
  return inject('postgresTemplate') ?? undefined;
}
