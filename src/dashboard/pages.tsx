/** @jsxImportSource hono/jsx */
// The billing dashboard's pages, rendered on the server: login, and one page of totals, charts,
// breakdowns, the usage log, prices and keys. No script, no build step, nothing from a CDN.
import type { Child } from 'hono/jsx';
import { parseDecimal } from '../billing/money.ts';
import type { AlertView } from '../services/alerts.ts';
import type { KeyWithSpend } from '../services/keys.ts';
import type { PriceView } from '../services/pricing.ts';
import type { SummaryGroup, UsageRow, UsageTotals } from '../services/usage-report.ts';
import { BarChart, perMille } from './chart.tsx';
import { KeysPanel } from './keys-table.tsx';
import type { Period, PeriodName } from './period.ts';
import { STYLE } from './style.ts';

export function Layout({ title, children }: { title: string; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{title}</title>
        <style>{STYLE}</style>
      </head>
      <body>{children}</body>
    </html>
  );
}

export function LoginPage({ error }: { error?: string | undefined }) {
  return (
    <Layout title="Tollgate · sign in">
      <main class="login">
        <h1>Tollgate</h1>
        <p class="muted">Billing dashboard. Sign in with the admin key.</p>
        <form method="post" action="/dashboard/login">
          <label for="key">Admin key</label>
          <input id="key" name="key" type="password" autocomplete="current-password" required />
          {error ? (
            <p class="error" role="alert">
              {error}
            </p>
          ) : null}
          <button type="submit">Sign in</button>
        </form>
      </main>
    </Layout>
  );
}

export type DashboardData = {
  period: Period;
  filters: { model?: string | undefined; key_id?: string | undefined; status?: string | undefined };
  query: string;
  totals: UsageTotals;
  errors: number;
  series: SummaryGroup[];
  byModel: SummaryGroup[];
  byKey: SummaryGroup[];
  rows: UsageRow[];
  nextCursor: string | null;
  models: string[];
  keys: KeyWithSpend[];
  /** recent budget alerts, for the keys table */
  alerts: AlertView[];
  prices: PriceView[];
  priceHistory: PriceView[];
};

