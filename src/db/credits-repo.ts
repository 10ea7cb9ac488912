// account_credits: the append-only credit ledger. An entry is never changed; its insert trigger moves the
// account's balance in the same statement (drizzle/0014).
import { sql } from 'drizzle-orm';
import type { Database } from './client.ts';

export type CreditKind = 'grant' | 'topup' | 'adjustment' | 'expiry';

export type CreditRecord = {
  id: number;
  account_id: string;
  kind: CreditKind;
  amount_usd: string;
  expires_at: string | null;
  idempotency_key: string;
  note: string | null;
  actor: string;
  created_at: string;
  request_fingerprint: string;
};

const iso = (column: string) =>
  sql.raw(`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);

const CREDIT = sql`id::int as id, account_id, kind, amount_usd::text, ${iso('expires_at')} as expires_at,
  idempotency_key, note, actor, ${iso('created_at')} as created_at, request_fingerprint`;

/**
 * Appends an entry unless (account, idempotency key) already has one: resolves with the entry and
 * whether this call wrote it. Concurrent calls with one key write one entry (the unique index decides).
 */
export async function appendCredit(
  database: Database,
  entry: {
    accountId: string;
    kind: CreditKind;
    amountUsd: string;
    expiresAt: string | null;
    idempotencyKey: string;
    fingerprint: string;
    note: string | null;
    actor: string;
  },
): Promise<{ entry: CreditRecord; created: boolean }> {
  const [made] = await database.rows<CreditRecord>(sql`
    insert into account_credits
      (account_id, kind, amount_usd, expires_at, idempotency_key, request_fingerprint, note, actor)
    values (${entry.accountId}, ${entry.kind}, ${entry.amountUsd}::numeric, ${entry.expiresAt}::timestamptz,
      ${entry.idempotencyKey}, ${entry.fingerprint}, ${entry.note}, ${entry.actor})
    on conflict (account_id, idempotency_key) do nothing
    returning ${CREDIT}`);
  if (made) return { entry: made, created: true };
  const [existing] = await database.rows<CreditRecord>(sql`
    select ${CREDIT} from account_credits
    where account_id = ${entry.accountId} and idempotency_key = ${entry.idempotencyKey}`);
  if (!existing) throw new Error('a credit entry neither written nor found');
  return { entry: existing, created: false };
}

/** The account's entries, oldest first; with `from`/`to`, those written in [from, to). */
export function listCredits(
  database: Database,
  accountId: string,
  window: { from?: string; to?: string } = {},
): Promise<CreditRecord[]> {
  return database.rows<CreditRecord>(sql`
    select ${CREDIT} from account_credits
    where account_id = ${accountId}
      and (${window.from ?? null}::timestamptz is null or created_at >= ${window.from ?? null}::timestamptz)
      and (${window.to ?? null}::timestamptz is null or created_at < ${window.to ?? null}::timestamptz)
    order by created_at, id`);
}
