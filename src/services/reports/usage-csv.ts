// CSV text for the usage export: RFC 4180 lines, safe to open in a spreadsheet.

/** One line from its cells' values. */
export function csvLine(values: readonly unknown[]): string {
  return `${values.map(csvCell).join(',')}\r\n`;
}

/**
 * RFC 4180: a cell holding a comma, quote or line break is quoted, its quotes doubled. Text that a
 * spreadsheet would run as a formula (=, +, -, @, tab or CR first: model names and errors come from
 * clients and upstreams) gets a leading apostrophe, as OWASP advises; numbers are left as they are.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
