// A customer's charge: cost × markup, exact at any scale (a product of two 18-place decimals may need
// 36 places, past money.ts's Decimal), as PostgreSQL's numeric multiplication is. Pure.

const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?$/;

type Scaled = { units: bigint; scale: number };

function scaled(text: string): Scaled {
  const match = DECIMAL.exec(text.trim());
  if (!match) throw new RangeError(`not a decimal number: ${JSON.stringify(text)}`);
  const [, sign, whole = '0', fraction = ''] = match;
  const units = BigInt(whole + fraction);
  return { units: sign ? -units : units, scale: fraction.length };
}

function format({ units, scale }: Scaled): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const fraction = digits.slice(digits.length - scale).replace(/0+$/, '');
  const text = `${whole}${fraction ? `.${fraction}` : ''}`;
  return negative && text !== '0' ? `-${text}` : text;
}

/** a × b exactly, as the shortest decimal string: ("0.0025", "1.25") → "0.003125". */
export function multiplyExact(a: string, b: string): string {
  const x = scaled(a);
  const y = scaled(b);
  return format({ units: x.units * y.units, scale: x.scale + y.scale });
}

/** a + b exactly, at any scale. */
export function addExact(a: string, b: string): string {
  const x = scaled(a);
  const y = scaled(b);
  const scale = Math.max(x.scale, y.scale);
  const lift = (v: Scaled) => v.units * 10n ** BigInt(scale - v.scale);
  return format({ units: lift(x) + lift(y), scale });
}

/** Any decimal string (e.g. PostgreSQL's "1.2500") in its shortest exact form, at any scale. */
export function exactText(text: string): string {
  return format(scaled(text));
}

/** -1, 0 or 1 as a is less than, equal to or greater than b. */
export function compareExact(a: string, b: string): -1 | 0 | 1 {
  const d = scaled(addExact(a, negateExact(b))).units;
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

export function negateExact(a: string): string {
  const x = scaled(a);
  return format({ units: -x.units, scale: x.scale });
}
