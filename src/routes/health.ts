// GET /healthz (process up) and /readyz (database reachable; 503 while the gateway serves from the spool).
import { Hono } from 'hono';
import type { Database } from '../db/client.ts';
import type { Recorder } from '../ledger/recorder.ts';
import type { AppEnv } from '../middleware/context.ts';

const PING_TIMEOUT_MS = 2000;

export function healthRoutes({ database, recorder }: { database: Database; recorder: Recorder }) {
  return new Hono<AppEnv>()
    .get('/healthz', (c) => c.json({ status: 'ok' }))
    .get('/readyz', async function readyz(c) {
      const { spoolDepth } = recorder.stats();
      try {
        await Promise.race([
          database.ping(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), PING_TIMEOUT_MS).unref()),
        ]);
        return c.json({ status: 'ready', database: 'up', spool_depth: spoolDepth });
      } catch {
        return c.json({ status: 'unavailable', database: 'down', spool_depth: spoolDepth }, 503);
      }
    });
}
