import { describe, expect, it } from 'vitest';
import { parseDecimal } from '../../src/billing/money.ts';
import { createPriceBook } from '../../src/billing/pricing.ts';
import type { Database } from '../../src/db/client.ts';
import { GatewayError } from '../../src/errors.ts';
import { budgetPeriod, createLimits, type FailMode } from '../../src/services/limits.ts';

const request = {
  model: 'openai/gpt-oss-120b:groq',
  messages: [{ role: 'user', content: 'hi' }],
  max_tokens: 10,
};
const limits = {
  monthlyBudgetUsd: parseDecimal('5'),
  budgetPeriod: 'month',
  softBudget: false,
  rpm: 60,
  tpm: null,
} as const;

/** A database that cannot be reached: every query fails as a dropped connection would. */
const unreachable = {
  rows: async () => {
    throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  },
} as unknown as Database;

const limitsWith = (failMode: FailMode) =>
  createLimits({
    database: unreachable,
    priceBook: createPriceBook({
      envInputTokenCost: parseDecimal('0.000001'),
      envOutputTokenCost: parseDecimal('0.000003'),
    }),
    failMode,
    defaultMaxTokens: 4096,
  });

describe('limits when the database is down', () => {
  it('admits without a reservation when failing open', async () => {
    const admission = await limitsWith('open').admit('key_1', limits, request, new Date());
    expect(admission.reservedUsd).toBeNull();
  });

  it('refuses with 503 limits_unavailable when failing closed', async () => {
    const error = await limitsWith('closed')
      .admit('key_1', limits, request, new Date())
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(GatewayError);
    expect(error).toMatchObject({ status: 503, code: 'limits_unavailable' });
  });

  it('does not touch the database for a key without limits', async () => {
    const admission = await limitsWith('closed').admit(
      'key_1',
      { monthlyBudgetUsd: null, budgetPeriod: 'month', softBudget: false, rpm: null, tpm: null },
      request,
      new Date(),
    );
    expect(admission).toMatchObject({ reservedUsd: null, headers: {} });
  });
});

describe('budget periods', () => {
  it('roll over at midnight UTC on the first of the month', () => {
    expect(budgetPeriod(new Date('2026-11-30T23:59:59.999Z'))).toBe('2026-11-01');
    expect(budgetPeriod(new Date('2026-12-01T00:00:00.000Z'))).toBe('2026-12-01');
    // half past midnight in Berlin on Dec 1 is still November in UTC
    expect(budgetPeriod(new Date('2026-12-01T00:30:00+01:00'))).toBe('2026-11-01');
  });

  it('roll over at midnight UTC for days, and on Monday 00:00 UTC for ISO weeks', () => {
    expect(budgetPeriod(new Date('2026-12-01T23:59:59.999Z'), 'day')).toBe('2026-12-01');
    expect(budgetPeriod(new Date('2026-12-02T00:00:00.000Z'), 'day')).toBe('2026-12-02');
    expect(budgetPeriod(new Date('2026-12-06T23:59:59.999Z'), 'week')).toBe('2026-11-30');
    expect(budgetPeriod(new Date('2026-12-07T00:00:00.000Z'), 'week')).toBe('2026-12-07');
    // a week across New Year belongs to the Monday that began it
    expect(budgetPeriod(new Date('2027-01-03T12:00:00Z'), 'week')).toBe('2026-12-28');
  });
});
