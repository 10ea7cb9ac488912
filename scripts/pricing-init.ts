// `npm run pricing:init`: applies migrations and writes the env prices into api_provider_pricing
// (the seed's create_subscription_tables.py step), then exits.
import { ConfigError, loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { pricingFromConfig } from '../src/services/pricing/pricing.ts';

async function main(): Promise<void> {
  const config = loadConfig();
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    await migrate(database);
    const pricing = pricingFromConfig(database, config);
    const { written, reason } = await pricing.initFromEnv();
    console.log(
      `pricing:init (${database.kind}): ${written ? 'wrote' : 'kept'} ${config.defaultModel}: ${reason}`,
    );
    for (const price of await pricing.list()) {
      console.log(
        `  ${price.provider}  ${price.model_name}  in ${price.input_token_cost}  out ${price.output_token_cost}  (${price.source}, #${price.id})`,
      );
    }
  } finally {
    await database.close();
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError)
    for (const problem of err.problems) console.error(`tollgate: bad configuration: ${problem}`);
  else console.error('pricing:init failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
