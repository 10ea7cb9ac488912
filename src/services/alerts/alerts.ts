// Alerts as admins and receivers see them: the /admin/alerts listing and the webhook payload (JSON with a
// `text` a Slack or Teams incoming webhook shows as is). Raising them is the database's job (triggers on
// key_spend, drizzle/0008, and on account_balance, 0016; a refusal's raiseCreditsExhausted); delivering
// them is alert-deliverer.ts's. Account credit alerts' views and texts are in credit-alerts.ts.
import { canonical, formatDecimal, parseDecimal, times } from '../../billing/money.ts';
import {
  type AlertFilters,
  type AlertRecord,
  type AlertState,
  raiseCreditsExhausted,
  selectAlerts,
} from '../../db/alerts-repo.ts';
import type { Database } from '../../db/client.ts';
import { badRequest } from '../../errors.ts';
import { periodAdjective } from '../admission/limits.ts';
import { dollars, slackSafe } from './alert-text.ts';
import { type CreditAlertPayload, type CreditAlertView, creditPayload, creditView } from './credit-alerts.ts';

export type AlertView = BudgetAlertView | CreditAlertView;

export type BudgetAlertView = {
  id: string;
  type: 'budget.threshold';
  key_id: string;
  key_name: string | null;
  period_start: string;
  threshold: number;
  spent_usd: string;
  budget_usd: string;
  created_at: string;
  state: AlertState;
  attempts: number;
  /** when the next try is due; null once delivered or failed */
  next_attempt_at: string | null;
  last_error: string | null;
  delivered_at: string | null;
};

export type AlertPayload = BudgetAlertPayload | CreditAlertPayload;

export type BudgetAlertPayload = {
  type: 'budget.threshold';
  id: string;
  key_id: string;
  key_name: string | null;
  period_start: string;
  threshold: number;
  spent_usd: string;
  budget_usd: string;
  text: string;
};

export type Alerts = {
  /** credits.exhausted for a request refused for credit, once per crossing (a refusal listener) */
  creditsRefused(refusal: { accountId: string; keyId: string }): Promise<void>;
  list(
    filters: AlertFilters,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<{ data: AlertView[]; next_cursor: string | null }>;
};

export function createAlerts({ database }: { database: Database }): Alerts {
  return {
    async creditsRefused({ accountId, keyId }) {
      await raiseCreditsExhausted(database, { accountId, keyId });
    },
    async list(filters, { limit, cursor }) {
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      // one row more than asked says whether another page follows
      const rows = await selectAlerts(database, { filters, limit: limit + 1, after });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        data: page.map(toView),
        next_cursor: rows.length > limit && last ? encodeCursor(last) : null,
      };
    },
  };
}

/** A budget alert's own fields (the database's check guarantees them on its rows). */
function budgetFields(row: AlertRecord) {
  return {
    key_id: row.api_key_id ?? '',
    period_start: row.period_start ?? '',
    threshold: row.threshold ?? '0',
    spent_usd: canonical(row.spent_usd ?? '0'),
    budget_usd: canonical(row.budget_usd ?? '0'),
  };
}

function toView(row: AlertRecord): AlertView {
  const delivery = {
    created_at: row.created_at,
    state: row.state,
    attempts: row.attempts,
    next_attempt_at: row.state === 'pending' ? row.next_attempt_at : null,
    last_error: row.last_error,
    delivered_at: row.delivered_at,
  };
  if (row.type !== 'budget.threshold') return { ...creditView(row, row.type), ...delivery };
  const budget = budgetFields(row);
  return {
    id: row.id,
    type: row.type,
    key_id: budget.key_id,
    key_name: row.key_name,
    period_start: budget.period_start,
    threshold: Number(budget.threshold),
    spent_usd: budget.spent_usd,
    budget_usd: budget.budget_usd,
    ...delivery,
  };
}

const CURSOR = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)\|(alr_[0-9a-f]{32})$/;

function encodeCursor(row: AlertRecord): string {
  return Buffer.from(`${row.created_at}|${row.id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: string; id: string } {
  const match = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  // Node decodes base64 leniently: only the exact text this API wrote is a cursor
  if (match?.[1] && match[2] && Buffer.from(match[0], 'utf8').toString('base64url') === cursor) {
    return { createdAt: match[1], id: match[2] };
  }
  throw badRequest(
    "Invalid query parameter 'cursor': not a cursor this API returned (pass next_cursor as it came)",
    'cursor',
    'invalid_parameter',
  );
}

/** The webhook body of an alert: exact decimal strings for money, a sentence for chat tools. */
export function alertPayload(alert: AlertRecord): AlertPayload {
  if (alert.type !== 'budget.threshold') return creditPayload(alert, alert.type);
  const { key_id, period_start, threshold, spent_usd: spent, budget_usd: budget } = budgetFields(alert);
  const name = alert.key_name ?? key_id;
  const period = periodAdjective(alert.budget_period ?? 'month');
  const text =
    `Tollgate: key '${slackSafe(name)}' has spent ${dollars(spent)} of its ${dollars(budget)} ${period} budget ` +
    `(${percentOf(spent, budget)}%), reaching its ${percent(threshold)}% alert threshold ` +
    `for the period starting ${period_start} (UTC).`;
  return {
    type: 'budget.threshold',
    id: alert.id,
    key_id,
    key_name: alert.key_name,
    period_start,
    threshold: Number(threshold),
    spent_usd: spent,
    budget_usd: budget,
    text,
  };
}

/** A threshold (a fraction, e.g. "0.8") as a percentage, exactly: "80", "12.5". */
function percent(threshold: string): string {
  return formatDecimal(times(100, parseDecimal(threshold)));
}

/** spent / budget as a whole percentage, rounded down (a display figure, not money). */
function percentOf(spent: string, budget: string): string {
  const b = parseDecimal(budget);
  return b > 0n ? ((parseDecimal(spent) * 100n) / b).toString() : '0';
}
