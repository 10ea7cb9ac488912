// `npm run pricing:sync`: applies migrations, reads the price catalog of the router (GET
// {UPSTREAM_BASE_URL}/models) and of each `catalog: true` upstream once, writes the `catalog` prices
// that changed, then exits. `-- --allow-retire`: retire what a catalog no longer prices even past
// CATALOG_MAX_RETIRE_SHARE.
import { ConfigError, loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { upstreamsFromConfig } from '../src/gateway.ts';
import { createLogger } from '../src/logger.ts';
import { createCatalogSyncs } from '../src/services/pricing/catalog-syncs.ts';
import { pricingFromConfig } from '../src/services/pricing/pricing.ts';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel });
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const upstreams = upstreamsFromConfig(config);
  try {
    await migrate(database);
    const pricing = pricingFromConfig(database, config);
    await pricing.reload();
    const sync = createCatalogSyncs({
      database,
      pricing,
      upstreams,
      logger,
      bounds: config.catalogBounds,
      maxRetireShare: config.catalogMaxRetireShare,
    });
    const allowRetire = process.argv.includes('--allow-retire');
    for (const { name, result } of await sync.syncOnce({ allowRetire })) {
      console.log(
        `pricing:sync (${database.kind}): ${result.ok ? 'read' : 'could not read'} the catalog of ${name}: ` +
          `${result.written.length} written, ${result.retired.length} retired, ${result.unchanged} unchanged, ` +
          `${result.problems.length} left alone${result.skipped ? ' (another replica was syncing)' : ''}`,
      );
      for (const written of result.written) console.log(`  wrote   ${written}`);
      for (const retired of result.retired) console.log(`  retired ${retired}`);
      for (const problem of result.problems) console.log(`  skipped ${problem}`);
      if (result.retireHeld?.length)
        console.log(
          `  held back ${result.retireHeld.length} retirements (more than CATALOG_MAX_RETIRE_SHARE): ` +
            'run `npm run pricing:sync -- --allow-retire` if the catalog is right',
        );
      if (!result.ok) process.exitCode = 1;
    }
  } finally {
    await upstreams.close();
    await database.close();
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError)
    for (const problem of err.problems) console.error(`tollgate: bad configuration: ${problem}`);
  else console.error('pricing:sync failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
