// Stripe top-ups: an event verified with the official `stripe` package (Stripe-Signature, the endpoint's
// signing secret); a checkout.session.completed naming an account in metadata.tollgate_account_id credits
// amount_total (cents) once, with the event id as the idempotency key, so a redelivery changes nothing.
import Stripe from 'stripe';
import { multiplyExact } from '../../billing/charge.ts';
import { findAccount } from '../../db/accounts-repo.ts';
import type { Database } from '../../db/client.ts';
import { badRequest } from '../../errors.ts';
import type { Audit } from '../admin/audit.ts';
import type { CreditService } from './credits.ts';

export type StripeOutcome =
  | { handled: 'credited' | 'replayed'; event_id: string; account_id: string; amount_usd: string }
  | { handled: 'ignored'; event_id: string; reason: string };

type Session = { id?: unknown; amount_total?: unknown; currency?: unknown; metadata?: unknown };

export function createStripeTopups({
  database,
  credits,
  audit,
  secret,
  onUnmatched = () => {},
}: {
  database: Database;
  credits: CreditService;
  audit: Audit;
  /** STRIPE_WEBHOOK_SECRET */
  secret: string;
  /** an event that names no account (logged: a person must act) */
  onUnmatched?: (detail: Record<string, unknown>) => void;
}) {
  return async function receive(payload: Uint8Array, signature: string | undefined): Promise<StripeOutcome> {
    let event: Stripe.Event;
    try {
      if (!signature) throw new Error('no Stripe-Signature header');
      event = await Stripe.webhooks.constructEventAsync(Buffer.from(payload), signature, secret);
    } catch {
      // the reason stays here: nothing about the secret or the expected signature goes back
      throw badRequest(
        'The Stripe-Signature header does not verify this payload.',
        'stripe-signature',
        'invalid_signature',
      );
    }
    if (event.type !== 'checkout.session.completed')
      return { handled: 'ignored', event_id: event.id, reason: `event type ${event.type}` };
    const session = event.data.object as Session;
    const metadata = (session.metadata ?? {}) as Record<string, unknown>;
    const accountId = typeof metadata.tollgate_account_id === 'string' ? metadata.tollgate_account_id : null;
    const cents = session.amount_total;
    const account = accountId === null ? undefined : await findAccount(database, accountId);
    if (!account || typeof cents !== 'number' || !Number.isSafeInteger(cents) || cents <= 0) {
      const detail = { event_id: event.id, account_id: accountId, amount_total: cents ?? null };
      onUnmatched(detail);
      // kept where an admin looks, and answered 200 so Stripe stops retrying
      await audit.record({ actor: 'stripe', action: 'stripe.unmatched', target: event.id, details: detail });
      return {
        handled: 'ignored',
        event_id: event.id,
        reason: account ? 'no positive amount_total' : 'names no account',
      };
    }
    const amountUsd = multiplyExact(String(cents), '0.01');
    const { entry, created } = await credits.add(account.id, {
      kind: 'topup',
      amountUsd,
      idempotencyKey: event.id,
      expiresAt: null,
      note: `Stripe checkout ${typeof session.id === 'string' ? session.id : ''}`.trim(),
      actor: 'stripe',
    });
    if (created)
      await audit.record({ actor: 'stripe', action: 'credit.topup', target: account.id, details: entry });
    return {
      handled: created ? 'credited' : 'replayed',
      event_id: event.id,
      account_id: account.id,
      amount_usd: entry.amount_usd,
    };
  };
}
