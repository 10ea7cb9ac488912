/** @jsxImportSource hono/jsx */
// The dashboard's Accounts page (balance, plan, this period's cost, charge and margin per customer) and
// one account's monthly statement. Figures come from the accounts and statements services, exact.
import { addExact, negateExact } from '../billing/charge.ts';
import type { PlanRecord } from '../db/accounts-repo.ts';
import type { AccountView } from '../services/accounts/accounts.ts';
import type { Statement } from '../services/accounts/statements.ts';
import { Layout } from './layout.tsx';

const usd = (value: string) => `$${value}`;

function Top({ title }: { title: string }) {
  return (
    <header class="top">
      <h1>{title}</h1>
      <nav>
        <a href="/dashboard">Usage</a> · <a href="/dashboard/accounts">Accounts</a>
      </nav>
    </header>
  );
}

export function AccountsPage({
  accounts,
  plans,
  period,
  creditRefusals,
}: {
  accounts: AccountView[];
  plans: PlanRecord[];
  period: string;
  /** per account: requests its keys were refused for credit this month (402, no usage row) */
  creditRefusals: Map<string, number>;
}) {
  const planOf = new Map(plans.map((p) => [p.id, p]));
  return (
    <Layout title="Tollgate · accounts">
      <Top title="Accounts" />
      <main>
        <section class="panel" id="accounts">
          <h2>Customers, this plan period</h2>
          <div class="scroll">
            <table class="stack">
              <thead>
                <tr>
                  <th>Account</th>
                  <th>Plan</th>
                  <th class="num">Balance</th>
                  <th class="num">In flight</th>
                  <th class="num">Cost</th>
                  <th class="num">Charge</th>
                  <th class="num">Margin</th>
                  <th
                    class="num"
                    title="requests refused for credit (402) this month: they have no usage row"
                  >
                    Refused (credit)
                  </th>
                  <th>Statement</th>
                </tr>
              </thead>
              <tbody>
                {accounts.map((a) => {
                  const plan = a.plan_id ? planOf.get(a.plan_id) : undefined;
                  return (
                    <tr data-account={a.id}>
                      <td class="name" data-label="Account">
                        {a.name}
                      </td>
                      <td class="name" data-label="Plan">
                        {plan ? `${plan.name} (×${plan.markup}, ${plan.overage})` : 'none'}
                      </td>
                      <td class="num" data-label="Balance">
                        {usd(a.balance_usd)}
                      </td>
                      <td class="num" data-label="In flight">
                        {usd(a.reserved_usd)}
                      </td>
                      <td class="num" data-label="Cost">
                        {usd(a.period_cost_usd)}
                      </td>
                      <td class="num" data-label="Charge">
                        {usd(a.period_charge_usd)}
                      </td>
                      <td class="num" data-label="Margin">
                        {usd(addExact(a.period_charge_usd, negateExact(a.period_cost_usd)))}
                      </td>
                      <td class="num" data-label="Refused (credit)" data-column="credit-refusals">
                        {creditRefusals.get(a.id) ?? 0}
                      </td>
                      <td data-label="Statement">
                        <a
                          class="nowrap"
                          href={`/dashboard/accounts/${encodeURIComponent(a.id)}?period=${period}`}
                        >
                          {period}
                        </a>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </section>
      </main>
    </Layout>
  );
}

export function StatementPage({ name, s }: { name: string; s: Statement }) {
  return (
    <Layout title={`Tollgate · ${name} · ${s.period}`}>
      <Top title={`${name}, ${s.period}`} />
      <main>
        <section class="panel" id="statement">
          <h2>Statement</h2>
          <p>
            Opening balance <strong>{usd(s.opening_balance_usd)}</strong> · charges{' '}
            <strong>{usd(s.charges_usd)}</strong> (corrections {usd(s.corrections_usd)}) · closing balance{' '}
            <strong id="closing">{usd(s.closing_balance_usd)}</strong>
          </p>
          <div class="scroll">
            <table class="stack">
              <thead>
                <tr>
                  <th>When</th>
                  <th>Credit</th>
                  <th>Note</th>
                  <th class="num">Amount</th>
                </tr>
              </thead>
              <tbody>
                {s.entries.map((e) => (
                  <tr>
                    <td class="date" data-label="When" title={e.created_at}>
                      {e.created_at.replace('T', ' ').slice(0, 16)}
                    </td>
                    <td data-label="Credit">{e.kind}</td>
                    {e.note ? (
                      <td class="text" data-label="Note">
                        {e.note}
                      </td>
                    ) : (
                      <td class="id" data-label="Key">
                        {e.idempotency_key}
                      </td>
                    )}
                    <td class="num" data-label="Amount">
                      {usd(e.amount_usd)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <table class="stack">
              <thead>
                <tr>
                  <th>Model</th>
                  <th class="num">Requests</th>
                  <th class="num">Cost</th>
                  <th class="num">Charge</th>
                </tr>
              </thead>
              <tbody>
                {s.usage.map((u) => (
                  <tr>
                    <td class="name" data-label="Model">
                      {u.model}
                    </td>
                    <td class="num" data-label="Requests">
                      {u.requests}
                    </td>
                    <td class="num" data-label="Cost">
                      {usd(u.cost_usd)}
                    </td>
                    <td class="num" data-label="Charge">
                      {usd(u.charge_usd)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <p>
            <a
              href={`/admin/accounts/${encodeURIComponent(s.account_id)}/statement?period=${s.period}&format=csv`}
            >
              CSV
            </a>{' '}
            (admin key)
          </p>
        </section>
      </main>
    </Layout>
  );
}
