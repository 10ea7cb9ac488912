import { describe, expect, it } from 'vitest';
import {
  add,
  canonical,
  compare,
  type Decimal,
  formatDecimal,
  isDecimal,
  parseDecimal,
  perMillionToPerToken,
  subtract,
  times,
  toApproximateFloat,
  ZERO,
} from '../../src/billing/money.ts';

const d = parseDecimal;

describe('decimal money', () => {
  it.each([
    ['0', '0'],
    ['12', '12'],
    ['0.0025', '0.0025'],
    ['-1.5', '-1.5'],
    ['0.000000000000000001', '0.000000000000000001'],
    ['123456789012345678901234567890.5', '123456789012345678901234567890.5'],
  ])('round-trips %s through parse and format', (text, formatted) => {
    expect(formatDecimal(d(text))).toBe(formatted);
  });

  it('holds the value scaled by 10^18', () => {
    expect(d('0.0025')).toBe(2_500_000_000_000_000n);
    expect(d('1')).toBe(10n ** 18n);
  });

  it.each([
    ['0.000309000', '0.000309'],
    ['0.000001000000000000000', '0.000001'],
    ['0.00250000', '0.0025'],
    ['25.00', '25'],
    ['0.0', '0'],
    ['-0', '0'],
    ['007.50', '7.5'],
  ])('drops the zeros PostgreSQL pads numeric with: %s → %s', (text, shortest) => {
    expect(canonical(text)).toBe(shortest);
  });

  it('prices 1000 prompt × 0.000001 + 500 completion × 0.000003 at exactly 0.0025', () => {
    const cost = add(times(1000, d('0.000001')), times(500, d('0.000003')));
    expect(formatDecimal(cost)).toBe('0.0025');
  });

  it('prices 123457 tokens × 0.00000015 at exactly 0.01851855', () => {
    expect(formatDecimal(times(123_457, d('0.00000015')))).toBe('0.01851855');
    // what a float would have said
    expect(123_457 * 0.00000015).not.toBe(0.01851855);
  });

  it('rejects more than 18 significant decimal places', () => {
    expect(() => d('0.0000000000000000001')).toThrow(RangeError);
    expect(() => d('1.1234567890123456789')).toThrow(/more than 18 decimal places/);
    expect(isDecimal('0.0000000000000000001')).toBe(false);
    // trailing zeros past the scale are still exact
    expect(formatDecimal(d('0.1000000000000000000000'))).toBe('0.1');
  });

  it.each([
    '',
    ' ',
    'abc',
    '1e-6',
    '0x10',
    '1,5',
    '.5',
    '5.',
    '+1',
    '1.2.3',
    'NaN',
    'Infinity',
    '- 1',
    '0.000001 USD',
  ])('rejects %j as not a decimal number', (text) => {
    expect(() => d(text)).toThrow(/not a decimal number/);
    expect(isDecimal(text)).toBe(false);
  });

  it('sums ten thousand tiny costs exactly where floats drift', () => {
    let exact: Decimal = ZERO;
    let float = 0;
    for (let i = 0; i < 10_000; i++) {
      exact = add(exact, d('0.000309'));
      float += 0.000309;
    }
    expect(formatDecimal(exact)).toBe('3.09');
    expect(float).not.toBe(3.09);

    let tenths: Decimal = ZERO;
    for (let i = 0; i < 10; i++) tenths = add(tenths, d('0.1'));
    expect(formatDecimal(tenths)).toBe('1');
  });

  it('keeps 10^18 smallest units exact, beyond what a double can hold', () => {
    let sum: Decimal = ZERO;
    for (let i = 0; i < 1000; i++) sum = add(sum, d('0.000000000000000001'));
    expect(formatDecimal(sum)).toBe('0.000000000000001');
    expect(formatDecimal(add(d('90071992547409.93'), d('0.000000000000000001')))).toBe(
      '90071992547409.930000000000000001',
    );
  });

  it('subtracts and compares exactly', () => {
    expect(formatDecimal(subtract(d('25'), d('0.000309')))).toBe('24.999691');
    expect(formatDecimal(subtract(d('0.0001'), d('0.0003')))).toBe('-0.0002');
    expect(compare(d('0.1'), d('0.10'))).toBe(0);
    expect(compare(d('0.000001'), d('0.000002'))).toBe(-1);
    expect(compare(d('1'), d('0.999999999999999999'))).toBe(1);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])(
    'refuses %s as a token count',
    (tokens) => {
      expect(() => times(tokens, d('0.000001'))).toThrow(/not a token count/);
    },
  );

  it('prices zero tokens at zero', () => {
    expect(formatDecimal(times(0, d('0.000003')))).toBe('0');
  });
});

describe('catalog prices per million tokens', () => {
  it.each([
    ['0.15', '0.00000015'],
    ['0.75', '0.00000075'],
    ['2', '0.000002'],
    ['0.000001', '0.000000000001'],
    ['0', '0'],
  ])('reads %s USD per million as exactly %s USD per token', (perMillion, perToken) => {
    expect(formatDecimal(perMillionToPerToken(perMillion))).toBe(perToken);
  });

  it('refuses a per-million price that would need more than 18 decimal places per token', () => {
    expect(() => perMillionToPerToken('0.0000000000001')).toThrow(/decimal places/);
    expect(() => perMillionToPerToken('cheap')).toThrow(/not a decimal/);
  });

  it('gives a metric the nearest number to a decimal, inexact past the precision of a double', () => {
    expect(toApproximateFloat('0.000123')).toBe(0.000123);
    expect(toApproximateFloat('12')).toBe(12);
    expect(toApproximateFloat('1.000000000000000001')).toBe(1);
  });
});
