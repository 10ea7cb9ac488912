// Keeps `catalog` prices in step with an upstream's catalog: reads GET {base URL}/models through that
// upstream's own client (its pool and token; off the request path), writes a version for each
// `<model id>:<provider>` whose price changed and retires those the catalog no longer prices. The catalog
// is bounded (CATALOG_MAX_*, billing/catalog.ts), and one sync retires at most CATALOG_MAX_RETIRE_SHARE of
// the stored catalog prices unless an admin allows more (a router glitch answering `{"data":[]}` retires
// nothing). On PostgreSQL the writes hold a transaction-scoped advisory lock: replicas syncing at once take
// turns, and the later one finds nothing changed.
import { sql } from 'drizzle-orm';
import {
  type Catalog,
  type CatalogBounds,
  CatalogError,
  DEFAULT_CATALOG_BOUNDS,
  parseCatalog,
} from '../../billing/catalog.ts';
import { canonical, formatDecimal } from '../../billing/money.ts';
import type { Database, Db } from '../../db/client.ts';
import { insertPriceVersion, priceVersionsBySource } from '../../db/pricing-repo.ts';
import type { PricingRow } from '../../db/schema.ts';
import type { Logger } from '../../logger.ts';
import { createUpstream, type UpstreamClient } from '../../upstream/client.ts';
import { huggingFaceRouter } from '../../upstream/huggingface.ts';
import type { PricingService } from './pricing.ts';

const SYNC_LOCK = 7_301_115; // arbitrary, constant across replicas
/** a catalog is a few hundred KB; more than this is not one */
const MAX_CATALOG_BYTES = 16 * 1024 * 1024;

export type SyncResult = {
  /** false when the catalog could not be read or parsed: nothing changed */
  ok: boolean;
  written: string[];
  retired: string[];
  unchanged: number;
  /** entries left alone, and why */
  problems: string[];
  /** another replica held the lock: this run wrote nothing */
  skipped?: boolean;
  /** retirements the catalog asked for and the guard held back (run with allowRetire to apply them) */
  retireHeld?: string[];
};

export type SyncOptions = {
  /** an admin's say: retire whatever the catalog no longer prices, past CATALOG_MAX_RETIRE_SHARE */
  allowRetire?: boolean;
};

/** One upstream's catalog sync; catalog-syncs.ts runs them in turn, once or on a timer. */
export type CatalogSync = {
  syncOnce(options?: SyncOptions): Promise<SyncResult>;
};

