import { describe, expect, it } from 'vitest';
import { costOf } from '../../src/billing/cost.ts';
import { formatDecimal, parseDecimal } from '../../src/billing/money.ts';
import {
  type AppliedPrice,
  canonicalProvider,
  createPriceBook,
  type PriceVersion,
  shortModelName,
} from '../../src/billing/pricing.ts';

const MODEL = 'openai/gpt-oss-120b:groq';
const T0 = new Date('2020-01-01T00:00:00Z');

let nextId = 1;
/** A version of (provider, model_name); ids grow in creation order, as the database's do. */
function version(
  modelName: string,
  input: string,
  output: string,
  extra: Partial<Omit<PriceVersion, 'inputTokenCost' | 'outputTokenCost'>> = {},
): PriceVersion {
  return {
    id: nextId++,
    provider: 'huggingface',
    modelName,
    inputTokenCost: parseDecimal(input),
    outputTokenCost: parseDecimal(output),
    retired: false,
    effectiveFrom: T0,
    ...extra,
  };
}

function book(versions: PriceVersion[]) {
  const priceBook = createPriceBook({
    envInputTokenCost: parseDecimal('0.000001'),
    envOutputTokenCost: parseDecimal('0.000003'),
  });
  priceBook.replace(versions);
  return priceBook;
}

/** An applied price with its decimals as strings, for readable assertions. */
const shown = (price: AppliedPrice) => ({
  source: price.source,
  pricingId: price.pricingId,
  input: formatDecimal(price.inputTokenCost),
  output: formatDecimal(price.outputTokenCost),
});

describe('short model names', () => {
  it.each([
    ['openai/gpt-oss-120b:groq', 'gpt-oss-120b'],
    ['meta-llama/Llama-3.3-70B-Instruct', 'Llama-3.3-70B-Instruct'],
    ['gpt-oss-120b', 'gpt-oss-120b'],
    ['gpt-oss-120b:cerebras', 'gpt-oss-120b'],
  ])('%s → %s', (model, short) => {
    expect(shortModelName(model)).toBe(short);
  });

  it('treats mistral as the HuggingFace provider, whatever the case', () => {
    expect(canonicalProvider('mistral')).toBe('huggingface');
    expect(canonicalProvider(' HuggingFace ')).toBe('huggingface');
    expect(canonicalProvider('openrouter')).toBe('openrouter');
  });
});

