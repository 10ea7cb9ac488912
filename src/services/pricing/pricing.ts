// Prices: loaded from the database into the in-memory PriceBook, kept current across replicas with
// LISTEN/NOTIFY, initialized from the env at start, changed by admins (and the catalog sync) as new
// versions.
import { canonical, formatDecimal, parseDecimal } from '../../billing/money.ts';
import {
  canonicalProvider,
  createPriceBook,
  currentVersion,
  type PriceBook,
  type PriceVersion,
  type VersionSource,
} from '../../billing/pricing.ts';
import type { Database } from '../../db/client.ts';
import {
  findPriceVersion,
  insertPriceVersion,
  listPriceVersions,
  priceVersionsOf,
} from '../../db/pricing-repo.ts';
import type { PricingRow } from '../../db/schema.ts';
import { notFound } from '../../errors.ts';
import { HUGGINGFACE_PROVIDER } from '../../upstream/huggingface.ts';

export const PRICING_CHANNEL = 'tollgate_pricing';
const SOURCES: readonly VersionSource[] = ['admin', 'catalog', 'env'];

export type PriceView = {
  id: number;
  provider: string;
  model_name: string;
  /** USD per token */
  input_token_cost: string;
  /** USD per cached input token; null: the input price applies */
  cached_input_token_cost: string | null;
  output_token_cost: string;
  /** env | admin | catalog */
  source: string;
  retired: boolean;
  effective_from: string;
  created_at: string;
};

/** A current price with, side by side, the version each source has in effect for the same name. */
export type CurrentPriceView = PriceView & {
  sources: Record<VersionSource, PriceView | null>;
};

export type PricingService = {
  priceBook: PriceBook;
  /** reloads every version from the database */
  reload(): Promise<void>;
  /** reloads here at once and tells the other replicas */
  changed(): Promise<void>;
  /** writes the env prices as an `env` version for the default model, unless unchanged or admin-owned */
  initFromEnv(): Promise<{ written: boolean; reason: string }>;
  list(options: { history: true }): Promise<PriceView[]>;
  list(options?: { history?: false }): Promise<CurrentPriceView[]>;
  upsert(input: {
    provider: string;
    modelName: string;
    inputTokenCost: string;
    outputTokenCost: string;
    cachedInputTokenCost?: string | null | undefined;
    effectiveFrom?: Date | undefined;
  }): Promise<PriceView>;
  retire(id: number): Promise<PriceView>;
  /** subscribes to other replicas' changes; resolves to an unsubscribe function */
  follow(): Promise<() => Promise<void>>;
};