export function createCatalogSync({
  database,
  pricing,
  upstream: given,
  baseUrl = '',
  token,
  timeoutMs = 30_000,
  logger,
  bounds = DEFAULT_CATALOG_BOUNDS,
  maxRetireShare = 0.5,
}: {
  database: Database;
  pricing: PricingService;
  /** the upstream whose catalog is read, through its own client; its provider owns the prices */
  upstream?: UpstreamClient;
  /** where the catalog is, for log lines; without `upstream`: the HuggingFace router there, with `token` */
  baseUrl?: string;
  token?: string | undefined;
  timeoutMs?: number;
  logger: Logger;
  /** CATALOG_MAX_*: what a catalog may hold */
  bounds?: CatalogBounds;
  /** CATALOG_MAX_RETIRE_SHARE: the share of stored catalog prices one sync may retire on its own */
  maxRetireShare?: number;
}): CatalogSync {
  const upstream =
    given ??
    createUpstream({
      descriptor: huggingFaceRouter({ baseUrl, token }),
      timeoutMs,
      maxReplyBytes: MAX_CATALOG_BYTES,
      queueTimeoutMs: timeoutMs,
      connections: 1,
    });
  // the apply logic below writes under PROVIDER: the provider of the upstream it reads
  const PROVIDER = upstream.provider;

  async function fetchCatalog(): Promise<string> {
    const signal = AbortSignal.timeout(timeoutMs);
    const reply = await upstream.get('/models', { signal, maxBytes: MAX_CATALOG_BYTES }).catch((err) => {
      if (signal.aborted) throw new CatalogError(`GET /models timed out after ${timeoutMs} ms`);
      if ((err as { code?: string }).code === 'upstream_reply_too_large')
        throw new CatalogError(`the catalog is larger than ${MAX_CATALOG_BYTES} bytes`);
      throw err;
    });
    if (reply.status !== 200) throw new CatalogError(`GET ${baseUrl}/models answered ${reply.status}`);
    return Buffer.from(reply.body).toString('utf8');
  }

  async function write(
    catalog: Catalog,
    { allowRetire = false }: SyncOptions,
  ): Promise<Omit<SyncResult, 'ok' | 'problems'> | undefined> {
    return database.db.transaction(async (tx) => {
      if (database.kind === 'postgres') {
        const [row] = (await tx.execute(
          sql`select pg_try_advisory_xact_lock(${SYNC_LOCK}) as locked`,
        )) as unknown as Array<{ locked: boolean }>;
        if (!row?.locked) return undefined;
      }
      const db = tx as unknown as Db;
      // the newest catalog version of each name
      const latest = new Map<string, PricingRow>();
      for (const row of await priceVersionsBySource(db, 'catalog')) {
        if (row.provider === PROVIDER && !latest.has(row.modelName)) latest.set(row.modelName, row);
      }
      const result = {
        written: [] as string[],
        retired: [] as string[],
        unchanged: 0,
        retireHeld: [] as string[],
      };
      const priced = new Set<string>();
      for (const price of catalog.prices) {
        priced.add(price.modelName);
        const input = formatDecimal(price.inputTokenCost);
        const output = formatDecimal(price.outputTokenCost);
        const seen = latest.get(price.modelName);
        if (
          seen &&
          !seen.retired &&
          canonical(seen.inputTokenCost) === input &&
          canonical(seen.outputTokenCost) === output
        ) {
          result.unchanged += 1;
          continue;
        }
        const row = await insertPriceVersion(db, {
          provider: PROVIDER,
          modelName: price.modelName,
          inputTokenCost: input,
          outputTokenCost: output,
          source: 'catalog',
        });
        latest.set(price.modelName, row);
        result.written.push(price.modelName);
      }
      const retiring = [...latest].filter(
        ([modelName, seen]) => !seen.retired && !priced.has(modelName) && catalog.retires(modelName),
      );
      const live = [...latest.values()].filter((seen) => !seen.retired).length;
      if (!allowRetire && retiring.length > 0 && retiring.length > live * maxRetireShare) {
        // more than the share at once looks like a router glitch, not a price list: an admin decides
        result.retireHeld = retiring.map(([modelName]) => modelName);
        return result;
      }
      for (const [modelName, seen] of retiring) {
        await insertPriceVersion(db, {
          provider: PROVIDER,
          modelName,
          inputTokenCost: seen.inputTokenCost,
          outputTokenCost: seen.outputTokenCost,
          source: 'catalog',
          retired: true,
        });
        result.retired.push(modelName);
      }
      return result;
    });
  }

  async function syncOnce(options: SyncOptions = {}): Promise<SyncResult> {
    let catalog: Catalog;
    try {
      catalog = parseCatalog(await fetchCatalog(), bounds);
    } catch (err) {
      const reason = err instanceof CatalogError ? err.message : `reading it failed: ${describe(err)}`;
      logger.warn({ url: `${baseUrl}/models`, reason }, 'pricing sync: catalog unusable, nothing changed');
      return { ok: false, written: [], retired: [], unchanged: 0, problems: [reason] };
    }
    const outcome = await write(catalog, options);
    if (!outcome) {
      logger.info('pricing sync: another replica is syncing; skipped');
      return { ok: true, written: [], retired: [], unchanged: 0, problems: catalog.problems, skipped: true };
    }
    if (outcome.written.length > 0 || outcome.retired.length > 0) await pricing.changed();
    const held = outcome.retireHeld ?? [];
    if (held.length > 0) {
      logger.warn(
        { held: held.length, share: maxRetireShare, examples: held.slice(0, 10) },
        'pricing sync: the catalog no longer prices more than CATALOG_MAX_RETIRE_SHARE of the stored prices; ' +
          'none retired (run `npm run pricing:sync -- --allow-retire` to retire them)',
      );
    }
    const fields = {
      written: outcome.written.length,
      retired: outcome.retired.length,
      unchanged: outcome.unchanged,
      problems: catalog.problems,
    };
    if (catalog.problems.length > 0) {
      logger.warn(fields, 'pricing sync: malformed catalog entries left unchanged');
    } else {
      logger.info(fields, 'pricing sync done');
    }
    return { ok: true, ...outcome, problems: catalog.problems };
  }

  return { syncOnce };
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.name === 'TimeoutError' ? 'timed out' : `${err.name}: ${err.message}`;
  return String(err);
}
