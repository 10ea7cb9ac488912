// GET /healthz (process up) and /readyz: ready when the database answers and the ledger writes to it.
// A recorder that spools (the database failed, or its replays keep failing) is not ready, even while a
// ping succeeds: its rows are not reaching the ledger, so the balancer should prefer another replica.
import { Hono } from 'hono';
import type { Database } from '../db/client.ts';
import type { Recorder } from '../ledger/recorder.ts';
import type { AppEnv } from '../middleware/context.ts';

const PING_TIMEOUT_MS = 2000;

export function healthRoutes({ database, recorder }: { database: Database; recorder: Recorder }) {
  return new Hono<AppEnv>()
    .get('/healthz', (c) => c.json({ status: 'ok' }))
    .get('/readyz', async function readyz(c) {
      let up = true;
      try {
        await Promise.race([
          database.ping(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), PING_TIMEOUT_MS).unref()),
        ]);
      } catch {
        up = false;
      }
      const { spoolDepth, degraded } = recorder.stats();
      const body = {
        database: up ? 'up' : 'down',
        // spooling: rows go to the spool until a replay drains it
        ledger: degraded ? 'spooling' : 'writing',
        spool_depth: spoolDepth,
      };
      if (up && !degraded) return c.json({ status: 'ready', ...body });
      return c.json({ status: 'unavailable', ...body }, 503);
    });
}
