/** @jsxImportSource hono/jsx */
// The billing dashboard's page, rendered on the server: totals, charts, breakdowns, the usage log,
// prices and keys. One inline script (copy a request id), no build step, nothing from a CDN.

import type { KeyWithSpend } from '../services/admission/keys.ts';
import type { KeyRefusals } from '../services/admission/refusals.ts';
import type { AlertView } from '../services/alerts/alerts.ts';
import type { CurrentPriceView, PriceView } from '../services/pricing/pricing.ts';
import type { SummaryGroup, UsageRow, UsageTotals } from '../services/reports/usage-report.ts';
import { BarChart } from './chart.tsx';
import { FiltersForm, type FilterValues, type Suggestions } from './filters.tsx';
import { KeysPanel } from './keys-table.tsx';
import { Layout } from './layout.tsx';
import { Breakdown, Card, number, usd } from './parts.tsx';
import type { Period } from './period.ts';
import { PricePanel, UnpricedWarning } from './prices.tsx';
import { UsageLog } from './usage-log.tsx';

export type DashboardData = {
  period: Period;
  filters: FilterValues;
  query: string;
  totals: UsageTotals;
  errors: number;
  series: SummaryGroup[];
  /** the top models, keys, end users and tags by cost, and how many there are in all */
  byModel: SummaryGroup[];
  modelsCount: number;
  byKey: SummaryGroup[];
  keysCount: number;
  byUser: SummaryGroup[];
  usersCount: number;
  byTag: SummaryGroup[];
  tagsCount: number;
  rows: UsageRow[];
  nextCursor: string | null;
  /** what the filters' inputs suggest */
  suggestions: Suggestions;
  /** the registered endpoints' names, for the endpoint filter */
  endpoints: string[];
  keys: KeyWithSpend[];
  /** each key's requests refused at admission (they have no usage row) */
  refusals: Map<string, KeyRefusals>;
  prices: CurrentPriceView[];
  priceHistory: PriceView[];
  /** recent budget alerts, for the keys table */
  alerts: AlertView[];
};

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
        <FiltersForm
          period={period}
          filters={filters}
          suggestions={data.suggestions}
          endpoints={data.endpoints}
        />
        <p class="muted period">{period.label}</p>
        <UnpricedWarning count={totals.unpriced_requests} />

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
          <Breakdown
            title="By model"
            groups={data.byModel}
            name={(g) => g}
            note={topOf(data.byModel.length, data.modelsCount)}
          />
          <Breakdown
            title="By key"
            groups={data.byKey}
            name={(g) => (g === 'master' ? 'master (admin key)' : (keyName.get(g) ?? g))}
            note={topOf(data.byKey.length, data.keysCount)}
          />
        </div>
        <div class="two">
          <Breakdown
            title="By end user"
            id="by-user"
            groups={data.byUser}
            name={(g) => g || '(no end user)'}
            note={topOf(data.byUser.length, data.usersCount)}
          />
          <Breakdown
            title="By tag"
            id="by-tag"
            groups={data.byTag}
            name={(g) => g || '(untagged)'}
            note={
              topOf(data.byTag.length, data.tagsCount) ??
              'A request with several tags counts under each of them.'
            }
          />
        </div>

        <section class="panel">
          <div class="panel-head">
            <h2>Usage log</h2>
            <a class="button" href={`/dashboard/usage.csv?${data.query}`} id="csv-link">
              Download CSV
            </a>
          </div>
          <UsageLog rows={data.rows} keyName={(id) => (id ? (keyName.get(id) ?? id) : 'master')} />
          {data.nextCursor ? (
            <p>
              <a href={`/dashboard?${data.query}&cursor=${encodeURIComponent(data.nextCursor)}`}>
                Older requests →
              </a>
            </p>
          ) : null}
        </section>

        {/* full width each: nine and six columns do not fit half of 1280 px */}
        <KeysPanel keys={data.keys} alerts={data.alerts} refusals={data.refusals} />
        <PricePanel prices={data.prices} history={data.priceHistory} />
      </main>
    </Layout>
  );
}

/** "top 10 of 1,234" when a breakdown shows only the biggest groups */
function topOf(shown: number, all: number): string | undefined {
  return shown < all ? `Top ${shown} of ${number(all)} by cost.` : undefined;
}
