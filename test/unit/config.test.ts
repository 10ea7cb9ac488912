import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

/** The ConfigError loadConfig throws for env; fails the test when it does not throw one. */
function problemsOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('defaults to DESIGN §2 with nothing set', () => {
    expect(loadConfig({})).toMatchObject({
      port: 8787,
      host: '127.0.0.1',
      databaseUrl: undefined,
      dataDir: './data',
      hfToken: undefined,
      upstreamBaseUrl: 'https://router.huggingface.co/v1',
      defaultModel: 'openai/gpt-oss-120b:groq',
      inputTokenCost: '0.000001',
      outputTokenCost: '0.000003',
      adminApiKey: undefined,
      upstreamTimeoutMs: 120_000,
      maxBodyBytes: 4_194_304,
      trustProxy: false,
    });
  });

  it('reads TRUST_PROXY as a boolean and refuses anything but true or false', () => {
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(problemsOf({ TRUST_PROXY: 'yes' }).problems).toEqual([
      'TRUST_PROXY: must be true or false (got "yes")',
    ]);
  });

  it('reads the cached input price and the catalog sync interval, off and unset by default (issue 15)', () => {
    expect(loadConfig({})).toMatchObject({ cachedInputTokenCost: undefined, pricingSyncIntervalS: 0 });
    expect(
      loadConfig({ HUGGINGFACE_CACHED_INPUT_TOKEN_COST: '0.0000005', PRICING_SYNC_INTERVAL_S: '3600' }),
    ).toMatchObject({ cachedInputTokenCost: '0.0000005', pricingSyncIntervalS: 3600 });
    const error = problemsOf({
      HUGGINGFACE_CACHED_INPUT_TOKEN_COST: '-1',
      PRICING_SYNC_INTERVAL_S: 'hourly',
    });
    expect(error.problems.map((line) => line.split(':')[0]).sort()).toEqual([
      'HUGGINGFACE_CACHED_INPUT_TOKEN_COST',
      'PRICING_SYNC_INTERVAL_S',
    ]);
  });

  it('treats an empty value as unset, as a `KEY=` line in .env means', () => {
    const blank = Object.fromEntries(
      [
        'PORT',
        'HOST',
        'DATABASE_URL',
        'DATA_DIR',
        'HF_TOKEN',
        'UPSTREAM_BASE_URL',
        'DEFAULT_MODEL',
        'HUGGINGFACE_INPUT_TOKEN_COST',
        'HUGGINGFACE_OUTPUT_TOKEN_COST',
        'ADMIN_API_KEY',
        'UPSTREAM_TIMEOUT_MS',
        'MAX_BODY_BYTES',
      ].map((key) => [key, '']),
    );
    expect(loadConfig(blank)).toEqual(loadConfig({}));
  });

  it('treats a value of only spaces as unset', () => {
    expect(loadConfig({ PORT: '  ', MAX_BODY_BYTES: ' ' })).toMatchObject({
      port: 8787,
      maxBodyBytes: 4_194_304,
    });
  });

  it('reads every variable it is given', () => {
    const config = loadConfig({
      PORT: '9000',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://tollgate@db:5432/tollgate',
      DATA_DIR: '/var/lib/tollgate',
      HF_TOKEN: 'hf_abc',
      UPSTREAM_BASE_URL: 'http://127.0.0.1:9999/v1/',
      DEFAULT_MODEL: 'meta-llama/Llama-3.3-70B-Instruct',
      HUGGINGFACE_INPUT_TOKEN_COST: '0.00000015',
      HUGGINGFACE_OUTPUT_TOKEN_COST: '0.0000006',
      ADMIN_API_KEY: 'tg-admin-0123456789abcdef',
      UPSTREAM_TIMEOUT_MS: '5000',
      MAX_BODY_BYTES: '1024',
    });
    expect(config).toMatchObject({
      port: 9000,
      host: '0.0.0.0',
      databaseUrl: 'postgres://tollgate@db:5432/tollgate',
      dataDir: '/var/lib/tollgate',
      hfToken: 'hf_abc',
      // no trailing slash, so `${base}/chat/completions` has one
      upstreamBaseUrl: 'http://127.0.0.1:9999/v1',
      defaultModel: 'meta-llama/Llama-3.3-70B-Instruct',
      inputTokenCost: '0.00000015',
      outputTokenCost: '0.0000006',
      adminApiKey: 'tg-admin-0123456789abcdef',
      upstreamTimeoutMs: 5000,
      maxBodyBytes: 1024,
    });
  });

  it.each([
    ['HUGGINGFACE_INPUT_TOKEN_COST', '-0.000001'],
    ['HUGGINGFACE_OUTPUT_TOKEN_COST', 'free'],
    ['HUGGINGFACE_INPUT_TOKEN_COST', '1e-6'],
    ['HUGGINGFACE_OUTPUT_TOKEN_COST', '0.0000000000000000001'],
    ['UPSTREAM_BASE_URL', 'router.huggingface.co/v1'],
    ['UPSTREAM_BASE_URL', 'ftp://router.huggingface.co/v1'],
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['UPSTREAM_TIMEOUT_MS', '-5'],
    ['MAX_BODY_BYTES', '1.5'],
  ])('stops on %s=%j with one line naming it', (key, value) => {
    const error = problemsOf({ [key]: value });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(new RegExp(`^${key}: `));
    expect(error.problems[0]).not.toContain('\n');
    expect(error.problems[0]).toContain(JSON.stringify(value));
  });

  it('reports every bad variable at once, one line each', () => {
    const error = problemsOf({
      PORT: 'abc',
      UPSTREAM_BASE_URL: 'not a url',
      HUGGINGFACE_INPUT_TOKEN_COST: '-1',
      HUGGINGFACE_OUTPUT_TOKEN_COST: 'cheap',
      MAX_BODY_BYTES: '0',
      DEFAULT_MODEL: 'openai/gpt-oss-120b:groq',
    });
    expect(error.problems.map((line) => line.split(':')[0]).sort()).toEqual([
      'HUGGINGFACE_INPUT_TOKEN_COST',
      'HUGGINGFACE_OUTPUT_TOKEN_COST',
      'MAX_BODY_BYTES',
      'PORT',
      'UPSTREAM_BASE_URL',
    ]);
    expect(error.message.split('\n')).toEqual(error.problems);
  });

  it('rejects a DATABASE_URL that is not postgres:// without echoing it', () => {
    const error = problemsOf({ DATABASE_URL: 'mysql://root:hunter2-db-secret@db/tollgate' });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^DATABASE_URL: .*postgres:\/\//);
    expect(error.message).not.toContain('hunter2-db-secret');
  });

  it('rejects a short ADMIN_API_KEY without echoing it', () => {
    const error = problemsOf({ ADMIN_API_KEY: 'sekrit-admin' });
    expect(error.problems[0]).toMatch(/^ADMIN_API_KEY: /);
    expect(error.message).not.toContain('sekrit-admin');
  });

  it('never echoes a secret while reporting other variables', () => {
    const error = problemsOf({
      HF_TOKEN: 'hf_SECRET_token_value',
      ADMIN_API_KEY: 'tg-admin-SECRET-0123456789',
      DATABASE_URL: 'postgres://u:SECRET_pw@db/tollgate',
      PORT: 'abc',
    });
    expect(error.problems).toEqual([expect.stringMatching(/^PORT: /)]);
    expect(error.message).not.toMatch(/SECRET/);
  });

  it('reads the alert webhook settings, with delivery defaults as in .env.example', () => {
    expect(loadConfig({}).alerts).toEqual({
      webhookUrl: undefined,
      webhookSecret: undefined,
      maxAttempts: 10,
      backoffBaseMs: 2000,
      backoffMaxMs: 300_000,
      timeoutMs: 10_000,
      pollMs: 1000,
    });
    const url = 'https://hooks.slack.com/services/T000/B000/XXXX/';
    expect(loadConfig({ ALERT_WEBHOOK_URL: url, ALERT_MAX_ATTEMPTS: '3' }).alerts).toMatchObject({
      // as given: a trailing slash may be part of the receiver's path
      webhookUrl: url,
      maxAttempts: 3,
    });
  });

  it('rejects a bad alert webhook URL or short secret without echoing either', () => {
    const error = problemsOf({
      ALERT_WEBHOOK_URL: 'ftp://hooks.example/hunter2-path',
      ALERT_WEBHOOK_SECRET: 'hunter2-short',
      ALERT_MAX_ATTEMPTS: '0',
    });
    expect(error.problems.map((line) => line.split(':')[0]).sort()).toEqual([
      'ALERT_MAX_ATTEMPTS',
      'ALERT_WEBHOOK_SECRET',
      'ALERT_WEBHOOK_URL',
    ]);
    expect(error.message).not.toMatch(/hunter2/);
  });
  it('leaves telemetry off unless OTEL_EXPORTER_OTLP_ENDPOINT is set, and reads the OTEL_* settings', () => {
    expect(loadConfig({}).telemetry).toBeUndefined();
    expect(
      loadConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc, x-team = tollgate',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
      }).telemetry,
    ).toEqual({
      endpoint: 'http://collector:4318',
      protocol: 'http/json',
      headers: { authorization: 'Bearer abc', 'x-team': 'tollgate' },
      serviceName: 'tollgate',
      metricExportIntervalMs: 60_000,
      sampler: 'parentbased_traceidratio',
      samplerArg: 0.25,
    });
  });

  it('rejects bad OTEL_* values, never echoing the export headers', () => {
    const error = problemsOf({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization hunter2',
      OTEL_TRACES_SAMPLER_ARG: '2',
    });
    expect(error.problems.map((line) => line.split(':')[0]).sort()).toEqual([
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'OTEL_EXPORTER_OTLP_HEADERS',
      'OTEL_EXPORTER_OTLP_PROTOCOL',
      'OTEL_TRACES_SAMPLER_ARG',
    ]);
    expect(error.message).not.toMatch(/hunter2/);
  });
});

