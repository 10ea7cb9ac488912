// Every upstream's price catalog synced in turn: the router's (the default upstream) and each
// `catalog: true` upstream's, each read through its own client and written under its own provider.
// One after the other, so the sync lock (see catalog-sync.ts) never turns one upstream's run away.

import type { CatalogBounds } from '../../billing/catalog.ts';
import type { Database } from '../../db/client.ts';
import type { Logger } from '../../logger.ts';
import type { Upstreams } from '../../upstream/upstreams.ts';
import { type CatalogSync, createCatalogSync, type SyncOptions, type SyncResult } from './catalog-sync.ts';
import type { PricingService } from './pricing.ts';

export type CatalogSyncs = {
  /** syncs each catalog upstream once, in order: its name and its result */
  syncOnce(options?: SyncOptions): Promise<Array<{ name: string; result: SyncResult }>>;
  /** syncs now and every `intervalS` seconds until the returned stop() */
  every(intervalS: number): () => Promise<void>;
};

export function createCatalogSyncs({
  database,
  pricing,
  upstreams,
  logger,
  bounds,
  maxRetireShare,
}: {
  database: Database;
  pricing: PricingService;
  upstreams: Upstreams;
  logger: Logger;
  /** CATALOG_MAX_*: what each catalog may hold */
  bounds?: CatalogBounds;
  /** CATALOG_MAX_RETIRE_SHARE, per catalog */
  maxRetireShare?: number;
}): CatalogSyncs {
  const syncs: Array<{ name: string; sync: CatalogSync }> = upstreams.all
    .filter((route) => route.descriptor.catalog)
    .map((route) => ({
      name: route.descriptor.name,
      sync: createCatalogSync({
        database,
        pricing,
        upstream: route.upstream,
        baseUrl: route.descriptor.baseUrl,
        logger: logger.child({ upstream: route.descriptor.name }),
        bounds,
        maxRetireShare,
      }),
    }));

  async function syncOnce(options: SyncOptions = {}) {
    const results: Array<{ name: string; result: SyncResult }> = [];
    for (const { name, sync } of syncs) results.push({ name, result: await sync.syncOnce(options) });
    return results;
  }

  return {
    syncOnce,
    every(intervalS) {
      let running: Promise<unknown> = Promise.resolve();
      let busy = false;
      const tick = () => {
        if (busy) return;
        busy = true;
        running = syncOnce()
          .catch((err: unknown) => logger.error({ err }, 'pricing sync failed'))
          .finally(() => {
            busy = false;
          });
      };
      tick();
      const timer = setInterval(tick, intervalS * 1000);
      timer.unref();
      return async () => {
        clearInterval(timer);
        await running;
      };
    },
  };
}
