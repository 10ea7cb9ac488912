// The admin key's guessing throttle, per client address and one-minute window, kept in PostgreSQL so
// that every replica counts the same attempts: the dashboard's sign-in counts each attempt, the admin
// routes each wrong Bearer key, both in the same counter, so neither door sidesteps the other.
import { and, eq, lt, sql } from 'drizzle-orm';
import type { Database } from '../../db/client.ts';
import { dashboardLoginAttempts } from '../../db/schema.ts';

const WINDOW_MS = 60_000;

export type LoginAdmission = { allowed: true } | { allowed: false; retryAfterS: number };

export type SignInThrottle = {
  /** counts one attempt of `client`; more than `limit` in the window: how long to wait */
  count(client: string, limit: number): Promise<LoginAdmission>;
  /** whether `client` has already made `limit` attempts in the window (counts nothing) */
  check(client: string, limit: number): Promise<LoginAdmission>;
};

export function createSignInThrottle({
  database,
  now = Date.now,
}: {
  database: Database;
  /** ms since the epoch; tests move it */
  now?: () => number;
}): SignInThrottle {
  const { db } = database;
  const windowOf = (at: number) => new Date(Math.floor(at / WINDOW_MS) * WINDOW_MS);
  const refused = (windowStart: Date, at: number): LoginAdmission => ({
    allowed: false,
    retryAfterS: Math.max(1, Math.ceil((windowStart.getTime() + WINDOW_MS - at) / 1000)),
  });

  return {
    async count(client, limit) {
      const at = now();
      const windowStart = windowOf(at);
      await db
        .delete(dashboardLoginAttempts)
        .where(lt(dashboardLoginAttempts.windowStart, new Date(windowStart.getTime() - WINDOW_MS)));
      const [row] = await db
        .insert(dashboardLoginAttempts)
        .values({ client, windowStart, attempts: 1 })
        .onConflictDoUpdate({
          target: [dashboardLoginAttempts.client, dashboardLoginAttempts.windowStart],
          set: { attempts: sql`${dashboardLoginAttempts.attempts} + 1` },
        })
        .returning({ attempts: dashboardLoginAttempts.attempts });
      return (row?.attempts ?? 0) <= limit ? { allowed: true } : refused(windowStart, at);
    },

    async check(client, limit) {
      const at = now();
      const windowStart = windowOf(at);
      const [row] = await db
        .select({ attempts: dashboardLoginAttempts.attempts })
        .from(dashboardLoginAttempts)
        .where(
          and(eq(dashboardLoginAttempts.client, client), eq(dashboardLoginAttempts.windowStart, windowStart)),
        );
      return (row?.attempts ?? 0) < limit ? { allowed: true } : refused(windowStart, at);
    },
  };
}
