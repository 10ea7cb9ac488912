// Fits a usage row to its columns before the INSERT. The upstream chooses the usage numbers and much of
// the text (the answering model, ids, the usage object), and a row the database refuses turns an
// answered request into a 503 (or a dead letter at replay). So the ledger stores what the columns can
// hold, and says where it differs from what it was given.
//
// The rule, one for every column: a value the ledger had to change to store is named in the row's
// `error` (after any error the row already carried), e.g.
//   `ledger clamped total_tokens 2147483652 → 2147483647`
//   `ledger repaired text in usage_raw, upstream_model (NUL removed, lone surrogates → U+FFFD)`
// - integer columns (int4) take whole numbers in [-2^31, 2^31 - 1]: a larger count is clamped to the
//   bound, a fraction truncated toward zero. The cost columns keep what was priced: the bill is exact,
//   only the count column is bounded.
// - text and jsonb cannot hold NUL, and jsonb refuses a lone UTF-16 surrogate (JSON.stringify writes it
//   as `\ud800`, which PostgreSQL rejects): NULs are removed and lone surrogates become U+FFFD, in every
//   string of usage_raw and in its keys too. (Both drivers already send a lone surrogate in a text
//   column as U+FFFD when they encode UTF-8; the repair makes that explicit and flagged.)
// Anything else (a date that is not one, a count that is not a number) is left as is: the row is
// refused and kept by the recorder, never guessed at.
import type { UsageLogInsert } from './schema.ts';

const INT4_MIN = -2_147_483_648;
const INT4_MAX = 2_147_483_647;

export type ColumnSpec = readonly [field: keyof UsageLogInsert, column: string, sqlType: string];

/** `row` itself when every value fits its column, else a copy with the fitted values and the note. */
export function fitUsageRow(row: UsageLogInsert, columns: readonly ColumnSpec[]): UsageLogInsert {
  let fitted: Record<string, unknown> | undefined;
  const clamped: string[] = [];
  const repaired: string[] = [];
  const set = (field: keyof UsageLogInsert, value: unknown) => {
    fitted ??= { ...row };
    fitted[field] = value;
  };
  for (const [field, column, sqlType] of columns) {
    const value = row[field];
    if (value === null || value === undefined) continue;
    if (sqlType === 'integer') {
      if (typeof value !== 'number' || Number.isNaN(value)) continue;
      if (Number.isInteger(value) && value >= INT4_MIN && value <= INT4_MAX) continue;
      const int = Math.min(INT4_MAX, Math.max(INT4_MIN, Math.trunc(value)));
      set(field, int);
      clamped.push(`${column} ${value} → ${int}`);
    } else if (sqlType === 'jsonb') {
      const clean = repairDeep(value);
      if (clean !== value) {
        set(field, clean);
        repaired.push(column);
      }
    } else if (Array.isArray(value)) {
      if (value.some((item) => typeof item === 'string' && needsRepair(item))) {
        set(
          field,
          value.map((item) => (typeof item === 'string' ? repairText(item) : item)),
        );
        repaired.push(column);
      }
    } else if (typeof value === 'string' && needsRepair(value)) {
      set(field, repairText(value));
      repaired.push(column);
    }
  }
  if (!fitted) return row;
  const notes = [
    ...(clamped.length > 0 ? [`ledger clamped ${clamped.join(', ')}`] : []),
    ...(repaired.length > 0
      ? [`ledger repaired text in ${repaired.join(', ')} (NUL removed, lone surrogates → U+FFFD)`]
      : []),
  ];
  const error = fitted.error;
  fitted.error = [typeof error === 'string' && error !== '' ? error : undefined, ...notes]
    .filter((part) => part !== undefined)
    .join('; ');
  return fitted as UsageLogInsert;
}

function needsRepair(text: string): boolean {
  return text.includes('\0') || !text.isWellFormed();
}

function repairText(text: string): string {
  return text.replaceAll('\0', '').toWellFormed();
}

/** `value` itself when no string or key in it needs repair, else a repaired copy. */
function repairDeep(value: unknown): unknown {
  if (typeof value === 'string') return needsRepair(value) ? repairText(value) : value;
  if (Array.isArray(value)) {
    const items = value.map(repairDeep);
    return items.some((item, i) => item !== value[i]) ? items : value;
  }
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    const entries = Object.entries(value);
    const clean = entries.map(([key, item]) => [needsRepair(key) ? repairText(key) : key, repairDeep(item)]);
    return clean.some(([key, item], i) => key !== entries[i]?.[0] || item !== entries[i]?.[1])
      ? Object.fromEntries(clean)
      : value;
  }
  return value;
}