describe('UPSTREAMS', () => {
  const local = {
    name: 'local',
    base_url: 'http://127.0.0.1:8000/v1/',
    token_env: 'LOCAL_TOKEN',
    provider: 'local',
    prefix: 'local/',
  };

  it('reads descriptors with their defaults and each token from the variable token_env names', () => {
    const config = loadConfig({
      UPSTREAMS: JSON.stringify([
        local,
        {
          ...local,
          name: 'ollama',
          prefix: 'ollama/',
          token_env: undefined,
          strip_prefix: false,
          endpoints: ['/chat/completions'],
          catalog: true,
        },
      ]),
      LOCAL_TOKEN: 'sk-local-1',
    });
    expect(config.upstreams).toEqual([
      {
        name: 'local',
        baseUrl: 'http://127.0.0.1:8000/v1',
        token: 'sk-local-1',
        provider: 'local',
        prefix: 'local/',
        stripPrefix: true,
        endpoints: undefined,
        catalog: false,
      },
      {
        name: 'ollama',
        baseUrl: 'http://127.0.0.1:8000/v1',
        token: undefined,
        provider: 'local',
        prefix: 'ollama/',
        stripPrefix: false,
        endpoints: ['/chat/completions'],
        catalog: true,
      },
    ]);
    expect(loadConfig({}).upstreams).toEqual([]);
  });

  it('reads the same JSON from UPSTREAMS_FILE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-config-'));
    const file = join(dir, 'upstreams.json');
    writeFileSync(file, JSON.stringify([local]));
    expect(loadConfig({ UPSTREAMS_FILE: file, LOCAL_TOKEN: 't' }).upstreams[0]?.name).toBe('local');
    expect(problemsOf({ UPSTREAMS_FILE: join(dir, 'missing.json') }).problems).toEqual([
      `UPSTREAMS_FILE: cannot be read (ENOENT: ${join(dir, 'missing.json')})`,
    ]);
  });

  it('stops the start with one line naming each bad descriptor field, never showing a token', () => {
    const bad = { ...local, name: 'bad', base_url: 'ftp://example.com', prefix: 'bad/' };
    const { problems } = problemsOf({
      UPSTREAMS: JSON.stringify([
        local,
        bad,
        { ...local, name: 'typo', prefix: 'typo/', stripprefix: false },
      ]),
      LOCAL_TOKEN: 'sk-local-SECRET',
    });
    expect(problems).toEqual([
      'UPSTREAMS[1].base_url: must be an http(s) URL',
      expect.stringMatching(/^UPSTREAMS\[2\]: Unrecognized key: "stripprefix"/),
    ]);
    expect(problemsOf({ UPSTREAMS: JSON.stringify([local]) }).problems).toEqual([
      'UPSTREAMS[0].token_env: LOCAL_TOKEN is not set',
    ]);
    expect(problemsOf({ UPSTREAMS: '[{"name":' }).problems).toEqual([
      expect.stringMatching(/^UPSTREAMS: is not valid JSON/),
    ]);
    expect(problemsOf({ UPSTREAMS: JSON.stringify({ local }) }).problems).toEqual([
      'UPSTREAMS: must be a JSON array of at most 64 upstream descriptors',
    ]);
    // a prefix the one before already claims would never be reached; names are unique
    expect(
      problemsOf({
        UPSTREAMS: JSON.stringify([local, { ...local, prefix: 'local/big/' }]),
        LOCAL_TOKEN: 't',
      }).problems,
    ).toEqual([
      'UPSTREAMS[1].name: "local" is already taken (the router is "huggingface")',
      'UPSTREAMS[1].prefix: "local/big/" is never reached: "local/" (local) comes first',
    ]);
    for (const line of problems) expect(line).not.toContain('SECRET');
  });
});
