// The price resolver, served from memory: served-by → exact model → short model → `default` → env
// prices → built-in (DESIGN §5). Pure: versions are loaded from the database by the caller and
// swapped in whole.
import { type Decimal, parseDecimal } from './money.ts';

/**
 * Stored provider names that mean another: the seed stored some of the HuggingFace router's prices as
 * `mistral`. A fact about old rows, not a routing rule: which provider serves comes from the upstreams.
 */
const PROVIDER_ALIASES: Readonly<Record<string, string>> = { mistral: 'huggingface' };

/** A serving provider's name as the router sends it; anything else is ignored (the header is the upstream's). */
const SERVED_BY = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export const BUILTIN_PRICE_PER_TOKEN = parseDecimal('0.000001');

export type PricingSource = 'db:served' | 'db:exact' | 'db:short' | 'db:default' | 'env' | 'builtin';

/** Where a version came from; for the same (provider, model_name) an `admin` version always wins. */
export type VersionSource = 'env' | 'admin' | 'catalog';

/** Sources whose prices are a guess, not a price set for the model: their rows count as unpriced. */
export const UNPRICED_SOURCES: ReadonlySet<PricingSource> = new Set(['env', 'builtin']);

/** One row of api_provider_pricing, prices parsed. `retired` versions hide older ones. */
export type PriceVersion = {
  id: number;
  provider: string;
  modelName: string;
  inputTokenCost: Decimal;
  /** USD per cached input token; null: the input price applies */
  cachedInputTokenCost: Decimal | null;
  outputTokenCost: Decimal;
  source: VersionSource;
  retired: boolean;
  effectiveFrom: Date;
};

/** The unit prices applied to a request (USD per token) and where they came from. */
export type AppliedPrice = {
  pricingId: number | null;
  inputTokenCost: Decimal;
  /** USD per cached prompt token, already defaulted to the input price */
  cachedInputTokenCost: Decimal;
  outputTokenCost: Decimal;
  source: PricingSource;
};

export function canonicalProvider(provider: string): string {
  const lower = provider.trim().toLowerCase();
  return PROVIDER_ALIASES[lower] ?? lower;
}

/** `openai/gpt-oss-120b:groq` → `gpt-oss-120b`: org prefix and `:provider` suffix removed. */
export function shortModelName(model: string): string {
  const withoutOrg = model.slice(model.lastIndexOf('/') + 1);
  const colon = withoutOrg.indexOf(':');
  return colon === -1 ? withoutOrg : withoutOrg.slice(0, colon);
}

/** `openai/gpt-oss-120b:fastest` → `openai/gpt-oss-120b`: the `:provider` (or policy) suffix removed. */
export function modelId(model: string): string {
  const slash = model.lastIndexOf('/');
  const colon = model.indexOf(':', slash + 1);
  return colon === -1 ? model : model.slice(0, colon);
}

/**
 * The version that prices (provider, model_name) at `at`, given that name's versions: among those in
 * effect (effective_from ≤ at), the newest `admin` one if there is any, else the one written last
 * (highest id), so a backdated correction wins from its effective_from on. Undefined when the chosen
 * version retires the price.
 */
export function currentVersion(versions: readonly PriceVersion[], at: Date): PriceVersion | undefined {
  let admin: PriceVersion | undefined;
  let other: PriceVersion | undefined;
  for (const v of versions) {
    if (v.effectiveFrom.getTime() > at.getTime()) continue;
    if (v.source === 'admin') {
      if (!admin || v.id > admin.id) admin = v;
    } else if (!other || v.id > other.id) {
      other = v;
    }
  }
  const chosen = admin ?? other;
  return chosen && !chosen.retired ? chosen : undefined;
}

export type PriceBook = {
  /**
   * The price of a request for `model` through `provider` at `at`, served by `servedBy` (the
   * x-inference-provider reply header, else the model's `:provider` suffix; null or omitted: unknown).
   */
  resolve(provider: string, model: string, at?: Date, servedBy?: string | null): AppliedPrice;
  /** Swaps in a full set of versions (after a start, a NOTIFY, or an admin change). */
  replace(versions: readonly PriceVersion[]): void;
  versions(): readonly PriceVersion[];
};

export function createPriceBook({
  envProvider,
  envInputTokenCost,
  envOutputTokenCost,
  envCachedInputTokenCost = null,
}: {
  /** the provider the env prices belong to (the default upstream's, DESIGN §5 step 4); others skip step 4 */
  envProvider: string;
  envInputTokenCost: Decimal;
  envOutputTokenCost: Decimal;
  /** HUGGINGFACE_CACHED_INPUT_TOKEN_COST; null: the input price */
  envCachedInputTokenCost?: Decimal | null;
}): PriceBook {
  const envOwner = canonicalProvider(envProvider);
  // (provider, model_name) → its versions
  let byKey = new Map<string, PriceVersion[]>();
  let all: readonly PriceVersion[] = [];

  const current = (provider: string, modelName: string, at: Date) =>
    currentVersion(byKey.get(`${provider}\u0000${modelName}`) ?? [], at);

  return {
    resolve(providerName, model, at = new Date(), servedBy = null) {
      const provider = canonicalProvider(providerName);
      const chain: Array<[string, PricingSource]> = [];
      const served = servedBy?.trim().toLowerCase();
      if (served && SERVED_BY.test(served)) {
        const name = `${modelId(model)}:${served}`;
        // served by the provider the request named: that is step 1, under its own name
        if (name !== model) chain.push([name, 'db:served']);
      }
      chain.push([model, 'db:exact'], [shortModelName(model), 'db:short'], ['default', 'db:default']);
      for (const [modelName, source] of chain) {
        const version = current(provider, modelName, at);
        if (version) {
          return {
            pricingId: version.id,
            inputTokenCost: version.inputTokenCost,
            cachedInputTokenCost: version.cachedInputTokenCost ?? version.inputTokenCost,
            outputTokenCost: version.outputTokenCost,
            source,
          };
        }
      }
      if (provider === envOwner) {
        return {
          pricingId: null,
          inputTokenCost: envInputTokenCost,
          cachedInputTokenCost: envCachedInputTokenCost ?? envInputTokenCost,
          outputTokenCost: envOutputTokenCost,
          source: 'env',
        };
      }
      return {
        pricingId: null,
        inputTokenCost: BUILTIN_PRICE_PER_TOKEN,
        cachedInputTokenCost: BUILTIN_PRICE_PER_TOKEN,
        outputTokenCost: BUILTIN_PRICE_PER_TOKEN,
        source: 'builtin',
      };
    },

    replace(versions) {
      const next = new Map<string, PriceVersion[]>();
      for (const version of versions) {
        const key = `${canonicalProvider(version.provider)}\u0000${version.modelName}`;
        const list = next.get(key) ?? [];
        list.push(version);
        next.set(key, list);
      }
      byKey = next;
      all = versions;
    },

    versions: () => all,
  };
}
