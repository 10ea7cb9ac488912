// The only reader of process.env: parses and validates every setting once, naming each bad one.
import { readFileSync } from 'node:fs';
import { parse as parseDotenv } from 'dotenv';
import type { CatalogBounds } from './billing/catalog.ts';
import type { Env } from './config-fields.ts';
import { configSchema } from './config-schema.ts';
import { type TelemetryConfig, telemetryOf } from './config-telemetry.ts';
import { type UpstreamConfig, upstreamsOf } from './config-upstreams.ts';

export type Config = {
  port: number;
  host: string;
  /** unset → PGlite in dataDir */
  databaseUrl: string | undefined;
  dataDir: string;
  hfToken: string | undefined;
  upstreamBaseUrl: string;
  defaultModel: string;
  /** USD per token, decimal strings */
  inputTokenCost: string;
  outputTokenCost: string;
  /** USD per cached input token; unset: the input price */
  cachedInputTokenCost: string | undefined;
  /** seconds between reads of the router's price catalog; 0: never (only `npm run pricing:sync`) */
  pricingSyncIntervalS: number;
  adminApiKey: string | undefined;
  upstreamTimeoutMs: number;
  maxBodyBytes: number;
  shutdownGraceMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** budgets and rate limits while the database cannot answer: admit (open) or refuse (closed) */
  limitsFailMode: 'open' | 'closed';
  /** completion tokens per choice a request without max_tokens is assumed to use, for budgets and TPM;
   * also the least a budget reservation holds per choice while other requests of the key are in flight */
  budgetDefaultMaxTokens: number;
  /** /metrics behind the admin key (default: open, like /healthz) */
  metricsRequireAdmin: boolean;
  /** largest upstream reply (a non-streamed body, or one stream event) held in memory */
  maxUpstreamBodyBytes: number;
  /** longest wait for a free upstream connection when all are busy, then 503 */
  upstreamQueueTimeoutMs: number;
  /** origins allowed to call the client routes from a browser: '*', a list, or undefined (no CORS) */
  corsOrigins: '*' | string[] | undefined;
  /** a cached client key is re-read after this long (bounds a revocation whose NOTIFY was lost) */
  keyCacheTtlMs: number;
  /** the deadline of each query on the request path (key lookups, limits), enforced by the gateway */
  databaseTimeoutMs: number;
  /** PostgreSQL statement_timeout of the gateway's pool; admin reads answer 503 past it */
  databaseStatementTimeoutMs: number;
  /**
   * a TLS-terminating proxy stands in front: believe its x-forwarded-proto (the dashboard cookie gets
   * Secure) and x-forwarded-for (sign-in attempts are counted per client, not per proxy)
   */
  trustProxy: boolean;
  /** upstreams besides the HuggingFace router, in routing order (UPSTREAMS / UPSTREAMS_FILE) */
  upstreams: UpstreamConfig[];
  /** whole UTC months of usage rows kept before the current one; older ones are archived and dropped. unset: keep all */
  usageRetentionMonths: number | undefined;
  /** budget alerts: where they are POSTed (unset: raised and listed, never sent) and how */
  alerts: {
    webhookUrl: string | undefined;
    /** signs each body (HMAC-SHA256); never logged */
    webhookSecret: string | undefined;
    /** tries per alert before it is marked failed */
    maxAttempts: number;
    /** wait after the first failed try, doubled after each further one, capped at backoffMaxMs */
    backoffBaseMs: number;
    backoffMaxMs: number;
    /** one try: connecting, the receiver's headers and its body */
    timeoutMs: number;
    /** how often due alerts are looked for (a NOTIFY from the alert trigger wakes the deliverer sooner) */
    pollMs: number;
  };
  /** OTLP export of spans and metrics; undefined: off (no OpenTelemetry module is loaded) */
  telemetry: TelemetryConfig | undefined;
  /** rows per /admin/reprice batch */
  repriceBatchRows: number;
  /** what a price catalog may hold (see docs/pricing-safety.md) */
  catalogBounds: CatalogBounds;
  /** largest share of stored catalog prices one sync may retire unless an admin allows it */
  catalogMaxRetireShare: number;
  /** wrong admin keys per client address per minute, shared with the dashboard's sign-in */
  adminAuthFailuresPerMinute: number;
  /** verifies Stripe's signature on POST /webhooks/stripe (top-ups); unset: the route is not mounted */
  stripeWebhookSecret: string | undefined;
};

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Reads `.env` (if present) under the real environment: a variable already set wins, as with dotenv. */
export function readEnvironment({ dotenvPath = '.env' }: { dotenvPath?: string } = {}): Env {
  let fromFile: Env = {};
  try {
    fromFile = parseDotenv(readFileSync(dotenvPath));
  } catch {
    // no .env: the environment alone
  }
  return { ...fromFile, ...process.env };
}

