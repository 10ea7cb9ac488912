// Databases for tests: PGlite in memory always; with TEST_DATABASE_URL, also a real PostgreSQL
// database of the test file's own, created here and dropped when the file is done.
import { createScratchDatabase, type ScratchDatabase } from '../../bench/scratch-database.ts';
import { type Database, openDatabase } from '../../src/db/client.ts';

export type Backend = 'pglite' | 'postgres';

/** The backends every database suite runs on. */
export const BACKENDS: Backend[] = process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

export type TestDatabase = { database: Database; url: string | undefined; drop(): Promise<void> };

export async function createTestDatabase(backend: Backend): Promise<TestDatabase> {
  if (backend === 'pglite') {
    const database = await openDatabase({});
    return { database, url: undefined, drop: () => database.close() };
  }
  const url = await createPostgresDatabase();
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
export async function createPostgresDatabase(): Promise<ScratchDatabase> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) throw new Error('TEST_DATABASE_URL is not set');
  return createScratchDatabase(base, 'tollgate_test');
}
