import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AlertRecord } from '../../src/db/alerts-repo.ts';
import { backoffMs, signature } from '../../src/services/alerts/alert-deliverer.ts';
import { alertPayload } from '../../src/services/alerts/alerts.ts';

const alert: AlertRecord = {
  id: 'alr_0123456789abcdef0123456789abcdef',
  type: 'budget.threshold',
  api_key_id: 'key_1',
  key_name: 'prod <eu>',
  budget_period: 'week',
  period_start: '2026-11-30',
  threshold: '0.8',
  spent_usd: '12.000000000000000000',
  budget_usd: '10.00',
  account_id: null,
  account_name: null,
  balance_usd: null,
  threshold_usd: null,
  created_at: '2026-12-01T08:00:00.000000Z',
  state: 'pending',
  attempts: 0,
  next_attempt_at: '2026-12-01T08:00:00.000000Z',
  last_error: null,
  delivered_at: null,
};

describe('the alert webhook', () => {
  it('says what happened in a sentence a chat channel shows as is, with exact money', () => {
    expect(alertPayload(alert)).toEqual({
      type: 'budget.threshold',
      id: alert.id,
      key_id: 'key_1',
      key_name: 'prod <eu>',
      period_start: '2026-11-30',
      threshold: 0.8,
      spent_usd: '12',
      budget_usd: '10',
      text: "Tollgate: key 'prod &lt;eu&gt;' has spent $12.00 of its $10.00 weekly budget (120%), reaching its 80% alert threshold for the period starting 2026-11-30 (UTC).",
    });
    expect(
      alertPayload({ ...alert, spent_usd: '0.000222', budget_usd: '0.00037', threshold: '0.125' }).text,
    ).toContain(
      'has spent $0.000222 of its $0.00037 weekly budget (60%), reaching its 12.5% alert threshold',
    );
  });

  it('signs the exact body with HMAC-SHA256', () => {
    const body = JSON.stringify(alertPayload(alert));
    expect(signature(body, 'whsec_0123456789abcdef')).toBe(
      `sha256=${createHmac('sha256', 'whsec_0123456789abcdef').update(body).digest('hex')}`,
    );
  });

  it('backs off exponentially from the base, capped', () => {
    const options = { backoffBaseMs: 2000, backoffMaxMs: 300_000 } as Parameters<typeof backoffMs>[1];
    expect([1, 2, 3, 4, 8, 9, 50].map((n) => backoffMs(n, options))).toEqual([
      2000, 4000, 8000, 16_000, 256_000, 300_000, 300_000,
    ]);
  });
});
