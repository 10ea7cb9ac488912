// Once per test run: the migrated database every test gateway starts from. A new PGlite cluster costs
// ~2 s of initdb and ~0.5 s of migrations; a migrated image loads in ~0.4 s. On PostgreSQL a database
// is copied from a migrated template instead of migrated again. Tests that check migrations
// themselves ask for an empty database (createTestDatabase without `migrated`).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { createScratchDatabase } from '../../bench/scratch-database.ts';
import { openDatabase } from '../../src/db/client.ts';
import { migrate } from '../../src/db/migrate.ts';

declare module 'vitest' {
  interface ProvidedContext {
    /** a file holding a migrated PGlite data directory (dumpDataDir) */
    pgliteImage: string;
    /** a migrated database on TEST_DATABASE_URL's server, to copy (null without one) */
    postgresTemplate: string | null;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const folder = mkdtempSync(join(tmpdir(), 'tollgate-test-image-'));
  const lite = await openDatabase({});
  await migrate(lite);
  if (lite.client.kind !== 'pglite') throw new Error('expected PGlite');
  const image = await lite.client.pg.dumpDataDir('none');
  await lite.close();
  const file = join(folder, 'pglite.tar');
  writeFileSync(file, Buffer.from(await image.arrayBuffer()));
  project.provide('pgliteImage', file);

  const base = process.env.TEST_DATABASE_URL;
  let template: Awaited<ReturnType<typeof createScratchDatabase>> | null = null;
  if (base) {
    template = await createScratchDatabase(base, 'tollgate_template');
    const database = await openDatabase({ databaseUrl: template.url });
    await migrate(database);
    await database.close();
  }
  project.provide('postgresTemplate', template ? new URL(template.url).pathname.slice(1) : null);

  return async () => {
    await template?.drop();
    rmSync(folder, { recursive: true, force: true });
  };
}
