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
// - jsonb (usage_raw) is the upstream's object as received, and PostgreSQL, JSON.stringify and the spool
//   all recurse into it: one nested deeper than RAW_MAX_DEPTH or larger than RAW_MAX_BYTES is stored
//   reduced, as a marker holding its top-level counts, e.g.
//   `ledger reduced usage_raw (nested deeper than 32 levels)`. The counts were already read from it.
// Anything else (a date that is not one, a count that is not a number) is left as is: the row is
// refused and kept by the recorder, never guessed at.
import type { UsageLogInsert } from './schema.ts';

const INT4_MIN = -2_147_483_648;
const INT4_MAX = 2_147_483_647;
/** usage_raw beyond these is stored as a marker (a real usage object is well under 1 KB, 3 levels deep) */
const RAW_MAX_DEPTH = 32;
const RAW_MAX_BYTES = 16_384;
/** what a marker keeps of the top level: this many scalar fields, keys and strings cut to these lengths */
const MARKER_FIELDS = 64;
const MARKER_KEY_CHARS = 64;
const MARKER_STRING_CHARS = 256;

export type ColumnSpec = readonly [field: keyof UsageLogInsert, column: string, sqlType: string];

/** `row` itself when every value fits its column, else a copy with the fitted values and the note. */
export function fitUsageRow(row: UsageLogInsert, columns: readonly ColumnSpec[]): UsageLogInsert {
  let fitted: Record<string, unknown> | undefined;
  const clamped: string[] = [];
  const repaired: string[] = [];
  const notes: string[] = [];
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
      const reduced = reduceJson(value);
      if (reduced) {
        set(field, repairDeep(reduced.value));
        notes.push(`ledger reduced ${column} (${reduced.reason})`);
        continue;
      }
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
  notes.push(
    ...(clamped.length > 0 ? [`ledger clamped ${clamped.join(', ')}`] : []),
    ...(repaired.length > 0
      ? [`ledger repaired text in ${repaired.join(', ')} (NUL removed, lone surrogates → U+FFFD)`]
      : []),
  );
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

/**
 * usage_raw as it can be stored: `raw` itself, or a reduced marker with the note that says so (the row's
 * builder adds the note to the row's error; the insert's fitting finds nothing left to reduce).
 */
export function fitUsageRaw(raw: unknown): { value: unknown; note?: string } {
  const reduced = reduceJson(raw);
  return reduced
    ? { value: reduced.value, note: `ledger reduced usage_raw (${reduced.reason})` }
    : { value: raw };
}

/**
 * A marker for JSON too deep or too large to store, undefined when `value` fits. Walked with a stack of
 * its own (never recursion: the value may be nested deeper than the call stack) and left as soon as a
 * bound is crossed.
 */
function reduceJson(value: unknown): { value: Record<string, unknown>; reason: string } | undefined {
  const reason = exceeds(value);
  if (reason === undefined) return undefined;
  const marker: Record<string, unknown> = { tollgate_reduced: reason };
  if (isRecord(value)) {
    let kept = 0;
    for (const key in value) {
      if (kept >= MARKER_FIELDS) break;
      const item = value[key];
      const name = key.slice(0, MARKER_KEY_CHARS);
      if (typeof item === 'number' || typeof item === 'boolean') marker[name] = item;
      else if (typeof item === 'string') marker[name] = item.slice(0, MARKER_STRING_CHARS);
      else continue;
      kept += 1;
    }
  }
  return { value: marker, reason };
}

/** Why `value` cannot be stored as it is (too deep, too large), or undefined. Bytes are JSON's, roughly. */
function exceeds(value: unknown): string | undefined {
  // two parallel stacks (values and their depths): no allocation per node on the ledger's hot path
  const values: unknown[] = [value];
  const depths: number[] = [1];
  let bytes = 0;
  while (values.length > 0) {
    const item = values.pop();
    const depth = depths.pop() as number;
    if (typeof item === 'string') bytes += item.length + 2;
    else if (typeof item !== 'object' || item === null) bytes += 8;
    else {
      if (depth > RAW_MAX_DEPTH) return `nested deeper than ${RAW_MAX_DEPTH} levels`;
      bytes += 2;
      if (Array.isArray(item)) {
        for (let i = 0; i < item.length && bytes <= RAW_MAX_BYTES; i++) {
          bytes += 1;
          values.push(item[i]);
          depths.push(depth + 1);
        }
      } else {
        const record = item as Record<string, unknown>;
        for (const key in record) {
          bytes += key.length + 3;
          values.push(record[key]);
          depths.push(depth + 1);
          if (bytes > RAW_MAX_BYTES) break;
        }
      }
    }
    if (bytes > RAW_MAX_BYTES) return `larger than ${RAW_MAX_BYTES} bytes`;
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
