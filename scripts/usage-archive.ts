// `npm run usage:archive -- --month YYYY-MM`: applies migrations, writes that month of usage_logs (and its
// rows' corrections) to DATA_DIR/archive/usage-YYYY-MM.jsonl.gz with a .sha256 beside it, then drops the
// month's partition. Totals and summaries keep the month: the rollups are never touched.
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { archiveMonth } from '../src/services/ledger/archive.ts';

async function main(): Promise<void> {
  const at = process.argv.indexOf('--month');
  const label = at >= 0 ? process.argv[at + 1] : undefined;
  if (!label || !/^\d{4}-(0[1-9]|1[0-2])$/.test(label)) {
    console.error('usage: npm run usage:archive -- --month YYYY-MM');
    process.exit(2);
  }
  const config = loadConfig();
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    await migrate(database);
    const result = await archiveMonth({
      database,
      archiveDir: join(config.dataDir, 'archive'),
      month: new Date(`${label}-01T00:00:00Z`),
    });
    console.log(
      `usage:archive (${database.kind}): ${label}: ${result.rows} rows and ${result.corrections} corrections ` +
        `written to ${result.file} (+ .sha256); partition dropped`,
    );
  } finally {
    await database.close();
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError)
    for (const problem of err.problems) console.error(`tollgate: bad configuration: ${problem}`);
  else console.error('usage:archive failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
