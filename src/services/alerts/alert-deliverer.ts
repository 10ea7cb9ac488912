// Delivers the budget-alert outbox: each pending alert POSTed to ALERT_WEBHOOK_URL, signed, retried with
// capped exponential backoff while the receiver fails, marked failed after ALERT_MAX_ATTEMPTS. Off the
// request path. Exactly once per alert across replicas, with one gap stated plainly: a process that dies
// after the receiver's 2xx and before the commit leaves the alert pending, so it is sent again (the
// receiver dedupes on `idempotency-key`, the alert's id).
import { createHmac } from 'node:crypto';
import { Agent, request } from 'undici';
import type { AlertRecord, TryOutcome } from '../../db/alerts-repo.ts';
import { tryNextDue } from '../../db/alerts-repo.ts';
import type { Database } from '../../db/client.ts';
import { alertPayload } from './alerts.ts';

export type AlertDeliveryOptions = {
  webhookUrl: string;
  /** HMAC-SHA256 key for x-tollgate-signature; unset: unsigned */
  webhookSecret: string | undefined;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  timeoutMs: number;
  pollMs: number;
};

export type AlertDeliverer = {
  start(): Promise<void>;
  /** tries every alert due now, one after another; resolves to how many were tried */
  runOnce(): Promise<number>;
  /** stops polling and waits for the try in progress */
  stop(): Promise<void>;
};

/** the NOTIFY channel the alert trigger signals on */
const CHANNEL = 'tollgate_alerts';
/** tries per pass before yielding to the next tick: a backlog never monopolizes the process */
const PASS_LIMIT = 100;
/** the most of a receiver's reply read (and discarded) before the connection is let go */
const REPLY_LIMIT_BYTES = 64 * 1024;
const ERROR_LIMIT_CHARS = 300;

/** Wait before try `attempt + 1` after `attempt` failed tries: base · 2^(attempt-1), capped. */
export function backoffMs(attempt: number, { backoffBaseMs, backoffMaxMs }: AlertDeliveryOptions): number {
  return Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(attempt - 1, 30));
}

/** `sha256=<hex>`: HMAC-SHA256 of the exact body bytes sent. */
export function signature(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

export function createAlertDeliverer({
  database,
  options,
  onOutcome = () => {},
  onError = () => {},
}: {
  database: Database;
  options: AlertDeliveryOptions;
  /** each try's outcome, for metrics and the log (the secret and URL are never in it) */
  onOutcome?: (alert: AlertRecord, outcome: TryOutcome) => void;
  onError?: (message: string, err: unknown) => void;
}): AlertDeliverer {
  // connections of its own, so a slow receiver never shares a pool with anything else
  const agent = new Agent({ connect: { timeout: options.timeoutMs } });
  let timer: NodeJS.Timeout | undefined;
  let unlisten: (() => Promise<void>) | undefined;
  let running: Promise<number> | undefined;
  let again = false;
  let stopped = false;

  async function attempt(alert: AlertRecord): Promise<TryOutcome> {
    const body = JSON.stringify(alertPayload(alert));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'tollgate-alerts',
      'idempotency-key': alert.id,
    };
    if (options.webhookSecret) headers['x-tollgate-signature'] = signature(body, options.webhookSecret);
    const tryNumber = alert.attempts + 1;
    let error: string;
    try {
      // undici's request never follows redirects: a 3xx is a failed try like any other non-2xx
      const res = await request(options.webhookUrl, {
        method: 'POST',
        headers,
        body,
        dispatcher: agent,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      await res.body.dump({ limit: REPLY_LIMIT_BYTES }).catch(() => {});
      if (res.statusCode >= 200 && res.statusCode < 300) return { kind: 'delivered' };
      error = `the receiver answered HTTP ${res.statusCode}${res.statusCode >= 300 && res.statusCode < 400 ? ' (redirects are not followed)' : ''}`;
    } catch (err) {
      error = describe(err);
    }
    if (tryNumber >= options.maxAttempts) return { kind: 'failed', error };
    return { kind: 'retry', error, retryInMs: backoffMs(tryNumber, options) };
  }

  /** What went wrong, without the URL: a Slack webhook's path and a Teams workflow's `sig=` are tokens. */
  function describe(err: unknown): string {
    const e = err as { name?: unknown; code?: unknown; message?: unknown };
    let text = [e.code ?? e.name, e.message].filter((part) => typeof part === 'string').join(': ');
    const { pathname, search } = new URL(options.webhookUrl);
    for (const secret of [options.webhookUrl, pathname.length > 1 ? pathname : '', search]) {
      if (secret) text = text.replaceAll(secret, '[webhook]');
    }
    return (text || 'delivery failed').slice(0, ERROR_LIMIT_CHARS);
  }

  async function pass(): Promise<number> {
    let tried = 0;
    while (!stopped && tried < PASS_LIMIT) {
      const found = await tryNextDue(database, async (alert) => {
        const outcome = await attempt(alert);
        onOutcome(alert, outcome);
        return outcome;
      });
      if (!found) break;
      tried += 1;
    }
    return tried;
  }

  /** One pass at a time; a wake-up during a pass runs one more after it. */
  function runOnce(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let total = 0;
      try {
        do {
          again = false;
          total += await pass();
        } while (again && !stopped);
      } catch (err) {
        onError('alert delivery pass failed', err);
      } finally {
        running = undefined;
      }
      return total;
    })();
    return running;
  }

  return {
    async start() {
      unlisten = await database
        .listen(CHANNEL, () => void runOnce())
        .catch((err: unknown) => {
          onError('cannot listen for new alerts; polling only', err);
          return undefined;
        });
      const tick = () => {
        if (stopped) return;
        void runOnce().finally(() => {
          if (!stopped) timer = setTimeout(tick, options.pollMs).unref();
        });
      };
      tick();
    },
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await unlisten?.().catch(() => {});
      await running;
      await agent.close().catch(() => {});
    },
  };
}
