// The dashboard's keys table: each key's budget period, spend against its budget as a bar, its alert
// thresholds, and the alerts raised this period with their delivery state.

import type { KeyWithSpend } from '../services/admission/keys.ts';
import { type KeyRefusals, REFUSAL_REASONS } from '../services/admission/refusals.ts';
import type { AlertView, BudgetAlertView } from '../services/alerts/alerts.ts';
import { perMille } from './chart.tsx';

const usd = (value: string) => `$${value}`;
/** a threshold fraction as a percentage: 0.07 → "7%" (not 7.000000000000001) */
const pct = (fraction: number) => `${Math.round(fraction * 10_000) / 100}%`;
const STATE_BADGE = { delivered: 'badge ok', failed: 'badge bad', pending: 'badge' } as const;

export function KeysPanel({
  keys,
  alerts,
  refusals,
}: {
  keys: KeyWithSpend[];
  alerts: AlertView[];
  refusals: Map<string, KeyRefusals>;
}) {
  return (
    <section class="panel" id="keys">
      <h2>Keys, this budget period</h2>
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th>Key</th>
              <th>Period</th>
              <th class="num">Spent</th>
              <th class="num">Budget</th>
              <th class="barcell">Of budget</th>
              <th>Alerts at</th>
              <th>Alerts this period</th>
              <th>Limits</th>
              <th title="requests refused at admission (no usage row): today / this budget period">
                Refused today / period
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <KeyRow
                k={k}
                alerts={alerts.filter(
                  (a): a is BudgetAlertView =>
                    a.type === 'budget.threshold' && a.key_id === k.id && a.period_start === k.period_start,
                )}
                refused={refusals.get(k.id)}
              />
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** "credits 2 / 9" per reason refused this period, or "—" */
function Refused({ r }: { r: KeyRefusals | undefined }) {
  const shown = REFUSAL_REASONS.filter((reason) => (r?.period[reason] ?? 0) + (r?.today[reason] ?? 0) > 0);
  if (!r || shown.length === 0) return <>—</>;
  return (
    <>
      {shown.map((reason) => (
        <span class="refused" data-reason={reason}>
          {`${reason} ${r.today[reason] ?? 0} / ${r.period[reason] ?? 0}`}
        </span>
      ))}
    </>
  );
}

function KeyRow({
  k,
  alerts,
  refused,
}: {
  k: KeyWithSpend;
  alerts: BudgetAlertView[];
  refused: KeyRefusals | undefined;
}) {
  const budget = k.monthly_budget_usd;
  const used = budget ? perMille(k.period_spend_usd, budget) : 0;
  return (
    <tr class={k.revoked_at ? 'muted' : ''} data-key-id={k.id}>
      <td class="name">
        {k.name} <span class="mono muted nowrap">{k.key_prefix}…</span>
        {k.revoked_at ? ' (revoked)' : ''}
      </td>
      <td>
        {k.budget_period} <span class="muted nowrap">from {k.period_start}</span>
        {k.soft_budget ? <span class="muted"> · soft</span> : ''}
      </td>
      <td class="num mono">{usd(k.period_spend_usd)}</td>
      <td class="num mono">{budget ? usd(budget) : '—'}</td>
      <td class="barcell" title={budget ? `${(used / 10).toFixed(1)}% of the budget` : 'no budget'}>
        {budget ? (
          <>
            <span
              class="bar spend"
              style={`width:${Math.max(0.5, Math.min(100, used / 10))}%${used >= 1000 ? ';background:#f87171' : ''}`}
            />
            <span class="barpct">{`${(used / 10).toFixed(1)}%`}</span>
          </>
        ) : (
          ''
        )}
      </td>
      <td class="mono">{budget ? k.alert_thresholds.map(pct).join(' ') : '—'}</td>
      <td>
        {alerts.length === 0
          ? '—'
          : alerts.map((a) => (
              <span
                class={STATE_BADGE[a.state]}
                title={
                  a.last_error ? `${a.attempts} tries; last error: ${a.last_error}` : `${a.attempts} tries`
                }
              >
                {`${pct(a.threshold)} ${a.state}`}{' '}
              </span>
            ))}
      </td>
      <td>
        {[k.rpm_limit ? `${k.rpm_limit} rpm` : '', k.tpm_limit ? `${k.tpm_limit} tpm` : '']
          .filter(Boolean)
          .join(' · ') || '—'}
      </td>
      <td class="refusals">
        <Refused r={refused} />
      </td>
    </tr>
  );
}
