// The router's price catalog (GET {UPSTREAM_BASE_URL}/models), read into per-token prices. Pure: the
// caller fetches the bytes and writes the versions. Format: `data[]` of models, each with an `id` and
// `providers[]` of `{provider, status, pricing: {input, output}}`, prices in USD per million tokens.
import { compare, type Decimal, parseDecimal, perMillionToPerToken } from './money.ts';
import { modelId } from './pricing.ts';

export type CatalogPrice = {
  /** `<model id>:<provider>`, the name step 0 and step 1 of the resolver look up */
  modelName: string;
  /** USD per token */
  inputTokenCost: Decimal;
  outputTokenCost: Decimal;
};

export type Catalog = {
  /** every live provider with a well-formed price */
  prices: CatalogPrice[];
  /** one line per entry left alone because it was malformed */
  problems: string[];
  /**
   * Whether a catalog price stored under `modelName` that this catalog does not price should be
   * retired: yes when the catalog says so (the provider is gone or not live), no when its entry was
   * malformed or the catalog had an entry it could not attribute to a model.
   */
  retires(modelName: string): boolean;
};

/** What a catalog may hold (config: CATALOG_MAX_*). */
export type CatalogBounds = {
  maxModels: number;
  maxProvidersPerModel: number;
  /** bytes of the document */
  maxBytes: number;
  /** USD per million tokens, a decimal string: the highest input or output price accepted */
  maxPricePerMillion: string;
};

/** The defaults of CATALOG_MAX_* (config.ts): the router's catalog is a few hundred models, < 1 MB. */
export const DEFAULT_CATALOG_BOUNDS: CatalogBounds = {
  maxModels: 5000,
  maxProvidersPerModel: 64,
  maxBytes: 8 * 1024 * 1024,
  maxPricePerMillion: '1000',
};

export class CatalogError extends Error {
  override name = 'CatalogError';
}

// bounds on what the router controls: names become database keys, metric labels never
const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/;
const PROVIDER_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** a price's text: longer than this is no price (a 200,000-digit number would cost a bigint each) */
const MAX_PRICE_CHARS = 40;
/** nesting a catalog entry needs is 7 deep; a value nested deeper is replaced (see flattenDeep) */
const MAX_DEPTH = 16;
const TOO_DEEP = '(nested too deep)';
const MAX_PROBLEMS = 100;
const JSON_NUMBER = /^(-)?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A price as the catalog wrote it (a JSON number's own text, or a string) → USD per token. */
function perToken(value: unknown, maxPerMillion: Decimal): Decimal {
  if (typeof value !== 'string') throw new RangeError('not a number');
  if (value.length > MAX_PRICE_CHARS) throw new RangeError(`longer than ${MAX_PRICE_CHARS} characters`);
  const match = JSON_NUMBER.exec(value.trim());
  if (!match || match[1]) throw new RangeError(`not a non-negative number: ${JSON.stringify(value)}`);
  const [, , whole = '0', fraction = '', exponent = '0'] = match;
  // scientific notation moves the decimal point; shift the digits exactly instead of going through a float
  const shift = Number(exponent);
  if (!Number.isSafeInteger(shift) || Math.abs(shift) > 40)
    throw new RangeError(`exponent out of range: ${value}`);
  let digits = whole + fraction;
  let point = whole.length + shift;
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits = digits.padEnd(point, '0');
  const text = `${digits.slice(0, point) || '0'}${point < digits.length ? `.${digits.slice(point)}` : ''}`;
  // both are per million here; isDecimal-safe: at most 40 + 40 digits
  if (compare(parseDecimal(text), maxPerMillion) > 0)
    throw new RangeError(`${value} per million is above the highest accepted price`);
  return perMillionToPerToken(text);
}

/**
 * The JSON text with every value nested deeper than MAX_DEPTH replaced by a string, so that a huge
 * nested object costs its own entry only (JSON.parse's reviver walks recursively and would overflow
 * the stack, failing the whole catalog). One pass, strings and escapes respected.
 */
function flattenDeep(text: string): string {
  const kept: string[] = [];
  let depth = 0;
  let inString = false;
  let skipFrom = -1;
  let copiedTo = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c)
        i++; // backslash: the next character is escaped
      else if (ch === 0x22) inString = false;
      continue;
    }
    if (ch === 0x22) inString = true;
    else if (ch === 0x7b || ch === 0x5b) {
      depth++;
      if (depth === MAX_DEPTH + 1 && skipFrom < 0) skipFrom = i;
    } else if (ch === 0x7d || ch === 0x5d) {
      if (depth === MAX_DEPTH + 1 && skipFrom >= 0) {
        kept.push(text.slice(copiedTo, skipFrom), JSON.stringify(TOO_DEEP));
        copiedTo = i + 1;
        skipFrom = -1;
      }
      depth--;
    }
  }
  if (copiedTo === 0) return text;
  kept.push(text.slice(copiedTo));
  return kept.join('');
}

