// The cursor of /usage/summary's pages: where the last page stopped (its last group, and that group's cost
// for the spend-ordered group_bys), bound to the group_by and the filters it was made for, so a cursor
// carried to another selection is refused rather than silently starting a different list midway.
import { createHash } from 'node:crypto';
import type { GroupBy, GroupPosition, UsageFilters } from '../../db/usage-repo.ts';
import { badRequest } from '../../errors.ts';

/**
 * The longest cursor accepted: a group name of up to 512 characters (a model), each up to 6 bytes as
 * JSON escapes it, with its cost and the fingerprint, in base64url (4 characters per 3 bytes).
 */
export const MAX_SUMMARY_CURSOR_CHARS = 8192;

const DECIMAL = /^-?\d{1,40}(\.\d{1,40})?$/;
const BUCKET = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** The selection's identity: the group_by and every filter, hashed (a cursor carries no filter values). */
function fingerprint(filters: UsageFilters, groupBy: GroupBy): string {
  const parts = [
    groupBy,
    filters.from?.toISOString() ?? '',
    filters.to?.toISOString() ?? '',
    filters.model ?? '',
    filters.keyId ?? '',
    filters.status ?? '',
    filters.endpoint ?? '',
    filters.servedBy ?? '',
    filters.user ?? '',
    filters.tag ?? '',
    filters.accountId ?? '',
  ];
  // JSON keeps the parts apart whatever they contain; undefined and '' cannot both be filters (empty is refused)
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 16);
}

export function encodeSummaryCursor(
  filters: UsageFilters,
  groupBy: GroupBy,
  position: GroupPosition,
): string {
  // the key order is part of the format: decoding re-encodes and compares
  const payload = {
    v: 1,
    g: groupBy,
    f: fingerprint(filters, groupBy),
    k: position.group,
    c: position.costUsd,
  };
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
}

const invalid = (why: string) =>
  badRequest(`Invalid query parameter 'cursor': ${why}`, 'cursor', 'invalid_parameter');

/** The position a cursor names; a 400 naming `cursor` for anything this API did not write for this selection. */
export function decodeSummaryCursor(cursor: string, filters: UsageFilters, groupBy: GroupBy): GroupPosition {
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    payload = undefined;
  }
  const p = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<string, unknown>;
  const { g, f, k, c } = p;
  if (
    p.v !== 1 ||
    typeof g !== 'string' ||
    typeof f !== 'string' ||
    typeof k !== 'string' ||
    typeof c !== 'string' ||
    !DECIMAL.test(c) ||
    // Node decodes base64 leniently: only the exact text this API wrote is a cursor
    Buffer.from(JSON.stringify({ v: 1, g, f, k, c }), 'utf8').toString('base64url') !== cursor
  ) {
    throw invalid('not a cursor this API returned (pass next_cursor as it came)');
  }
  if (g !== groupBy || f !== fingerprint(filters, groupBy)) {
    throw invalid('it was made for another group_by or other filters (start again without a cursor)');
  }
  if ((groupBy === 'day' || groupBy === 'hour') && !(BUCKET.test(k) && !Number.isNaN(Date.parse(k)))) {
    throw invalid('not a cursor this API returned (pass next_cursor as it came)');
  }
  return { group: k, costUsd: c };
}
