// The embedded default on disk: a new DATA_DIR gets its cluster from a child process (initdb's
// memory leaves with it), made beside its place and renamed in, so a start killed mid-initdb leaves
// nothing half made; the gateway's PGlite runs with small shared buffers, and what was written is there
// when the folder is opened again.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.ts';
import { migrate } from '../../src/db/migrate.ts';

describe('PGlite in a data folder', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-pglite-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('creates the cluster, runs with 16 MB of shared buffers, and keeps rows across a reopen', {
    timeout: 60_000,
  }, async () => {
    // what a start killed during initdb left behind
    mkdirSync(join(dataDir, 'pglite.init'));
    writeFileSync(join(dataDir, 'pglite.init', 'PG_VERSION'), '17\n');
    const first = await openDatabase({ dataDir });
    expect(existsSync(join(dataDir, 'pglite', 'PG_VERSION'))).toBe(true);
    expect(existsSync(join(dataDir, 'pglite.init'))).toBe(false);
    await migrate(first);
    const [buffers] = await first.rows<{ shared_buffers: string }>(sql`show shared_buffers`);
    expect(buffers?.shared_buffers).toBe('16MB');
    await first.execute(
      `insert into api_provider_pricing (provider, model_name, input_token_cost, output_token_cost, source)
       values ($1, $2, $3, $4, 'admin')`,
      ['huggingface', 'kept/model', '0.000000123', '0.000000456'],
    );
    await first.close();

    const second = await openDatabase({ dataDir });
    await migrate(second);
    const kept = await second.rows<{ input: string }>(
      sql`select input_token_cost::text as input from api_provider_pricing where model_name = 'kept/model'`,
    );
    await second.close();
    expect(kept).toEqual([{ input: '0.000000123' }]);
  });

  it('refuses a folder that holds files but no cluster, rather than writing into it', async () => {
    const other = mkdtempSync(join(tmpdir(), 'tollgate-pglite-'));
    mkdirSync(join(other, 'pglite'));
    writeFileSync(join(other, 'pglite', 'notes.txt'), 'not a database');
    await expect(openDatabase({ dataDir: other })).rejects.toThrow(/no PostgreSQL cluster \(no PG_VERSION\)/);
    rmSync(other, { recursive: true, force: true });
  });
});
