// The admin audit trail: who (the admin key: `master`) did what to which key or price, and when.
import { desc } from 'drizzle-orm';
import type { Database } from '../../db/client.ts';
import { adminAudit } from '../../db/schema.ts';

export type AuditEntry = {
  id: number;
  created_at: string;
  actor: string;
  action: string;
  target: string | null;
  details: unknown;
};

export type Audit = {
  record(entry: { actor: string; action: string; target?: string | null; details?: unknown }): Promise<void>;
  list(limit: number): Promise<AuditEntry[]>;
};

export function createAudit({ database }: { database: Database }): Audit {
  return {
    async record({ actor, action, target = null, details = null }) {
      await database.db.insert(adminAudit).values({ actor, action, target, details });
    },
    async list(limit) {
      const rows = await database.db.select().from(adminAudit).orderBy(desc(adminAudit.id)).limit(limit);
      return rows.map((row) => ({
        id: row.id,
        created_at: row.createdAt.toISOString(),
        actor: row.actor,
        action: row.action,
        target: row.target,
        details: row.details,
      }));
    },
  };
}
