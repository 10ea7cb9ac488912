// An account's monthly statement: opening balance, the month's credit entries, its usage per model with
// cost and charge, the corrections' charge, closing balance; closing = opening + Σ entries − charges,
// exactly. Also as CSV lines a spreadsheet opens.
import { addExact, exactText, negateExact } from '../../billing/charge.ts';
import { findAccount } from '../../db/accounts-repo.ts';
import type { Database } from '../../db/client.ts';
import { listCredits } from '../../db/credits-repo.ts';
import { balanceAt, correctionsCharge, usageByModel } from '../../db/statements-repo.ts';
import { notFound } from '../../errors.ts';
import { csvCell, csvLine } from '../reports/usage-csv.ts';
import { type CreditView, creditView } from './credits.ts';

export type Statement = {
  account_id: string;
  period: string;
  opening_balance_usd: string;
  entries: CreditView[];
  usage: Array<{
    model: string;
    requests: number;
    prompt_tokens: number;
    completion_tokens: number;
    cost_usd: string;
    charge_usd: string;
  }>;
  corrections_usd: string;
  charges_usd: string;
  closing_balance_usd: string;
};

/** [first instant of the month, first instant of the next], ISO 8601 UTC, from "YYYY-MM". */
function monthBounds(period: string): [string, string] {
  const [year, month] = period.split('-').map(Number) as [number, number];
  return [
    new Date(Date.UTC(year, month - 1, 1)).toISOString(),
    new Date(Date.UTC(year, month, 1)).toISOString(),
  ];
}

const sum = (values: string[]) => values.reduce((total, v) => addExact(total, v), '0');

export async function statementOf(database: Database, accountId: string, period: string): Promise<Statement> {
  if (!(await findAccount(database, accountId))) throw notFound(`No account with id ${accountId}.`);
  const [from, to] = monthBounds(period);
  const [opening, entries, usage, corrections] = await Promise.all([
    balanceAt(database, accountId, from),
    listCredits(database, accountId, { from, to }),
    usageByModel(database, accountId, from, to),
    correctionsCharge(database, accountId, from, to),
  ]);
  const charges = addExact(sum(usage.map((u) => u.charge_usd)), corrections);
  const credited = sum(entries.map((e) => e.amount_usd));
  return {
    account_id: accountId,
    period,
    opening_balance_usd: exactText(opening),
    entries: entries.map(creditView),
    usage: usage.map((u) => ({
      model: u.model,
      requests: u.requests,
      prompt_tokens: Number(u.prompt_tokens),
      completion_tokens: Number(u.completion_tokens),
      cost_usd: exactText(u.cost_usd),
      charge_usd: exactText(u.charge_usd),
    })),
    corrections_usd: exactText(corrections),
    charges_usd: charges,
    closing_balance_usd: addExact(addExact(opening, credited), negateExact(charges)),
  };
}

const HEADER = [
  'line',
  'date',
  'kind',
  'description',
  'requests',
  'prompt_tokens',
  'completion_tokens',
  'cost_usd',
  'charge_usd',
  'amount_usd',
];

/** Exact decimals go out as numbers (a leading minus is a number here, not a formula). */
const cell = (value: unknown) =>
  typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value) ? value : csvCell(value);
const line = (values: unknown[]) => `${values.map(cell).join(',')}\r\n`;

/** The statement as CSV: one line per figure, in the order the JSON gives them. */
export function statementCsv(s: Statement): string {
  let text = csvLine(HEADER);
  text += line(['opening_balance', `${s.period}-01`, '', '', '', '', '', '', '', s.opening_balance_usd]);
  for (const e of s.entries)
    text += line([
      'credit',
      e.created_at,
      e.kind,
      e.note ?? e.idempotency_key,
      '',
      '',
      '',
      '',
      '',
      e.amount_usd,
    ]);
  for (const u of s.usage)
    text += line([
      'usage',
      '',
      '',
      u.model,
      u.requests,
      u.prompt_tokens,
      u.completion_tokens,
      u.cost_usd,
      u.charge_usd,
      negateExact(u.charge_usd),
    ]);
  text += line([
    'corrections',
    '',
    '',
    '',
    '',
    '',
    '',
    '',
    s.corrections_usd,
    negateExact(s.corrections_usd),
  ]);
  text += line(['charges', '', '', '', '', '', '', '', s.charges_usd, negateExact(s.charges_usd)]);
  text += line(['closing_balance', '', '', '', '', '', '', '', '', s.closing_balance_usd]);
  return text;
}
