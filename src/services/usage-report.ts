// PLACEHOLDER — being replaced by the usage-report work (filters, cursor, totals, summary, CSV).
import type { Database } from '../db/client.ts';

export type UsageReport = { database: Database };

export function createUsageReport({ database }: { database: Database }): UsageReport {
  return { database };
}
