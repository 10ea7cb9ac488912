// Exact decimal money: USD amounts and per-token prices as bigint scaled by 10^18.
// Prices have at most 18 decimal places and costs are integer tokens × price, so every product
// and sum is exact. A JS number never holds money; decimal strings cross every boundary.

declare const brand: unique symbol;
/** An exact decimal: the value × 10^18, as a bigint. */
export type Decimal = bigint & { readonly [brand]: 'Decimal' };

export const SCALE = 18;
const ONE = 10n ** BigInt(SCALE);
const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?$/;

export const ZERO = 0n as Decimal;

/** Parses "0.0025", "12", "-1.5". Throws on anything else, or on more than 18 decimal places. */
export function parseDecimal(text: string): Decimal {
  const match = DECIMAL.exec(text.trim());
  if (!match) throw new RangeError(`not a decimal number: ${JSON.stringify(text)}`);
  const [, sign, whole = '0', rawFraction = ''] = match;
  // PostgreSQL numeric may pad with zeros past our scale ("0.000001000000000000000"): those are exact
  const fraction = rawFraction.replace(/0+$/, '');
  if (fraction.length > SCALE) throw new RangeError(`more than ${SCALE} decimal places: ${text}`);
  const units = BigInt(whole) * ONE + BigInt(fraction.padEnd(SCALE, '0') || '0');
  return (sign ? -units : units) as Decimal;
}

export function isDecimal(text: string): boolean {
  try {
    parseDecimal(text);
    return true;
  } catch {
    return false;
  }
}

/** The shortest exact decimal string: 2500000000000000n → "0.0025", 0n → "0". */
export function formatDecimal(value: Decimal): string {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const whole = abs / ONE;
  const fraction = (abs % ONE).toString().padStart(SCALE, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

export function add(a: Decimal, b: Decimal): Decimal {
  return (a + b) as Decimal;
}

export function subtract(a: Decimal, b: Decimal): Decimal {
  return (a - b) as Decimal;
}

/** tokens × USD per token. Tokens are whole numbers by definition. */
export function times(tokens: number, pricePerToken: Decimal): Decimal {
  if (!Number.isSafeInteger(tokens) || tokens < 0) throw new RangeError(`not a token count: ${tokens}`);
  return (BigInt(tokens) * pricePerToken) as Decimal;
}

export function compare(a: Decimal, b: Decimal): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Normalizes any decimal string (e.g. PostgreSQL's "0.00250000") to its shortest exact form. */
export function canonical(text: string): string {
  return formatDecimal(parseDecimal(text));
}

const MILLION = 1_000_000n;

/**
 * USD per million tokens (the router catalog's unit) → USD per token, exactly: "0.15" → 1.5e-7.
 * Throws when the per-token price would need more than 18 decimal places (more than 12 given).
 */
export function perMillionToPerToken(text: string): Decimal {
  const perMillion = parseDecimal(text);
  if (perMillion % MILLION !== 0n)
    throw new RangeError(`too many decimal places for a per-million price: ${text}`);
  return (perMillion / MILLION) as Decimal;
}

/**
 * A decimal string as the nearest JS number, for a value that is a float by nature: an OpenTelemetry
 * counter is summed and exported as a double, so a metric of money may be off in its last digits. Never
 * for arithmetic, storage or a reply; the exact decimal travels beside it (the span's gen_ai.usage.cost).
 */
export function toApproximateFloat(text: string): number {
  return Number(text);
}
