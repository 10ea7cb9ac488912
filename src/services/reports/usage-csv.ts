// CSV text for the usage export: RFC 4180 lines, safe to open in a spreadsheet, written a batch at a time.
import type { ExportCellKind } from '../../db/usage-export.ts';

/** One line from its cells' values. */
export function csvLine(values: readonly unknown[]): string {
  return `${values.map(csvCell).join(',')}\r\n`;
}

const NEEDS_QUOTES = /[",\r\n]/;

/**
 * RFC 4180: a cell holding a comma, quote or line break is quoted, its quotes doubled. Text that a
 * spreadsheet would run as a formula (=, +, -, @, tab or CR first: model names and errors come from
 * clients and upstreams) gets a leading apostrophe, as OWASP advises; numbers are left as they are.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'string' ? csvText(value) : csvQuoted(String(value));
}

function csvText(value: string): string {
  const first = value.charCodeAt(0);
  // = + - @ tab CR
  const guarded =
    first === 61 || first === 43 || first === 45 || first === 64 || first === 9 || first === 13
      ? `'${value}`
      : value;
  return csvQuoted(guarded);
}

function csvQuoted(text: string): string {
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * The lines of a batch of exported rows (usage-export.ts: every cell already text), as one string:
 * text cells escaped as csvCell does, jsonb rewritten as JSON.stringify writes it, the rest as they are.
 */
export function csvLines<Column extends string>(
  rows: ReadonlyArray<Record<Column, string | null>>,
  columns: ReadonlyArray<{ name: Column; kind: ExportCellKind }>,
): string {
  // one array joined once per batch: no string is built cell by cell
  const cells: string[] = new Array(rows.length * columns.length);
  let at = 0;
  for (const row of rows) {
    for (const { name, kind } of columns) {
      const value = row[name];
      cells[at++] =
        value === null
          ? ''
          : kind === 'plain'
            ? value
            : kind === 'text'
              ? csvText(value)
              : kind === 'instant'
                ? `${value.slice(0, 23)}Z`
                : jsonCell(value);
    }
  }
  let out = '';
  for (let first = 0; first < at; first += columns.length) {
    out += `${cells.slice(first, first + columns.length).join(',')}\r\n`;
  }
  return out;
}

/** a jsonb null is no usage object: an empty cell, as the JSON rows' null */
function jsonCell(text: string): string {
  const json = JSON.parse(text) as unknown;
  return json === null ? '' : csvText(JSON.stringify(json));
}
