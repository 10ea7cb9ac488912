// `npm run usage:restore -- FILE`: checks FILE (usage-YYYY-MM.jsonl.gz) against its .sha256 and puts its
// rows back into their month's partition, skipping rows already there (a second restore changes
// nothing). The rollups are not touched: they kept the month's sums when it was archived.
import { resolve } from 'node:path';
import { ConfigError, loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { restoreArchive } from '../src/services/ledger/archive.ts';

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: npm run usage:restore -- DATA_DIR/archive/usage-YYYY-MM.jsonl.gz');
    process.exit(2);
  }
  const config = loadConfig();
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    await migrate(database);
    const result = await restoreArchive({ database, file: resolve(file) });
    console.log(
      `usage:restore (${database.kind}): ${result.month}: ${result.inserted} of ${result.rows} rows put back ` +
        `(${result.rows - result.inserted} were there already)` +
        (result.correctionsMissing > 0
          ? `; ${result.correctionsMissing} corrections of the archive are missing from usage_corrections (not re-applied)`
          : ''),
    );
  } finally {
    await database.close();
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError)
    for (const problem of err.problems) console.error(`tollgate: bad configuration: ${problem}`);
  else console.error('usage:restore failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
