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
import { type AlertDeliverer, createAlertDeliverer } from './services/alert-deliverer.ts';
import { createAlerts } from './services/alerts.ts';
import { createAudit } from './services/audit.ts';
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
  /** sends budget alerts; undefined when ALERT_WEBHOOK_URL is unset */
  deliverer: AlertDeliverer | undefined;
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
  const upstream = createUpstream({
    descriptor: huggingFaceRouter({ baseUrl: config.upstreamBaseUrl, token: config.hfToken }),
    timeoutMs: config.upstreamTimeoutMs,
    maxReplyBytes: config.maxUpstreamBodyBytes,
    queueTimeoutMs: config.upstreamQueueTimeoutMs,
  });
  const metrics = createMetrics({ recorderStats: () => recorder.stats() });
  const deps: AppDeps = {
    config,
    database,
    recorder,
    upstream,
    pricing,
    keys,
    usageReport: createUsageReport({ database }),
    logger,
    metrics,
    alerts: createAlerts({ database }),
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

  const deliverer = alertDeliverer(database, config, deps);
  await deliverer?.start();

  return {
    app: createApp(deps),
    deps,
    adminApiKey,
    adminKeyGenerated,
    deliverer,
    async close() {
      await deliverer?.stop();
      await recorder.close();
      for (const stop of unfollow) await stop().catch(() => {});
      await upstream.close();
      if (!overrides.database) await database.close();
    },
  };
}

/** The alert deliverer when a webhook is configured: each try counted in /metrics, failures logged. */
function alertDeliverer(
  database: Database,
  { alerts }: Config,
  { metrics, logger }: Pick<AppDeps, 'metrics' | 'logger'>,
): AlertDeliverer | undefined {
  const { webhookUrl } = alerts;
  if (!webhookUrl) return undefined;
  return createAlertDeliverer({
    database,
    options: { ...alerts, webhookUrl },
    onOutcome(alert, outcome) {
      metrics.alert(outcome.kind === 'retry' ? 'retried' : outcome.kind);
      if (outcome.kind === 'delivered') return;
      const fields = { alert_id: alert.id, key_id: alert.api_key_id, attempts: alert.attempts + 1 };
      logger.warn(
        { ...fields, error: outcome.error },
        outcome.kind === 'failed'
          ? 'budget alert undeliverable: gave up'
          : 'budget alert delivery failed; will retry',
      );
    },
    onError: (message, err) => logger.error({ err }, message),
  });
}

/** A spooled row back from JSON: dates were ISO strings. */
function reviveUsageRow(value: unknown): UsageLogInsert {
  const row = value as UsageLogInsert & { createdAt?: string | Date };
  if (typeof row.requestId !== 'string') throw new Error('not a usage row');
  return { ...row, createdAt: row.createdAt ? new Date(row.createdAt) : new Date() };
}