/**
 * The catalog's text → prices. Numbers are read from their source text (JSON.parse's reviver context),
 * so "0.15" per million is exactly 0.00000015 per token. Throws CatalogError when the whole document
 * is unusable (not JSON, no `data` array); a malformed entry only skips that entry.
 */
export function parseCatalog(text: string, bounds: CatalogBounds = DEFAULT_CATALOG_BOUNDS): Catalog {
  // UTF-8 is at least one byte a UTF-16 unit: the cheap test first
  if (text.length > bounds.maxBytes || Buffer.byteLength(text) > bounds.maxBytes)
    throw new CatalogError(`the catalog is larger than ${bounds.maxBytes} bytes`);
  const maxPerMillion = parseDecimal(bounds.maxPricePerMillion);
  let document: unknown;
  try {
    document = JSON.parse(flattenDeep(text), (_key, value: unknown, context?: { source?: string }) =>
      typeof value === 'number' && context?.source !== undefined ? context.source : value,
    );
  } catch {
    throw new CatalogError('the catalog is not JSON');
  }
  if (!isObject(document) || !Array.isArray(document.data)) {
    throw new CatalogError('the catalog has no `data` array');
  }
  if (document.data.length > bounds.maxModels)
    throw new CatalogError(`the catalog lists more than ${bounds.maxModels} models`);

  const prices: CatalogPrice[] = [];
  const problems: string[] = [];
  const listed = new Set<string>();
  const keepModels = new Set<string>();
  const keepNames = new Set<string>();
  let complete = true;

  document.data.forEach((model: unknown, i) => {
    const id = isObject(model) ? model.id : undefined;
    if (typeof id !== 'string' || !MODEL_ID.test(id)) {
      problems.push(`data[${i}]: no valid model id`);
      complete = false;
      return;
    }
    listed.add(id);
    const providers = isObject(model) ? model.providers : undefined;
    if (!Array.isArray(providers)) {
      problems.push(`${id}: no providers array`);
      keepModels.add(id);
      return;
    }
    if (providers.length > bounds.maxProvidersPerModel) {
      problems.push(`${id}: more than ${bounds.maxProvidersPerModel} providers`);
      keepModels.add(id);
      return;
    }
    providers.forEach((entry: unknown, j) => {
      const provider = isObject(entry) ? entry.provider : undefined;
      if (!isObject(entry) || typeof provider !== 'string' || !PROVIDER_NAME.test(provider)) {
        problems.push(`${id}: providers[${j}]: no valid provider name`);
        keepModels.add(id);
        return;
      }
      const modelName = `${id}:${provider}`;
      const { status, pricing } = entry;
      // not live, or live without a price: the catalog prices it no more (retired below)
      if (status !== 'live' || pricing === undefined || pricing === null) return;
      try {
        if (!isObject(pricing)) throw new RangeError('pricing is not an object');
        prices.push({
          modelName,
          inputTokenCost: perToken(pricing.input, maxPerMillion),
          outputTokenCost: perToken(pricing.output, maxPerMillion),
        });
      } catch (err) {
        problems.push(`${modelName}: ${(err as Error).message}`);
        keepNames.add(modelName);
      }
    });
  });

  return {
    prices,
    // a hostile catalog can have a problem per entry: the log keeps the first ones and a count
    problems:
      problems.length > MAX_PROBLEMS
        ? [...problems.slice(0, MAX_PROBLEMS), `… and ${problems.length - MAX_PROBLEMS} more`]
        : problems,
    retires(modelName) {
      const id = modelId(modelName);
      if (keepNames.has(modelName) || keepModels.has(id)) return false;
      return listed.has(id) || complete;
    },
  };
}
