// POST /webhooks/stripe: no gateway key; Stripe's signature is the credential (mounted only with
// STRIPE_WEBHOOK_SECRET). The raw bytes are verified, never a re-serialized body.
import { Hono } from 'hono';
import type { AppEnv } from '../middleware/context.ts';
import type { createStripeTopups } from '../services/accounts/stripe.ts';

export function stripeWebhookRoutes({ receive }: { receive: ReturnType<typeof createStripeTopups> }) {
  return new Hono<AppEnv>().post('/stripe', async function stripeEvent(c) {
    const payload = new Uint8Array(await c.req.arrayBuffer());
    return c.json(await receive(payload, c.req.header('stripe-signature')));
  });
}
