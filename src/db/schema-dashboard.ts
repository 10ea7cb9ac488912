// The dashboard's sessions and sign-in throttle (drizzle/0009).
import { index, integer, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { createdAt } from './schema-columns.ts';

/** Dashboard sign-ins: the SHA-256 of each session token; a sign-out deletes its row (every replica sees it). */
export const dashboardSessions = pgTable(
  'dashboard_sessions',
  {
    tokenHash: text('token_hash').primaryKey(),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (t) => [index('dashboard_sessions_expires_at').on(t.expiresAt)],
);

/** Dashboard sign-in attempts per client address and one-minute window, shared by every replica. */
export const dashboardLoginAttempts = pgTable(
  'dashboard_login_attempts',
  {
    client: text('client').notNull(),
    windowStart: timestamp('window_start', { withTimezone: true, mode: 'date' }).notNull(),
    attempts: integer('attempts').notNull().default(0),
  },
  (t) => [primaryKey({ name: 'dashboard_login_attempts_pk', columns: [t.client, t.windowStart] })],
);
