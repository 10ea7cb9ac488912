import { describe, expect, it } from 'vitest';
import { parseDecimal } from '../../src/billing/money.ts';
import { createPriceBook } from '../../src/billing/pricing.ts';
import type { Database } from '../../src/db/client.ts';
import { GatewayError } from '../../src/errors.ts';
import {
  type AdmissionInput,
  budgetPeriod,
  createLimits,
  type FailMode,
} from '../../src/services/admission/limits.ts';

const request = {
  model: 'openai/gpt-oss-120b:groq',
  messages: [{ role: 'user', content: 'hi' }],
  max_tokens: 10,
};
const limits = {
  monthlyBudgetUsd: parseDecimal('5'),
  rpm: 60,
  tpm: null,
  maxConcurrent: null,
  budgetPeriod: 'month',
  softBudget: false,
} as const;
const input = (over: Partial<AdmissionInput> = {}): AdmissionInput => ({
  requestId: 'req_1',
  keyId: 'key_1',
  limits,
  body: request,
  at: new Date(),
  ...over,
});

/** A database that cannot be reached: every query fails as a dropped connection would. */
const refused = async () => {
  throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
};
const unreachable = { rows: refused, query: refused } as unknown as Database;

const limitsWith = (failMode: FailMode) =>
  createLimits({
    database: unreachable,
    priceTarget: (model) => ({ provider: 'huggingface', model }),
    priceBook: createPriceBook({
      envProvider: 'huggingface',
      envInputTokenCost: parseDecimal('0.000001'),
      envOutputTokenCost: parseDecimal('0.000003'),
    }),
    failMode,
    defaultMaxTokens: 4096,
  });

describe('limits when the database is down', () => {
  it('admits without a reservation when failing open', async () => {
    const admission = await limitsWith('open').admit(input());
    expect(admission.reservedUsd).toBeNull();
  });

  it('refuses with 503 limits_unavailable when failing closed', async () => {
    const error = await limitsWith('closed')
      .admit(input())
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(GatewayError);
    expect(error).toMatchObject({ status: 503, code: 'limits_unavailable' });
  });

  it('does not touch the database for a key without limits', async () => {
    const admission = await limitsWith('closed').admit(
      input({
        limits: {
          monthlyBudgetUsd: null,
          rpm: null,
          tpm: null,
          maxConcurrent: null,
          budgetPeriod: 'month',
          softBudget: false,
        },
      }),
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

describe('concurrency per key', () => {
  const only = (maxConcurrent: number) => ({
    monthlyBudgetUsd: null,
    rpm: null,
    tpm: null,
    maxConcurrent,
    budgetPeriod: 'month' as const,
    softBudget: false,
  });

  it('refuses past max_concurrent with 429 and retry-after, until finish() frees a slot', async () => {
    const limitsService = limitsWith('closed');
    const first = await limitsService.admit(input({ limits: only(2) }));
    await limitsService.admit(input({ limits: only(2) }));
    const refused = await limitsService.admit(input({ limits: only(2) })).catch((err: unknown) => err);
    expect(refused).toMatchObject({
      status: 429,
      code: 'concurrency_limit_exceeded',
      headers: { 'retry-after': '1' },
    });
    await first.finish({ metered: true });
    // a second finish of the same admission frees nothing more
    await first.finish({ metered: true });
    expect(limitsService.inFlight('key_1')).toBe(1);
    await limitsService.admit(input({ limits: only(2) }));
    expect(limitsService.inFlight('key_1')).toBe(2);
  });

  it('takes no slot for a request refused as malformed', async () => {
    const limitsService = limitsWith('closed');
    const bad = await limitsService
      .admit(input({ limits: only(1), body: { ...request, max_tokens: '10' } }))
      .catch((err: unknown) => err);
    expect(bad).toMatchObject({ status: 400, param: 'max_tokens' });
    expect(limitsService.inFlight('key_1')).toBe(0);
  });

  it('gives the slot back when the database refuses in closed mode, keeps it in open mode until finish', async () => {
    const withBudget = { ...limits, rpm: null, maxConcurrent: 1 };
    const closed = limitsWith('closed');
    await closed.admit(input({ limits: withBudget })).catch(() => {});
    expect(closed.inFlight('key_1')).toBe(0);
    const open = limitsWith('open');
    const admission = await open.admit(input({ limits: withBudget }));
    expect(open.inFlight('key_1')).toBe(1);
    // the release cannot reach the database either: finish still resolves and frees the slot
    await expect(admission.finish({ metered: false })).resolves.toBeUndefined();
    expect(open.inFlight('key_1')).toBe(0);
  });
});
