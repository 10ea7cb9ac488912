// Admin reads (/usage, /usage/summary, /admin/*) answer 503 database_unavailable when the database has
// not answered within the deadline, instead of hanging for as long as a frozen server stays frozen.
// Writes are left alone: a 503 while the write may still commit would misreport it.
import type { MiddlewareHandler } from 'hono';
import { databaseUnavailable } from '../db/deadline.ts';
import type { AppEnv } from './context.ts';

const READS = new Set(['GET', 'HEAD']);

export function databaseDeadline({ timeoutMs }: { timeoutMs: number }): MiddlewareHandler<AppEnv> {
  return async function databaseDeadlineMiddleware(c, next) {
    if (!READS.has(c.req.method)) return next();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    // the handler goes on in the background until its query ends; its answer is dropped
    const handled = next().then(() => 'handled' as const);
    const first = await Promise.race([handled, late]).finally(() => clearTimeout(timer));
    if (first === 'late') {
      handled.catch(() => {});
      throw databaseUnavailable(undefined, `The database did not answer within ${timeoutMs} ms.`);
    }
  };
}
