// The oracle of the usage reports' tests: a selection's sums per group computed from the rows in
// memory, in the order /usage/summary returns them (time ascending, else spend first, ties bytewise).
import { addExact, exactText, multiplyExact } from '../../src/billing/charge.ts';
import {
  add,
  canonical,
  compare,
  type Decimal,
  formatDecimal,
  parseDecimal,
  ZERO,
} from '../../src/billing/money.ts';
import type { UsageLogInsert } from '../../src/db/schema.ts';
import type { GroupBy, UsageAggregate, UsageFilters } from '../../src/db/usage-repo.ts';

const HOUR = 3_600_000;

/** What a row was charged: its charge, or (before accounts) its cost × markup. */
export const chargeOfRow = (row: UsageLogInsert) =>
  row.chargeUsd ?? multiplyExact(row.costTotal, row.markup ?? '1');

type Sums = {
  requests: bigint;
  prompt: bigint;
  completion: bigint;
  total: bigint;
  cost: Decimal;
  unpriced: bigint;
  /** exact at any scale (charge.ts) */
  charge: string;
};

/** A row's groups under `groupBy`: one, or one per distinct tag ('' when it has none). */
function labelsOf(row: UsageLogInsert, at: number, groupBy: GroupBy | undefined): string[] {
  switch (groupBy) {
    case 'day':
      return [new Date(Math.floor(at / (24 * HOUR)) * 24 * HOUR).toISOString()];
    case 'hour':
      return [new Date(Math.floor(at / HOUR) * HOUR).toISOString()];
    case 'model':
      return [row.model];
    case 'key':
      return [row.apiKeyId ?? 'master'];
    case 'status':
      return [row.status];
    case 'endpoint':
      return [row.endpoint ?? 'chat.completions'];
    case 'served_by':
      return [row.servedBy ?? ''];
    case 'user':
      return [row.endUser ?? ''];
    case 'tag':
      return row.tags && row.tags.length > 0 ? [...new Set(row.tags)] : [''];
    case 'account':
      return [row.accountId ?? ''];
    default:
      return [''];
  }
}

/** The oracle: the selection's sums per group, from the rows in memory. */
export function expected(rows: UsageLogInsert[], filters: UsageFilters, groupBy?: GroupBy) {
  const groups = new Map<string, Sums>();
  for (const row of rows) {
    const at = (row.createdAt as Date).getTime();
    if (filters.from && at < filters.from.getTime()) continue;
    if (filters.to && at >= filters.to.getTime()) continue;
    if (filters.model !== undefined && row.model !== filters.model) continue;
    if (filters.status !== undefined && row.status !== filters.status) continue;
    if (filters.keyId !== undefined && (row.apiKeyId ?? 'master') !== filters.keyId) continue;
    if (filters.endpoint !== undefined && row.endpoint !== filters.endpoint) continue;
    if (filters.servedBy !== undefined && row.servedBy !== filters.servedBy) continue;
    if (filters.user !== undefined && row.endUser !== filters.user) continue;
    if (filters.tag !== undefined && !row.tags?.includes(filters.tag)) continue;
    if (filters.accountId !== undefined && row.accountId !== filters.accountId) continue;
    // grouped by tag with a tag filter: that tag's group only
    const labels = labelsOf(row, at, groupBy).filter(
      (label) => groupBy !== 'tag' || filters.tag === undefined || label === filters.tag,
    );
    for (const label of labels) {
      const sums = groups.get(label) ?? {
        requests: 0n,
        prompt: 0n,
        completion: 0n,
        total: 0n,
        cost: ZERO,
        unpriced: 0n,
        charge: '0',
      };
      sums.requests += 1n;
      sums.prompt += BigInt(row.promptTokens ?? 0);
      sums.completion += BigInt(row.completionTokens ?? 0);
      sums.total += BigInt(row.totalTokens ?? 0);
      sums.cost = add(sums.cost, parseDecimal(row.costTotal));
      sums.unpriced += row.pricingSource === 'builtin' || row.pricingSource === 'env' ? 1n : 0n;
      sums.charge = addExact(sums.charge, chargeOfRow(row));
      groups.set(label, sums);
    }
  }
  const timeOrder = groupBy === 'day' || groupBy === 'hour';
  return [...groups]
    .sort(([a, x], [b, y]) =>
      timeOrder
        ? a < b
          ? -1
          : 1
        : compare(y.cost, x.cost) || (Buffer.compare(Buffer.from(a), Buffer.from(b)) as number),
    )
    .map(([group, s]) => ({
      group,
      requests: s.requests,
      promptTokens: s.prompt,
      completionTokens: s.completion,
      totalTokens: s.total,
      costUsd: formatDecimal(s.cost),
      unpricedRequests: s.unpriced,
      chargeUsd: s.charge,
    }));
}

/** An aggregate with its money in canonical text, to compare with toEqual. */
export const exact = (a: UsageAggregate & { group?: string }) => ({
  ...a,
  costUsd: canonical(a.costUsd),
  chargeUsd: exactText(a.chargeUsd),
});

export function zeroSums(): UsageAggregate {
  return {
    requests: 0n,
    promptTokens: 0n,
    completionTokens: 0n,
    totalTokens: 0n,
    costUsd: '0',
    unpricedRequests: 0n,
    chargeUsd: '0',
  };
}
