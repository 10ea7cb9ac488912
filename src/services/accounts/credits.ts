// Credits: top-ups and adjustments appended to the ledger, idempotent per (account, idempotency key):
// the same key with the same request is the same entry (200), with another request a 409.
import { exactText } from '../../billing/charge.ts';
import { findAccount } from '../../db/accounts-repo.ts';
import type { Database } from '../../db/client.ts';
import { appendCredit, type CreditKind, type CreditRecord, listCredits } from '../../db/credits-repo.ts';
import { GatewayError, notFound } from '../../errors.ts';

export type CreditView = {
  id: number;
  kind: CreditKind;
  amount_usd: string;
  expires_at: string | null;
  idempotency_key: string;
  note: string | null;
  actor: string;
  created_at: string;
};

export type CreditInput = {
  kind: 'topup' | 'adjustment';
  amountUsd: string;
  idempotencyKey: string;
  expiresAt: string | null;
  note: string | null;
  actor: string;
};

export type CreditService = ReturnType<typeof createCreditService>;

export function creditView(entry: CreditRecord): CreditView {
  const { request_fingerprint: _fingerprint, account_id: _account, ...shown } = entry;
  return { ...shown, amount_usd: exactText(entry.amount_usd) };
}

export function createCreditService({ database }: { database: Database }) {
  return {
    /** Resolves with the entry and whether this call wrote it; a 409 when the key names another request. */
    async add(accountId: string, input: CreditInput): Promise<{ entry: CreditView; created: boolean }> {
      if (!(await findAccount(database, accountId))) throw notFound(`No account with id ${accountId}.`);
      const amountUsd = exactText(input.amountUsd);
      const fingerprint = JSON.stringify([input.kind, amountUsd, input.expiresAt, input.note]);
      const { entry, created } = await appendCredit(database, {
        accountId,
        kind: input.kind,
        amountUsd,
        expiresAt: input.expiresAt,
        idempotencyKey: input.idempotencyKey,
        fingerprint,
        note: input.note,
        actor: input.actor,
      });
      if (!created && entry.request_fingerprint !== fingerprint)
        throw new GatewayError(
          409,
          `Idempotency key ${JSON.stringify(input.idempotencyKey)} was already used for another credit on this account (entry ${entry.id}).`,
          { code: 'idempotency_conflict', param: 'idempotency_key' },
        );
      return { entry: creditView(entry), created };
    },
    async list(accountId: string): Promise<CreditView[]> {
      if (!(await findAccount(database, accountId))) throw notFound(`No account with id ${accountId}.`);
      return (await listCredits(database, accountId)).map(creditView);
    },
  };
}
