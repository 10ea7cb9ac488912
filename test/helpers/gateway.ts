// A whole gateway for a test: config from a few env values, a database of its own, a mock upstream.
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import type { EndpointAdapter } from '../../src/endpoints/adapter.ts';
import { createGateway, type Gateway } from '../../src/gateway.ts';
import { createLogger, type Logger } from '../../src/logger.ts';
import { type Backend, createTestDatabase } from './databases.ts';
import { type AnyHandler, type MockUpstream, startMockUpstream } from './mock-upstream.ts';

export const ADMIN_KEY = 'tg-admin-test-key-0123456789';
export const HF_TOKEN = 'hf_test_SECRET_upstream_token';

export type TestGateway = Gateway & {
  backend: Backend;
  dataDir: string;
  /** app.request with the admin key unless headers say otherwise */
  call(path: string, init?: RequestInit & { json?: unknown; key?: string | null }): Promise<Response>;
  /** the usage_logs row with this request id, as the database has it (snake_case columns) */
  usageRow(requestId: string | null): Promise<Record<string, unknown> | undefined>;
  /** serves on a real port; resolves to its base URL */
  listen(): Promise<string>;
  close(): Promise<void>;
};

export async function startTestGateway({
  backend,
  upstreamUrl,
  env = {},
  logger = createLogger({ level: 'silent' }),
  endpoints,
}: {
  backend: Backend;
  upstreamUrl: string;
  env?: Record<string, string>;
  /** where log lines go (silent by default) */
  logger?: Logger;
  /** the metered endpoints, when a test registers its own */
  endpoints?: readonly EndpointAdapter[];
}): Promise<TestGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-test-'));
  const db = await createTestDatabase(backend, { migrated: true });
  const config = loadConfig({
    ADMIN_API_KEY: ADMIN_KEY,
    HF_TOKEN,
    UPSTREAM_BASE_URL: upstreamUrl,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    ...env,
  });
  const gateway = await createGateway(config, {
    database: db.database,
    logger,
    ...(endpoints ? { endpoints } : {}),
  });
  let server: ReturnType<typeof serve> | undefined;

  return {
    ...gateway,
    backend,
    dataDir,
    call(path, init = {}) {
      const { json, key = ADMIN_KEY, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (key !== null && !headers.has('authorization')) headers.set('authorization', `Bearer ${key}`);
      if (json !== undefined) headers.set('content-type', 'application/json');
      return Promise.resolve(
        gateway.app.request(path, {
          ...rest,
          headers,
          ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
        }),
      );
    },
    async usageRow(requestId) {
      const rows = await gateway.deps.database.rows<Record<string, unknown>>(
        sql`select * from usage_logs where request_id = ${requestId}`,
      );
      return rows[0];
    },
    async listen() {
      const started = new Promise<AddressInfo>((resolve) => {
        server = serve({ fetch: gateway.app.fetch, port: 0, hostname: '127.0.0.1' }, resolve);
      });
      const { port } = await started;
      return `http://127.0.0.1:${port}`;
    },
    async close() {
      if (server) {
        const s = server;
        await new Promise<void>((resolve) => {
          if ('closeAllConnections' in s) s.closeAllConnections();
          s.close(() => resolve());
        });
      }
      await gateway.close();
      await db.drop();
    },
  };
}

export type GatewaySuite = { gw: TestGateway; upstream: MockUpstream };

/**
 * A gateway and its mock upstream for a describe block: started before its tests (the upstream with
 * `handlers` as its defaults), closed after them; after each test the upstream must have seen no
 * request it had no handler for, and its handlers go back to the defaults. `started` hands both to
 * the block's own variables.
 */
export function gatewaySuite(
  options: {
    backend: Backend;
    env?: Record<string, string>;
    handlers?: AnyHandler[];
    endpoints?: readonly EndpointAdapter[];
  },
  started: (suite: GatewaySuite) => void,
): void {
  let suite: GatewaySuite | undefined;
  beforeAll(async () => {
    const upstream = await startMockUpstream(...(options.handlers ?? []));
    const gw = await startTestGateway({
      backend: options.backend,
      upstreamUrl: upstream.url,
      env: options.env ?? {},
      ...(options.endpoints ? { endpoints: options.endpoints } : {}),
    });
    suite = { gw, upstream };
    started(suite);
  });
  afterAll(async () => {
    await suite?.gw.close();
    await suite?.upstream.close();
  });
  afterEach(() => {
    expect(suite?.upstream.unhandled).toEqual([]);
    suite?.upstream.reset();
  });
}