export function createPricingService({
  database,
  envProvider,
  defaultModel,
  envInputTokenCost,
  envOutputTokenCost,
  envCachedInputTokenCost,
}: {
  database: Database;
  /** the default upstream's provider: the env prices are its own (DESIGN §5 step 4) */
  envProvider: string;
  defaultModel: string;
  envInputTokenCost: string;
  envOutputTokenCost: string;
  /** unset: the input price */
  envCachedInputTokenCost?: string | undefined;
}): PricingService {
  const priceBook = createPriceBook({
    envProvider,
    envInputTokenCost: parseDecimal(envInputTokenCost),
    envOutputTokenCost: parseDecimal(envOutputTokenCost),
    envCachedInputTokenCost:
      envCachedInputTokenCost === undefined ? null : parseDecimal(envCachedInputTokenCost),
  });
  const { db } = database;

  async function reload() {
    priceBook.replace((await listPriceVersions(db)).map(toVersion));
  }

  async function changed() {
    await reload();
    await database.notify(PRICING_CHANNEL, 'changed').catch(() => {});
  }

  async function listCurrent(): Promise<CurrentPriceView[]> {
    const now = new Date();
    const byName = new Map<string, PricingRow[]>();
    for (const row of await listPriceVersions(db)) {
      const key = `${canonicalProvider(row.provider)}\u0000${row.modelName}`;
      byName.set(key, [...(byName.get(key) ?? []), row]);
    }
    const out: CurrentPriceView[] = [];
    for (const rows of byName.values()) {
      const applied = currentVersion(rows.map(toVersion), now);
      if (!applied) continue;
      const row = rows.find((r) => r.id === applied.id) as PricingRow;
      const sources = Object.fromEntries(
        SOURCES.map((source) => {
          const own = rows.filter((r) => r.source === source && r.effectiveFrom <= now).at(-1);
          return [source, own ? toView(own) : null];
        }),
      ) as Record<VersionSource, PriceView | null>;
      out.push({ ...toView(row), sources });
    }
    return out.sort((a, b) => a.id - b.id);
  }

  async function list(options?: { history?: boolean }): Promise<PriceView[] | CurrentPriceView[]> {
    if (options?.history) return (await listPriceVersions(db)).map(toView);
    return listCurrent();
  }

  return {
    priceBook,
    reload,
    changed,
    async initFromEnv() {
      const input = canonical(envInputTokenCost);
      const output = canonical(envOutputTokenCost);
      const cached = envCachedInputTokenCost === undefined ? null : canonical(envCachedInputTokenCost);
      const versions = await priceVersionsOf(db, envProvider, defaultModel);
      const latestEnv = versions.filter((v) => v.source === 'env').at(-1);
      let result = { written: false, reason: 'the env prices are already current' };
      if (versions.some((v) => v.source === 'admin')) {
        result = { written: false, reason: 'an admin set this model’s price; the env does not override it' };
      } else if (
        !latestEnv ||
        latestEnv.retired ||
        canonical(latestEnv.inputTokenCost) !== input ||
        canonical(latestEnv.outputTokenCost) !== output ||
        (latestEnv.cachedInputTokenCost === null ? null : canonical(latestEnv.cachedInputTokenCost)) !==
          cached
      ) {
        await insertPriceVersion(db, {
          provider: envProvider,
          modelName: defaultModel,
          inputTokenCost: input,
          outputTokenCost: output,
          cachedInputTokenCost: cached,
          source: 'env',
        });
        result = { written: true, reason: 'env prices written as a new version' };
      }
      await (result.written ? changed() : reload());
      return result;
    },
    list: list as PricingService['list'],
    async upsert({
      provider,
      modelName,
      inputTokenCost,
      outputTokenCost,
      cachedInputTokenCost,
      effectiveFrom,
    }) {
      const row = await insertPriceVersion(db, {
        provider: canonicalProvider(provider),
        modelName,
        inputTokenCost: canonical(inputTokenCost),
        outputTokenCost: canonical(outputTokenCost),
        cachedInputTokenCost: cachedInputTokenCost == null ? null : canonical(cachedInputTokenCost),
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
        cachedInputTokenCost: target.cachedInputTokenCost,
        source: 'admin',
        retired: true,
      });
      await changed();
      return toView(row);
    },
    follow: () => database.listen(PRICING_CHANNEL, () => void reload().catch(() => {})),
  };
}

export function toVersion(row: PricingRow): PriceVersion {
  return {
    id: row.id,
    provider: row.provider,
    modelName: row.modelName,
    inputTokenCost: parseDecimal(row.inputTokenCost),
    cachedInputTokenCost: row.cachedInputTokenCost === null ? null : parseDecimal(row.cachedInputTokenCost),
    outputTokenCost: parseDecimal(row.outputTokenCost),
    source: row.source as VersionSource,
    retired: row.retired,
    effectiveFrom: row.effectiveFrom,
  };
}

export function toView(row: PricingRow): PriceView {
  return {
    id: row.id,
    provider: row.provider,
    model_name: row.modelName,
    input_token_cost: formatDecimal(parseDecimal(row.inputTokenCost)),
    cached_input_token_cost: row.cachedInputTokenCost === null ? null : canonical(row.cachedInputTokenCost),
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
  config: {
    defaultModel: string;
    inputTokenCost: string;
    outputTokenCost: string;
    cachedInputTokenCost?: string | undefined;
  },
): PricingService {
  return createPricingService({
    database,
    // the env prices (HUGGINGFACE_*) are the router's, the default upstream
    envProvider: HUGGINGFACE_PROVIDER,
    defaultModel: config.defaultModel,
    envInputTokenCost: config.inputTokenCost,
    envOutputTokenCost: config.outputTokenCost,
    envCachedInputTokenCost: config.cachedInputTokenCost,
  });
}
