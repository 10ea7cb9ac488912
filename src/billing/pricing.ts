// The price resolver, served from memory: exact model → short model → `default` → env prices → built-in.
// Pure: versions are loaded from the database by the caller and swapped in whole.
import { type Decimal, parseDecimal } from './money.ts';

export const PROVIDER = 'huggingface';
/** Provider names that mean the HuggingFace router (the seed stored some prices as `mistral`). */
const PROVIDER_ALIASES: Readonly<Record<string, string>> = { huggingface: PROVIDER, mistral: PROVIDER };

export const BUILTIN_PRICE_PER_TOKEN = parseDecimal('0.000001');

export type PricingSource = 'db:exact' | 'db:short' | 'db:default' | 'env' | 'builtin';

/** One row of api_provider_pricing, prices parsed. `retired` versions hide older ones. */
export type PriceVersion = {
  id: number;
  provider: string;
  modelName: string;
  inputTokenCost: Decimal;
  outputTokenCost: Decimal;
  retired: boolean;
  effectiveFrom: Date;
};

/** The unit prices applied to a request (USD per token) and where they came from. */
export type AppliedPrice = {
  pricingId: number | null;
  inputTokenCost: Decimal;
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

export type PriceBook = {
  resolve(provider: string, model: string, at?: Date): AppliedPrice;
  /** Swaps in a full set of versions (after a start, a NOTIFY, or an admin change). */
  replace(versions: readonly PriceVersion[]): void;
  versions(): readonly PriceVersion[];
};

export function createPriceBook({
  envInputTokenCost,
  envOutputTokenCost,
}: {
  envInputTokenCost: Decimal;
  envOutputTokenCost: Decimal;
}): PriceBook {
  // (provider, model_name) → versions, newest effective first
  let byKey = new Map<string, PriceVersion[]>();
  let all: readonly PriceVersion[] = [];

  /** The newest version in effect at `at`, unless that version retires the price. */
  function current(provider: string, modelName: string, at: Date): PriceVersion | undefined {
    const versions = byKey.get(`${provider}\u0000${modelName}`);
    const inEffect = versions?.find((v) => v.effectiveFrom.getTime() <= at.getTime());
    return inEffect && !inEffect.retired ? inEffect : undefined;
  }

  return {
    resolve(providerName, model, at = new Date()) {
      const provider = canonicalProvider(providerName);
      const chain: Array<[string, PricingSource]> = [
        [model, 'db:exact'],
        [shortModelName(model), 'db:short'],
        ['default', 'db:default'],
      ];
      for (const [modelName, source] of chain) {
        const version = current(provider, modelName, at);
        if (version) {
          return {
            pricingId: version.id,
            inputTokenCost: version.inputTokenCost,
            outputTokenCost: version.outputTokenCost,
            source,
          };
        }
      }
      if (provider === PROVIDER) {
        return {
          pricingId: null,
          inputTokenCost: envInputTokenCost,
          outputTokenCost: envOutputTokenCost,
          source: 'env',
        };
      }
      return {
        pricingId: null,
        inputTokenCost: BUILTIN_PRICE_PER_TOKEN,
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
      for (const list of next.values()) {
        list.sort((a, b) => b.effectiveFrom.getTime() - a.effectiveFrom.getTime() || b.id - a.id);
      }
      byKey = next;
      all = versions;
    },

    versions: () => all,
  };
}