/** Validates the environment; throws ConfigError with one line per bad variable. */
export function loadConfig(env: Env = readEnvironment()): Config {
  // '' (or only spaces) means unset, as in a .env line `HF_TOKEN=`; z.coerce would read ' ' as 0
  const cleaned = Object.fromEntries(
    Object.keys(configSchema.shape).map((key) => [key, env[key]?.trim() === '' ? undefined : env[key]]),
  );
  const parsed = configSchema.safeParse(cleaned);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map(
        (issue) => `${String(issue.path[0])}: ${issue.message} (got ${show(issue.path[0], cleaned)})`,
      );
  const upstreams = upstreamsOf(
    env,
    cleaned.UPSTREAMS,
    cleaned.UPSTREAMS_FILE === undefined ? undefined : String(cleaned.UPSTREAMS_FILE).trim(),
    problems,
  );
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    hfToken: e.HF_TOKEN,
    upstreamBaseUrl: e.UPSTREAM_BASE_URL,
    defaultModel: e.DEFAULT_MODEL,
    inputTokenCost: e.HUGGINGFACE_INPUT_TOKEN_COST,
    outputTokenCost: e.HUGGINGFACE_OUTPUT_TOKEN_COST,
    cachedInputTokenCost: e.HUGGINGFACE_CACHED_INPUT_TOKEN_COST,
    pricingSyncIntervalS: e.PRICING_SYNC_INTERVAL_S,
    adminApiKey: e.ADMIN_API_KEY,
    upstreamTimeoutMs: e.UPSTREAM_TIMEOUT_MS,
    maxBodyBytes: e.MAX_BODY_BYTES,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    logLevel: e.LOG_LEVEL,
    limitsFailMode: e.LIMITS_FAIL_MODE,
    budgetDefaultMaxTokens: e.BUDGET_DEFAULT_MAX_TOKENS,
    metricsRequireAdmin: e.METRICS_REQUIRE_ADMIN === 'true',
    maxUpstreamBodyBytes: e.MAX_UPSTREAM_BODY_BYTES,
    upstreamQueueTimeoutMs: e.UPSTREAM_QUEUE_TIMEOUT_MS,
    corsOrigins:
      e.CORS_ORIGINS === undefined || e.CORS_ORIGINS === '*'
        ? e.CORS_ORIGINS
        : e.CORS_ORIGINS.split(',').map((origin) => origin.trim()),
    keyCacheTtlMs: e.KEY_CACHE_TTL_MS,
    databaseTimeoutMs: e.DATABASE_TIMEOUT_MS,
    databaseStatementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
    trustProxy: e.TRUST_PROXY === 'true',
    upstreams,
    usageRetentionMonths: e.USAGE_RETENTION_MONTHS,
    alerts: {
      webhookUrl: e.ALERT_WEBHOOK_URL,
      webhookSecret: e.ALERT_WEBHOOK_SECRET,
      maxAttempts: e.ALERT_MAX_ATTEMPTS,
      backoffBaseMs: e.ALERT_BACKOFF_BASE_MS,
      backoffMaxMs: e.ALERT_BACKOFF_MAX_MS,
      timeoutMs: e.ALERT_TIMEOUT_MS,
      pollMs: e.ALERT_POLL_MS,
    },
    telemetry: telemetryOf(e),
    repriceBatchRows: e.REPRICE_BATCH_ROWS,
    catalogBounds: {
      maxModels: e.CATALOG_MAX_MODELS,
      maxProvidersPerModel: e.CATALOG_MAX_PROVIDERS_PER_MODEL,
      maxBytes: e.CATALOG_MAX_BYTES,
      maxPricePerMillion: e.CATALOG_MAX_PRICE_PER_MILLION,
    },
    catalogMaxRetireShare: e.CATALOG_MAX_RETIRE_SHARE,
    adminAuthFailuresPerMinute: e.ADMIN_AUTH_FAILURES_PER_MINUTE,
    stripeWebhookSecret: e.STRIPE_WEBHOOK_SECRET,
  };
}

// a Slack or Teams webhook URL is itself a credential
const SECRET = new Set([
  'HF_TOKEN',
  'ADMIN_API_KEY',
  'DATABASE_URL',
  'ALERT_WEBHOOK_URL',
  'ALERT_WEBHOOK_SECRET',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'STRIPE_WEBHOOK_SECRET',
]);

/** The offending value for the error line; secrets are never echoed. */
function show(key: PropertyKey | undefined, env: Record<string, unknown>): string {
  const name = String(key);
  if (SECRET.has(name)) return '[redacted]';
  const value = env[name];
  return value === undefined ? 'nothing' : JSON.stringify(value);
}
