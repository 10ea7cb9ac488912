// Prices: loaded from the database into the in-memory PriceBook, kept current across replicas with
// LISTEN/NOTIFY, initialized from the env at start, changed by admins as new versions.
import { canonical, formatDecimal, parseDecimal } from '../billing/money.ts';
import {
  canonicalProvider,
  createPriceBook,
  PROVIDER,
  type PriceBook,
  type PriceVersion,
} from '../billing/pricing.ts';
import type { Database } from '../db/client.ts';
import {
  findPriceVersion,
  insertPriceVersion,
  latestPriceVersion,
  listPriceVersions,
} from '../db/pricing-repo.ts';
import type { PricingRow } from '../db/schema.ts';
import { notFound } from '../errors.ts';

const CHANNEL = 'tollgate_pricing';

export type PriceView = {
  id: number;
  provider: string;
  model_name: string;
  input_token_cost: string;
  output_token_cost: string;
  source: string;
  retired: boolean;
  effective_from: string;
  created_at: string;
};

export type PricingService = {
  priceBook: PriceBook;
  /** reloads every version from the database */
  reload(): Promise<void>;
  /** writes the env prices as an `env` version for the default model, unless unchanged or admin-owned */
  initFromEnv(): Promise<{ written: boolean; reason: string }>;
  list(options?: { history?: boolean }): Promise<PriceView[]>;
  upsert(input: {
    provider: string;
    modelName: string;
    inputTokenCost: string;
    outputTokenCost: string;
    effectiveFrom?: Date;
  }): Promise<PriceView>;
  retire(id: number): Promise<PriceView>;
  /** subscribes to other replicas' changes; resolves to an unsubscribe function */
  follow(): Promise<() => Promise<void>>;
};

export function createPricingService({
  database,
  defaultModel,
  envInputTokenCost,
  envOutputTokenCost,
}: {
  database: Database;
  defaultModel: string;
  envInputTokenCost: string;
  envOutputTokenCost: string;
}): PricingService {
  const priceBook = createPriceBook({
    envInputTokenCost: parseDecimal(envInputTokenCost),
    envOutputTokenCost: parseDecimal(envOutputTokenCost),
  });
  const { db } = database;

  async function reload() {
    priceBook.replace((await listPriceVersions(db)).map(toVersion));
  }

  /** Applies a change here at once and tells the other replicas. */
  async function changed() {
    await reload();
    await database.notify(CHANNEL, 'changed').catch(() => {});
  }

  return {
    priceBook,
    reload,
    async initFromEnv() {
      const input = canonical(envInputTokenCost);
      const output = canonical(envOutputTokenCost);
      const latest = await latestPriceVersion(db, PROVIDER, defaultModel);
      let result = { written: false, reason: 'the env prices are already current' };
      if (latest?.source === 'admin') {
        result = { written: false, reason: 'an admin set this model’s price; the env does not override it' };
      } else if (
        !latest ||
        latest.retired ||
        canonical(latest.inputTokenCost) !== input ||
        canonical(latest.outputTokenCost) !== output
      ) {
        await insertPriceVersion(db, {
          provider: PROVIDER,
          modelName: defaultModel,
          inputTokenCost: input,
          outputTokenCost: output,
          source: 'env',
        });
        result = { written: true, reason: 'env prices written as a new version' };
      }
      await (result.written ? changed() : reload());
      return result;
    },
    async list({ history = false } = {}) {
      if (history) return (await listPriceVersions(db)).map(toView);
      const now = Date.now();
      const current = new Map<string, PricingRow>();
      for (const row of await listPriceVersions(db)) {
        if (row.effectiveFrom.getTime() > now) continue;
        const key = `${row.provider}\u0000${row.modelName}`;
        const seen = current.get(key);
        if (
          !seen ||
          row.effectiveFrom > seen.effectiveFrom ||
          (row.effectiveFrom.getTime() === seen.effectiveFrom.getTime() && row.id > seen.id)
        ) {
          current.set(key, row);
        }
      }
      return [...current.values()].filter((row) => !row.retired).map(toView);
    },
    async upsert({ provider, modelName, inputTokenCost, outputTokenCost, effectiveFrom }) {
      const row = await insertPriceVersion(db, {
        provider: canonicalProvider(provider),
        modelName,
        inputTokenCost: canonical(inputTokenCost),
        outputTokenCost: canonical(outputTokenCost),
        source: 'admin',
        ...(effectiveFrom ? { effectiveFrom } : {}),
      });
      await changed();
      return toView(row);
    },
    async retire(id) {
      const target = await findPriceVersion(db, id);
      if (!target) throw notFound(`No price with id ${id}.`);
      const row = await insertPriceVersion(db, {
        provider: target.provider,
        modelName: target.modelName,
        inputTokenCost: target.inputTokenCost,
        outputTokenCost: target.outputTokenCost,
        source: 'admin',
        retired: true,
      });
      await changed();
      return toView(row);
    },
    follow: () => database.listen(CHANNEL, () => void reload().catch(() => {})),
  };
}

function toVersion(row: PricingRow): PriceVersion {
  return {
    id: row.id,
    provider: row.provider,
    modelName: row.modelName,
    inputTokenCost: parseDecimal(row.inputTokenCost),
    outputTokenCost: parseDecimal(row.outputTokenCost),
    retired: row.retired,
    effectiveFrom: row.effectiveFrom,
  };
}

function toView(row: PricingRow): PriceView {
  return {
    id: row.id,
    provider: row.provider,
    model_name: row.modelName,
    input_token_cost: formatDecimal(parseDecimal(row.inputTokenCost)),
    output_token_cost: formatDecimal(parseDecimal(row.outputTokenCost)),
    source: row.source,
    retired: row.retired,
    effective_from: row.effectiveFrom.toISOString(),
    created_at: row.createdAt.toISOString(),
  };
}

/** The pricing service a gateway's config describes. */
export function pricingFromConfig(
  database: Database,
  config: { defaultModel: string; inputTokenCost: string; outputTokenCost: string },
): PricingService {
  return createPricingService({
    database,
    defaultModel: config.defaultModel,
    envInputTokenCost: config.inputTokenCost,
    envOutputTokenCost: config.outputTokenCost,
  });
}
