// The dashboard's sign-in sessions and sign-in throttle, kept in PostgreSQL so that every replica
// agrees: a sign-out anywhere ends the session everywhere (a signed cookie alone would stay valid until
// it expired, and an in-memory revocation list would be one replica's), and a client's attempts are
// counted once whichever replica it reaches (sign-in-throttle.ts, shared with the admin routes). The
// cookie holds a random token; only its HMAC under a key
// derived from ADMIN_API_KEY is stored, so the table leaks no usable token and changing the admin key
// signs everyone out.
import { createHmac, randomBytes } from 'node:crypto';
import { and, eq, gt, lt, sql } from 'drizzle-orm';
import type { Database } from '../../db/client.ts';
import { dashboardSessions } from '../../db/schema.ts';
import { createSignInThrottle, type LoginAdmission } from './sign-in-throttle.ts';

export const SESSION_COOKIE = 'tollgate_session';
export const SESSION_TTL_S = 12 * 60 * 60;
/** sign-in attempts a client may make per one-minute window, right or wrong */
export const LOGIN_ATTEMPTS_PER_MINUTE = 5;
export type { LoginAdmission } from './sign-in-throttle.ts';

export type DashboardSessions = {
  /** a new session; the token goes in the cookie */
  open(): Promise<string>;
  isOpen(token: string | undefined): Promise<boolean>;
  /** ends the session on every replica */
  close(token: string | undefined): Promise<void>;
  /** counts one sign-in attempt of `client`; past the limit, how long to wait */
  admitLogin(client: string): Promise<LoginAdmission>;
};

export function createDashboardSessions({
  database,
  adminApiKey,
  now = Date.now,
}: {
  database: Database;
  adminApiKey: string;
  /** ms since the epoch; tests move it */
  now?: () => number;
}): DashboardSessions {
  const { db } = database;
  const throttle = createSignInThrottle({ database, now });
  const hashOf = (token: string) =>
    createHmac('sha256', `tollgate-dashboard:${adminApiKey}`).update(token).digest('base64url');
  // a token is 43 base64url characters; anything else is not worth a query
  const wellFormed = (token: string | undefined): token is string =>
    token !== undefined && /^[A-Za-z0-9_-]{43}$/.test(token);

  return {
    async open() {
      const token = randomBytes(32).toString('base64url');
      const at = now();
      // expired sessions go as new ones come: the table holds at most a day of sign-ins
      await db.delete(dashboardSessions).where(lt(dashboardSessions.expiresAt, new Date(at)));
      await db
        .insert(dashboardSessions)
        .values({ tokenHash: hashOf(token), expiresAt: new Date(at + SESSION_TTL_S * 1000) });
      return token;
    },

    async isOpen(token) {
      if (!wellFormed(token)) return false;
      const rows = await db
        .select({ one: sql<number>`1` })
        .from(dashboardSessions)
        .where(
          and(
            eq(dashboardSessions.tokenHash, hashOf(token)),
            gt(dashboardSessions.expiresAt, new Date(now())),
          ),
        )
        .limit(1);
      return rows.length > 0;
    },

    async close(token) {
      if (!wellFormed(token)) return;
      await db.delete(dashboardSessions).where(eq(dashboardSessions.tokenHash, hashOf(token)));
    },

    admitLogin: (client) => throttle.count(client, LOGIN_ATTEMPTS_PER_MINUTE),
  };
}