const PERIODS: Array<[PeriodName, string]> = [
  ['today', 'Today'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
  ['month', 'This month'],
  ['custom', 'Custom range'],
];

const number = (n: number) => n.toLocaleString('en-US');
const usd = (value: string) => `$${value}`;

export function DashboardPage({ data }: { data: DashboardData }) {
  const { period, filters, totals } = data;
  const keyName = new Map(data.keys.map((k) => [k.id, k.name]));
  return (
    <Layout title="Tollgate · billing">
      <header class="top">
        <h1>Tollgate billing</h1>
        <form method="post" action="/dashboard/logout">
          <button type="submit" class="link">
            Sign out
          </button>
        </form>
      </header>
      <main>
        <form class="filters" method="get" action="/dashboard">
          <label>
            Period
            <select name="period">
              {PERIODS.map(([value, label]) => (
                <option value={value} selected={period.name === value}>
                  {label}
                </option>
              ))}
            </select>
          </label>
          <label>
            From <input type="date" name="from" value={period.from.toISOString().slice(0, 10)} />
          </label>
          <label>
            To{' '}
            <input
              type="date"
              name="to"
              value={new Date(period.to.getTime() - 1).toISOString().slice(0, 10)}
            />
          </label>
          <label>
            Model
            <select name="model">
              <option value="">All models</option>
              {data.models.map((m) => (
                <option value={m} selected={filters.model === m}>
                  {m}
                </option>
              ))}
            </select>
          </label>
          <label>
            Key
            <select name="key_id">
              <option value="">All keys</option>
              <option value="master" selected={filters.key_id === 'master'}>
                master (admin key)
              </option>
              {data.keys.map((k) => (
                <option value={k.id} selected={filters.key_id === k.id}>
                  {k.name} ({k.key_prefix}…)
                </option>
              ))}
            </select>
          </label>
          <label>
            Status
            <select name="status">
              <option value="">Any status</option>
              {['ok', 'upstream_error', 'client_aborted', 'gateway_error'].map((s) => (
                <option value={s} selected={filters.status === s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <button type="submit">Apply</button>
        </form>
        <p class="muted period">{period.label}</p>

        <section class="cards" aria-label="totals">
          <Card label="Requests" value={number(totals.requests)} id="total-requests" />
          <Card label="Prompt tokens" value={number(totals.prompt_tokens)} id="total-prompt-tokens" />
          <Card
            label="Completion tokens"
            value={number(totals.completion_tokens)}
            id="total-completion-tokens"
          />
          <Card label="Cost" value={usd(totals.cost_usd)} id="total-cost" strong />
          <Card label="Unpriced requests" value={number(totals.unpriced_requests)} id="total-unpriced" />
          <Card label="Errors" value={number(data.errors)} id="total-errors" />
        </section>

        <section class="panel">
          <h2>Cost and tokens per {period.bucket}</h2>
          <BarChart groups={data.series} bucket={period.bucket} />
        </section>

        <div class="two">
          <Breakdown title="By model" groups={data.byModel} name={(g) => g} />
          <Breakdown
            title="By key"
            groups={data.byKey}
            name={(g) => (g === 'master' ? 'master (admin key)' : (keyName.get(g) ?? g))}
          />
        </div>

        <section class="panel">
          <div class="panel-head">
            <h2>Usage log</h2>
            <a class="button" href={`/dashboard/usage.csv?${data.query}`} id="csv-link">
              Download CSV
            </a>
          </div>
          <div class="scroll">
            <table class="log">
              <thead>
                <tr>
                  <th>Time (UTC)</th>
                  <th>Request</th>
                  <th>Key</th>
                  <th>Model</th>
                  <th>Status</th>
                  <th class="num">Prompt</th>
                  <th class="num">Completion</th>
                  <th class="num">$/token in · out</th>
                  <th>Pricing</th>
                  <th class="num">Cost</th>
                </tr>
              </thead>
              <tbody>
                {data.rows.length === 0 ? (
                  <tr>
                    <td colspan={10} class="muted">
                      No requests in this selection.
                    </td>
                  </tr>
                ) : (
                  data.rows.map((row) => (
                    <tr>
                      <td>{String(row.created_at).replace('T', ' ').slice(0, 19)}</td>
                      <td class="mono">{row.request_id}</td>
                      <td>
                        {row.api_key_id
                          ? (keyName.get(String(row.api_key_id)) ?? String(row.api_key_id))
                          : 'master'}
                      </td>
                      <td>{String(row.model)}</td>
                      <td>
                        <span class={`badge ${row.status === 'ok' ? 'ok' : 'bad'}`}>
                          {String(row.status)}
                        </span>
                      </td>
                      <td class="num">
                        {number(Number(row.prompt_tokens))}
                        {row.cached_tokens ? (
                          <span class="muted"> ({number(Number(row.cached_tokens))} cached)</span>
                        ) : null}
                      </td>
                      <td class="num">
                        {number(Number(row.completion_tokens))}
                        {row.reasoning_tokens ? (
                          <span class="muted"> ({number(Number(row.reasoning_tokens))} reasoning)</span>
                        ) : null}
                      </td>
                      <td class="num mono">
                        {String(row.input_token_cost)} · {String(row.output_token_cost)}
                      </td>
                      <td>
                        {String(row.pricing_source)}
                        {row.usage_source === 'estimated' ? <span class="muted"> · estimated</span> : null}
                      </td>
                      <td class="num mono">{usd(String(row.cost_total))}</td>
                    </tr>
                  ))
                )}
              </tbody>
            </table>
          </div>
          {data.nextCursor ? (
            <p>
              <a href={`/dashboard?${data.query}&cursor=${encodeURIComponent(data.nextCursor)}`}>
                Older requests →
              </a>
            </p>
          ) : null}
        </section>

        <div class="two">
          <section class="panel">
            <h2>Prices (USD per token)</h2>
            <table>
              <thead>
                <tr>
                  <th>Model</th>
                  <th class="num">Input</th>
                  <th class="num">Output</th>
                  <th>Source</th>
                  <th>Since</th>
                </tr>
              </thead>
              <tbody>
                {data.prices.map((p) => (
                  <tr>
                    <td>{p.model_name}</td>
                    <td class="num mono">{p.input_token_cost}</td>
                    <td class="num mono">{p.output_token_cost}</td>
                    <td>{p.source}</td>
                    <td>{p.effective_from.slice(0, 10)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <details>
              <summary>History ({data.priceHistory.length} versions)</summary>
              <table>
                <tbody>
                  {data.priceHistory.map((p) => (
                    <tr>
                      <td class="mono">#{p.id}</td>
                      <td>{p.model_name}</td>
                      <td class="num mono">
                        {p.retired ? 'retired' : `${p.input_token_cost} · ${p.output_token_cost}`}
                      </td>
                      <td>{p.source}</td>
                      <td>{p.effective_from.replace('T', ' ').slice(0, 16)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </details>
          </section>
          <KeysPanel keys={data.keys} alerts={data.alerts} />
        </div>
      </main>
    </Layout>
  );
}

function Card({
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

function Breakdown({
  title,
  groups,
  name,
}: {
  title: string;
  groups: SummaryGroup[];
  name: (group: string) => string;
}) {
  const top = groups.reduce((m, g) => (parseDecimal(g.cost_usd) > parseDecimal(m) ? g.cost_usd : m), '0');
  return (
    <section class="panel">
      <h2>{title}</h2>
      {groups.length === 0 ? (
        <p class="muted">Nothing yet.</p>
      ) : (
        <table>
          <tbody>
            {groups.map((g) => (
              <tr>
                <td>{name(g.group)}</td>
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
      )}
    </section>
  );
}
