// The environment's schema: every variable, its type, default and one-line meaning (docs/configuration.md
// is generated from it). Telemetry's and the upstreams' variables live beside their parsers.
import { z } from 'zod';
import { positiveInt, price, url, webhookUrl } from './config-fields.ts';
import { telemetryEnv } from './config-telemetry.ts';
import { upstreamsEnv } from './config-upstreams.ts';

export const configSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8787).describe('TCP port the gateway listens on'),
  HOST: z
    .string()
    .trim()
    .min(1)
    .default('127.0.0.1')
    .describe('address the gateway listens on (the Docker image sets 0.0.0.0)'),
  DATABASE_URL: z
    .string()
    .trim()
    .regex(/^postgres(ql)?:\/\/.+/, 'must be a postgres:// URL')
    .optional()
    .describe(
      'postgres://user:password@host:5432/db selects PostgreSQL; unset: embedded PGlite in DATA_DIR. Secret',
    ),
  DATA_DIR: z
    .string()
    .trim()
    .min(1)
    .default('./data')
    .describe(
      "folder of PGlite's files and of the usage spool (rows wait there while the database is down); one process per folder",
    ),
  HF_TOKEN: z
    .string()
    .trim()
    .optional()
    .describe(
      "the gateway's own upstream credential (https://huggingface.co/settings/tokens); redacted from every reply, never logged",
    ),
  UPSTREAM_BASE_URL: url
    .default('https://router.huggingface.co/v1')
    .describe(
      'OpenAI-compatible upstream the metered routes are forwarded to (tests point it at a local mock)',
    ),
  DEFAULT_MODEL: z
    .string()
    .trim()
    .min(1)
    .default('openai/gpt-oss-120b:groq')
    .describe('model listed by /v1/models and priced from the env prices at every start'),
  HUGGINGFACE_INPUT_TOKEN_COST: price
    .default('0.000001')
    .describe('USD per input token, a decimal (0.000001 = $1 per 1M tokens)'),
  HUGGINGFACE_OUTPUT_TOKEN_COST: price.default('0.000003').describe('USD per output token, a decimal'),
  HUGGINGFACE_CACHED_INPUT_TOKEN_COST: price
    .optional()
    .describe('USD per cached input token (a prompt-cache hit); unset: the input price'),
  PRICING_SYNC_INTERVAL_S: z.coerce
    .number()
    .int('must be a whole number')
    .min(0, 'must be 0 (off) or positive')
    .default(0)
    .describe(
      "seconds between reads of the router's price catalog (GET UPSTREAM_BASE_URL/models), one replica at a time; 0: off (npm run pricing:sync reads it once)",
    ),
  ADMIN_API_KEY: z
    .string()
    .trim()
    .min(16, 'must be at least 16 characters')
    .optional()
    .describe(
      'master key (16 characters or more): admin routes, the dashboard, and accepted as a client key; unset: generated and printed once at start',
    ),
  UPSTREAM_TIMEOUT_MS: positiveInt
    .default(120_000)
    .describe(
      'ms; non-streaming: the whole upstream request; streaming: the longest silence (the wait for the headers, each gap between two events)',
    ),
  MAX_BODY_BYTES: positiveInt
    .default(4_194_304)
    .describe('bytes; a larger request body, on any route, gets 413'),
  SHUTDOWN_GRACE_MS: positiveInt
    .default(30_000)
    .describe(
      'ms; on SIGTERM, how long in-flight requests (streams included) may take before open streams are cut and metered',
    ),
  LOG_LEVEL: z
    .enum(['debug', 'info', 'warn', 'error', 'silent'])
    .default('info')
    .describe('least level of the JSON log lines written'),
  LIMITS_FAIL_MODE: z
    .enum(['open', 'closed'])
    .default('open')
    .describe(
      'budgets and rate limits while the database cannot answer: open admits (may overshoot until it is back), closed refuses with 503',
    ),
  METRICS_REQUIRE_ADMIN: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .describe('true puts /metrics behind the admin key; false leaves it open like /healthz'),
  BUDGET_DEFAULT_MAX_TOKENS: positiveInt
    .default(4096)
    .describe(
      'tokens; completion tokens per choice assumed for a request without max_tokens (budgets, TPM), and the least reserved per choice while other requests of the key are in flight',
    ),
  MAX_UPSTREAM_BODY_BYTES: positiveInt
    .default(33_554_432)
    .describe(
      'bytes; the largest upstream reply held in memory: a non-streamed body (larger: 502, metered) or one stream event (larger: an error event, metered)',
    ),
  UPSTREAM_QUEUE_TIMEOUT_MS: positiveInt
    .default(10_000)
    .describe(
      'ms; when every upstream connection is busy, how long a request waits for one before a 503 upstream_busy',
    ),
  CORS_ORIGINS: z
    .string()
    .trim()
    .refine(
      (value) =>
        value === '*' || value.split(',').every((origin) => /^https?:\/\/[^/\s]+$/.test(origin.trim())),
      'must be * or a comma-separated list of origins like https://app.example.com',
    )
    .optional()
    .describe(
      '* or a comma-separated list of origins (https://app.example.com) allowed to call /v1 from a browser; unset: no CORS headers',
    ),
  KEY_CACHE_TTL_MS: positiveInt
    .default(5000)
    .describe(
      'ms; a cached client key is re-read after this long, bounding a revocation whose notification was lost',
    ),
  DATABASE_TIMEOUT_MS: positiveInt
    .default(2000)
    .describe(
      'ms; deadline of each database query on the request path (key lookups, limits); past it LIMITS_FAIL_MODE decides',
    ),
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt
    .default(15_000)
    .describe("ms; PostgreSQL statement_timeout of the gateway's queries; admin reads answer 503 past it"),
  TRUST_PROXY: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .describe(
      'true when a TLS-terminating proxy in front sets x-forwarded-proto and x-forwarded-for (Secure dashboard cookie, sign-in throttle per client); false when clients connect directly',
    ),
  ALERT_WEBHOOK_URL: webhookUrl
    .optional()
    .describe(
      'where budget and credit alerts are POSTed as JSON, used exactly as given (e.g. a Slack incoming webhook); unset: alerts are raised and listed, never sent. Secret',
    ),
  ALERT_WEBHOOK_SECRET: z
    .string()
    .trim()
    .min(16, 'must be at least 16 characters')
    .optional()
    .describe(
      'HMAC-SHA256 key (16 characters or more) signing each alert body in x-tollgate-signature; unset: unsigned. Never logged',
    ),
  ALERT_MAX_ATTEMPTS: positiveInt.default(10).describe('tries per alert before it is marked failed'),
  ALERT_BACKOFF_BASE_MS: positiveInt
    .default(2000)
    .describe(
      'ms; wait after the first failed try, doubled after each further one up to ALERT_BACKOFF_MAX_MS',
    ),
  ALERT_BACKOFF_MAX_MS: positiveInt
    .default(300_000)
    .describe('ms; the longest wait between two tries of an alert'),
  ALERT_TIMEOUT_MS: positiveInt
    .default(10_000)
    .describe("ms; one try of an alert: connecting, the receiver's headers and its body"),
  ALERT_POLL_MS: positiveInt
    .default(1000)
    .describe('ms; how often due alerts are looked for (a new alert wakes the deliverer at once)'),
  ...telemetryEnv,
  REPRICE_BATCH_ROWS: positiveInt
    .max(10_000, 'must be at most 10000')
    .default(1000)
    .describe('usage rows per /admin/reprice batch: one short transaction each (rows)'),
  CATALOG_MAX_MODELS: positiveInt
    .default(5000)
    .describe('models a price catalog may list; a longer one changes nothing (models)'),
  CATALOG_MAX_PROVIDERS_PER_MODEL: positiveInt
    .default(64)
    .describe('providers read per catalog model; a model listing more is left unchanged (providers)'),
  CATALOG_MAX_BYTES: positiveInt
    .default(8 * 1024 * 1024)
    .describe('largest price catalog read; a larger one changes nothing (bytes)'),
  CATALOG_MAX_PRICE_PER_MILLION: z
    .string()
    .trim()
    .regex(/^\d{1,12}(\.\d{1,12})?$/, 'must be a non-negative decimal number')
    .default('1000')
    .describe(
      'highest catalog price accepted, input or output; a higher one skips its entry (USD per million tokens)',
    ),
  CATALOG_MAX_RETIRE_SHARE: z.coerce
    .number()
    .min(0, 'must be between 0 and 1')
    .max(1, 'must be between 0 and 1')
    .default(0.5)
    .describe('largest share of the stored catalog prices one sync may retire without --allow-retire (0-1)'),
  ADMIN_AUTH_FAILURES_PER_MINUTE: positiveInt
    .default(5)
    .describe(
      'wrong admin keys a client address may send per minute before /admin and /usage answer 429 (attempts)',
    ),
  ...upstreamsEnv,
  USAGE_RETENTION_MONTHS: positiveInt
    .optional()
    .describe(
      'whole UTC months of usage rows kept before the current one, in months (unset: all); older months are archived to DATA_DIR/archive, then dropped',
    ),
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .optional()
    .describe(
      "Stripe's webhook signing secret (whsec_…): verifies POST /webhooks/stripe; unset: no such route",
    ),
});
