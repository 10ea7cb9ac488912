/** @jsxImportSource hono/jsx */
// Small pieces the dashboard page repeats: number formats, a total's card, a breakdown table.
import { parseDecimal } from '../billing/money.ts';
import type { SummaryGroup } from '../services/reports/usage-report.ts';
import { perMille } from './chart.tsx';

export const number = (n: number) => n.toLocaleString('en-US');
export const usd = (value: string) => `$${value}`;

export function Card({
  label,
  value,
  id,
  strong = false,
}: {
  label: string;
  value: string;
  id: string;
  strong?: boolean;
}) {
  return (
    <div class={`card${strong ? ' strong' : ''}`}>
      <div class="label">{label}</div>
      <div class="value" id={id}>
        {value}
      </div>
    </div>
  );
}

export function Breakdown({
  title,
  groups,
  name,
  id,
  note,
}: {
  title: string;
  groups: SummaryGroup[];
  name: (group: string) => string;
  id?: string;
  /** under the table, e.g. "top 10 of 1,234" */
  note?: string | undefined;
}) {
  const top = groups.reduce((m, g) => (parseDecimal(g.cost_usd) > parseDecimal(m) ? g.cost_usd : m), '0');
  return (
    <section class="panel" id={id}>
      <h2>{title}</h2>
      {groups.length === 0 ? (
        <p class="muted">Nothing yet.</p>
      ) : (
        <div class="scroll">
          <table>
            <tbody>
              {groups.map((g) => (
                <tr>
                  <td class="name">{name(g.group)}</td>
                  <td class="num">{number(g.requests)} req</td>
                  <td class="num">{number(g.total_tokens)} tok</td>
                  <td class="num mono">{usd(g.cost_usd)}</td>
                  <td class="barcell">
                    <span class="bar" style={`width:${Math.max(0.2, perMille(g.cost_usd, top) / 10)}%`} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {note ? <p class="muted note">{note}</p> : null}
    </section>
  );
}
