// Assembles a gateway from its config: database, migrations, pricing, keys, recorder, upstream, app.
// server.ts serves it; tests build one on an in-memory PGlite the same way.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type App, type AppDeps, createApp } from './app.ts';
import type { Config } from './config.ts';
import { type Database, openDatabase } from './db/client.ts';
import { migrate } from './db/migrate.ts';
import type { UsageLogInsert } from './db/schema.ts';
import { createRecorder } from './ledger/recorder.ts';
import { createSpool } from './ledger/spool.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { createAudit } from './services/audit.ts';
import { createCatalogSync } from './services/catalog-sync.ts';
import { createKeyService } from './services/keys.ts';
import { createLimits } from './services/limits.ts';
import { pricingFromConfig } from './services/pricing.ts';
import { createUsageReport } from './services/usage-report.ts';
import { createUpstream } from './upstream/client.ts';
import { huggingFaceRouter } from './upstream/huggingface.ts';

export type Gateway = {
  app: App;
  deps: AppDeps;
  /** the admin key in force (generated when ADMIN_API_KEY is unset) */
  adminApiKey: string;
  adminKeyGenerated: boolean;
  /** flushes the recorder and closes every connection */
  close(): Promise<void>;
};

export type GatewayOverrides = {
  /** an already-open database (tests); else opened from config */
  database?: Database;
  logger?: Logger;
  /** PGlite in memory instead of DATA_DIR (tests) */
  inMemory?: boolean;
};

export async function createGateway(config: Config, overrides: GatewayOverrides = {}): Promise<Gateway> {
  const logger = overrides.logger ?? createLogger({ level: config.logLevel });
  const database =
    overrides.database ??
    (await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: overrides.inMemory ? undefined : config.dataDir,
    }));
  await migrate(database);

  const pricing = pricingFromConfig(database, config);
  await pricing.initFromEnv();

  const adminKeyGenerated = !config.adminApiKey;
  const adminApiKey = config.adminApiKey ?? `tg-admin-${randomBytes(24).toString('base64url')}`;
  const keys = createKeyService({ database, adminApiKey });

  const spool = createSpool<UsageLogInsert>({
    path: join(config.dataDir, 'usage-spool.ndjson'),
    revive: reviveUsageRow,
  });
  const recorder = createRecorder({
    database,
    spool,
    log: logger,
  });
  await recorder.start();

  const unfollow = await Promise.all([pricing.follow(), keys.follow()]);
  // the router's price catalog, read every PRICING_SYNC_INTERVAL_S (one replica at a time: see catalog-sync.ts)
  if (config.pricingSyncIntervalS > 0) {
    const sync = createCatalogSync({
      database,
      pricing,
      baseUrl: config.upstreamBaseUrl,
      token: config.hfToken,
      logger,
    });
    unfollow.push(sync.every(config.pricingSyncIntervalS));
  }
  const upstream = createUpstream({
    descriptor: huggingFaceRouter({ baseUrl: config.upstreamBaseUrl, token: config.hfToken }),
    timeoutMs: config.upstreamTimeoutMs,
    maxReplyBytes: config.maxUpstreamBodyBytes,
    queueTimeoutMs: config.upstreamQueueTimeoutMs,
  });
  const deps: AppDeps = {
    config,
    database,
    recorder,
    upstream,
    pricing,
    keys,
    usageReport: createUsageReport({ database }),
    logger,
    metrics: createMetrics({ recorderStats: () => recorder.stats() }),
    audit: createAudit({ database }),
    adminApiKey,
    limits: createLimits({
      database,
      priceBook: pricing.priceBook,
      failMode: config.limitsFailMode,
      defaultMaxTokens: config.budgetDefaultMaxTokens,
      onError: (message, err) => logger.error({ err }, message),
    }),
  };

  return {
    app: createApp(deps),
    deps,
    adminApiKey,
    adminKeyGenerated,
    async close() {
      await recorder.close();
      for (const stop of unfollow) await stop().catch(() => {});
      await upstream.close();
      if (!overrides.database) await database.close();
    },
  };
}

/** A spooled row back from JSON: dates were ISO strings. */
function reviveUsageRow(value: unknown): UsageLogInsert {
  const row = value as UsageLogInsert & { createdAt?: string | Date };
  if (typeof row.requestId !== 'string') throw new Error('not a usage row');
  return { ...row, createdAt: row.createdAt ? new Date(row.createdAt) : new Date() };
}
