// Column shapes every table spells the same way.
import { timestamp } from 'drizzle-orm/pg-core';

/** when the row was written (UTC) */
export const createdAt = () =>
  timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow();
