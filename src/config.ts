// The only reader of process.env: parses and validates every setting once, naming each bad one.
import { readFileSync } from 'node:fs';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';

const DECIMAL = /^\d+(\.\d{1,18})?$/;

/** USD per token as a decimal string: non-negative, at most 18 decimal places. */
const price = z
  .string()
  .trim()
  .regex(DECIMAL, 'must be a non-negative decimal number with at most 18 decimal places');

const url = z
  .string()
  .trim()
  .refine(
    (value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol),
    'must be an http(s) URL',
  )
  .transform((value) => value.replace(/\/+$/, ''));

const positiveInt = z.coerce.number().int('must be a whole number').positive('must be positive');

/** A webhook URL is used exactly as given: its path (and a trailing slash) may be part of a token. */
const webhookUrl = z
  .string()
  .trim()
  .refine(
    (value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol),
    'must be an http(s) URL',
  );

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8787),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  DATABASE_URL: z
    .string()
    .trim()
    .regex(/^postgres(ql)?:\/\/.+/, 'must be a postgres:// URL')
    .optional(),
  DATA_DIR: z.string().trim().min(1).default('./data'),
  HF_TOKEN: z.string().trim().optional(),
  UPSTREAM_BASE_URL: url.default('https://router.huggingface.co/v1'),
  DEFAULT_MODEL: z.string().trim().min(1).default('openai/gpt-oss-120b:groq'),
  HUGGINGFACE_INPUT_TOKEN_COST: price.default('0.000001'),
  HUGGINGFACE_OUTPUT_TOKEN_COST: price.default('0.000003'),
  HUGGINGFACE_CACHED_INPUT_TOKEN_COST: price.optional(),
  PRICING_SYNC_INTERVAL_S: z.coerce
    .number()
    .int('must be a whole number')
    .min(0, 'must be 0 (off) or positive')
    .default(0),
  ADMIN_API_KEY: z.string().trim().min(16, 'must be at least 16 characters').optional(),
  UPSTREAM_TIMEOUT_MS: positiveInt.default(120_000),
  MAX_BODY_BYTES: positiveInt.default(4_194_304),
  SHUTDOWN_GRACE_MS: positiveInt.default(30_000),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  LIMITS_FAIL_MODE: z.enum(['open', 'closed']).default('open'),
  METRICS_REQUIRE_ADMIN: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
  BUDGET_DEFAULT_MAX_TOKENS: positiveInt.default(4096),
  MAX_UPSTREAM_BODY_BYTES: positiveInt.default(33_554_432),
  UPSTREAM_QUEUE_TIMEOUT_MS: positiveInt.default(10_000),
  CORS_ORIGINS: z
    .string()
    .trim()
    .refine(
      (value) =>
        value === '*' || value.split(',').every((origin) => /^https?:\/\/[^/\s]+$/.test(origin.trim())),
      'must be * or a comma-separated list of origins like https://app.example.com',
    )
    .optional(),
  KEY_CACHE_TTL_MS: positiveInt.default(5000),
  DATABASE_TIMEOUT_MS: positiveInt.default(2000),
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt.default(15_000),
  TRUST_PROXY: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
  ALERT_WEBHOOK_URL: webhookUrl.optional(),
  ALERT_WEBHOOK_SECRET: z.string().trim().min(16, 'must be at least 16 characters').optional(),
  ALERT_MAX_ATTEMPTS: positiveInt.default(10),
  ALERT_BACKOFF_BASE_MS: positiveInt.default(2000),
  ALERT_BACKOFF_MAX_MS: positiveInt.default(300_000),
  ALERT_TIMEOUT_MS: positiveInt.default(10_000),
  ALERT_POLL_MS: positiveInt.default(1000),
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .optional()
    .describe(
      "Stripe's webhook signing secret (whsec_…): verifies POST /webhooks/stripe; unset: no such route",
    ),
});

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

type Env = Record<string, string | undefined>;

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
    Object.keys(schema.shape).map((key) => [key, env[key]?.trim() === '' ? undefined : env[key]]),
  );
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map(
        (issue) => `${String(issue.path[0])}: ${issue.message} (got ${show(issue.path[0], cleaned)})`,
      ),
    );
  }
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
    alerts: {
      webhookUrl: e.ALERT_WEBHOOK_URL,
      webhookSecret: e.ALERT_WEBHOOK_SECRET,
      maxAttempts: e.ALERT_MAX_ATTEMPTS,
      backoffBaseMs: e.ALERT_BACKOFF_BASE_MS,
      backoffMaxMs: e.ALERT_BACKOFF_MAX_MS,
      timeoutMs: e.ALERT_TIMEOUT_MS,
      pollMs: e.ALERT_POLL_MS,
    },
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
  'STRIPE_WEBHOOK_SECRET',
]);

/** The offending value for the error line; secrets are never echoed. */
function show(key: PropertyKey | undefined, env: Record<string, unknown>): string {
  const name = String(key);
  if (SECRET.has(name)) return '[redacted]';
  const value = env[name];
  return value === undefined ? 'nothing' : JSON.stringify(value);
}