describe('the price resolver', () => {
  it('walks exact → short → default → env, naming the source and the version at each step', () => {
    const exact = version(MODEL, '0.000002', '0.000004');
    const short = version('gpt-oss-120b', '0.0000005', '0.0000015');
    const fallback = version('default', '0.00000015', '0.0000006');
    const at = new Date('2020-02-01T00:00:00Z');
    const retire = (v: PriceVersion) => version(v.modelName, '0', '0', { retired: true, effectiveFrom: at });

    const all = [exact, short, fallback];
    expect(shown(book(all).resolve('huggingface', MODEL))).toEqual({
      source: 'db:exact',
      pricingId: exact.id,
      input: '0.000002',
      output: '0.000004',
    });
    all.push(retire(exact));
    expect(shown(book(all).resolve('huggingface', MODEL))).toEqual({
      source: 'db:short',
      pricingId: short.id,
      input: '0.0000005',
      output: '0.0000015',
    });
    all.push(retire(short));
    expect(shown(book(all).resolve('huggingface', MODEL))).toEqual({
      source: 'db:default',
      pricingId: fallback.id,
      input: '0.00000015',
      output: '0.0000006',
    });
    all.push(retire(fallback));
    expect(shown(book(all).resolve('huggingface', MODEL))).toEqual({
      source: 'env',
      pricingId: null,
      input: '0.000001',
      output: '0.000003',
    });
  });

  it('prices another provider with no rows at the built-in 0.000001, flagged builtin', () => {
    const priceBook = book([version(MODEL, '0.000002', '0.000004')]);
    expect(shown(priceBook.resolve('openrouter', MODEL))).toEqual({
      source: 'builtin',
      pricingId: null,
      input: '0.000001',
      output: '0.000001',
    });
  });

  it('uses another provider’s own rows before the built-in price', () => {
    const own = version(MODEL, '0.000007', '0.000008', { provider: 'openrouter' });
    expect(shown(book([own]).resolve('openrouter', MODEL))).toMatchObject({
      source: 'db:exact',
      pricingId: own.id,
    });
  });

  it('serves huggingface requests from rows stored under the mistral alias', () => {
    const seeded = version('gpt-oss-120b', '0.0000009', '0.0000027', { provider: 'mistral' });
    const priceBook = book([seeded]);
    expect(shown(priceBook.resolve('huggingface', MODEL))).toEqual({
      source: 'db:short',
      pricingId: seeded.id,
      input: '0.0000009',
      output: '0.0000027',
    });
    expect(priceBook.resolve('mistral', MODEL).pricingId).toBe(seeded.id);
  });

  it('applies the newest version in effect', () => {
    const old = version(MODEL, '0.000001', '0.000003', { effectiveFrom: T0 });
    const newer = version(MODEL, '0.000002', '0.000006', { effectiveFrom: new Date('2020-03-01T00:00:00Z') });
    // listed out of order: the book sorts by effective_from, not by position
    const priceBook = book([newer, old]);
    expect(priceBook.resolve('huggingface', MODEL).pricingId).toBe(newer.id);
    expect(priceBook.resolve('huggingface', MODEL, new Date('2020-02-01T00:00:00Z')).pricingId).toBe(old.id);
  });

  it('breaks a tie in effective_from by the later version', () => {
    const first = version(MODEL, '0.000001', '0.000003');
    const second = version(MODEL, '0.000005', '0.000005');
    expect(book([second, first]).resolve('huggingface', MODEL).pricingId).toBe(second.id);
  });

  it('does not use a version before its effective_from', () => {
    const from = new Date('2020-06-01T00:00:00Z');
    const current = version(MODEL, '0.000001', '0.000003');
    const scheduled = version(MODEL, '0.000009', '0.000009', { effectiveFrom: from });
    const priceBook = book([current, scheduled]);
    expect(priceBook.resolve('huggingface', MODEL, new Date(from.getTime() - 1)).pricingId).toBe(current.id);
    expect(priceBook.resolve('huggingface', MODEL, from).pricingId).toBe(scheduled.id);
  });

  it('falls through to the next step while the only version is scheduled for later', () => {
    const scheduled = version(MODEL, '0.000009', '0.000009', {
      effectiveFrom: new Date('2020-06-01T00:00:00Z'),
    });
    const short = version('gpt-oss-120b', '0.0000005', '0.0000015');
    const priceBook = book([scheduled, short]);
    expect(priceBook.resolve('huggingface', MODEL, new Date('2020-05-01T00:00:00Z'))).toMatchObject({
      source: 'db:short',
      pricingId: short.id,
    });
  });

  it('falls through while a retirement is in effect, and takes a price set after it', () => {
    const set = version(MODEL, '0.000002', '0.000004');
    const retired = version(MODEL, '0', '0', {
      retired: true,
      effectiveFrom: new Date('2020-02-01T00:00:00Z'),
    });
    const again = version(MODEL, '0.000003', '0.000005', { effectiveFrom: new Date('2020-03-01T00:00:00Z') });
    const priceBook = book([set, retired, again]);
    expect(priceBook.resolve('huggingface', MODEL, new Date('2020-01-15T00:00:00Z')).pricingId).toBe(set.id);
    expect(priceBook.resolve('huggingface', MODEL, new Date('2020-02-15T00:00:00Z')).source).toBe('env');
    expect(priceBook.resolve('huggingface', MODEL, new Date('2020-03-15T00:00:00Z')).pricingId).toBe(
      again.id,
    );
  });

  it('swaps in a whole new set of versions', () => {
    const priceBook = book([version(MODEL, '0.000002', '0.000004')]);
    priceBook.replace([]);
    expect(priceBook.resolve('huggingface', MODEL).source).toBe('env');
    expect(priceBook.versions()).toEqual([]);
  });
});

describe('the cost of a request', () => {
  const env: AppliedPrice = {
    pricingId: null,
    inputTokenCost: parseDecimal('0.000001'),
    outputTokenCost: parseDecimal('0.000003'),
    source: 'env',
  };

  it('is prompt × input price + completion × output price, exactly', () => {
    const cost = costOf({ promptTokens: 1000, completionTokens: 500 }, env);
    expect(formatDecimal(cost.input)).toBe('0.001');
    expect(formatDecimal(cost.output)).toBe('0.0015');
    expect(formatDecimal(cost.total)).toBe('0.0025');
  });

  it('stays exact at fractional-cent prices', () => {
    const price = {
      ...env,
      inputTokenCost: parseDecimal('0.00000015'),
      outputTokenCost: parseDecimal('0.0000006'),
    };
    const cost = costOf({ promptTokens: 123_457, completionTokens: 76 }, price);
    expect(formatDecimal(cost.input)).toBe('0.01851855');
    expect(formatDecimal(cost.output)).toBe('0.0000456');
    expect(formatDecimal(cost.total)).toBe('0.01856415');
  });

  it('costs nothing for no tokens', () => {
    expect(formatDecimal(costOf({ promptTokens: 0, completionTokens: 0 }, env).total)).toBe('0');
  });
});
