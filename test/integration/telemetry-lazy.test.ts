// With OTEL_EXPORTER_OTLP_ENDPOINT unset, no OpenTelemetry SDK module is ever loaded: a gateway built
// from the current sources runs in a child process whose module hooks record every @opentelemetry
// package resolved, through start, a metered call and close. (@opentelemetry/api is the exception:
// prom-client requires it at load, telemetry or not; the bundle carries it inside dist/gateway.mjs.)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtServer } from '../helpers/gateway-child.ts';
import { type OtlpReceiver, startOtlpReceiver } from '../helpers/otlp-receiver.ts';

const CHILD = `
import { registerHooks } from 'node:module';
const seen = new Set();
registerHooks({
  resolve(specifier, context, next) {
    const resolved = next(specifier, context);
    const at = resolved.url.lastIndexOf('/node_modules/@opentelemetry/');
    if (at >= 0) seen.add(resolved.url.slice(at + 29).split('/')[0]);
    return resolved;
  },
});
const [root, dataDir, extra] = process.argv.slice(2);
const { loadConfig } = await import(root + '/src/config.js');
const { createGateway } = await import(root + '/src/gateway.js');
const key = 'tg-admin-test-key-0123456789';
const config = loadConfig({
  ADMIN_API_KEY: key,
  UPSTREAM_BASE_URL: 'http://127.0.0.1:9/v1',
  LOG_LEVEL: 'silent',
  DATA_DIR: dataDir,
  ...JSON.parse(extra),
});
const gateway = await createGateway(config, { inMemory: true });
const res = await gateway.app.request('/v1/chat/completions', {
  method: 'POST',
  headers: { authorization: 'Bearer ' + key, 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'openai/gpt-oss-120b:groq', messages: [{ role: 'user', content: 'hi' }] }),
});
await res.arrayBuffer();
await gateway.close();
process.stdout.write(JSON.stringify({ status: res.status, loaded: [...seen].sort() }));
`;

describe('OpenTelemetry is loaded only when configured', () => {
  let receiver: OtlpReceiver;
  let script: string;
  let root: string;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    root = dirname(dirname(builtServer()));
    script = join(mkdtempSync(join(tmpdir(), 'tollgate-otel-')), 'child.mjs');
    writeFileSync(script, CHILD);
  }, 180_000);
  afterAll(() => receiver?.close());

  async function run(env: Record<string, string>): Promise<{ status: number; loaded: string[] }> {
    const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-otel-data-'));
    const child = spawn(process.execPath, [script, root, dataDir, JSON.stringify(env)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`child exited ${code}: ${err}`);
    return JSON.parse(out) as { status: number; loaded: string[] };
  }

  it('unset: a metered call runs and no @opentelemetry SDK package is resolved', async () => {
    const { status, loaded } = await run({});
    expect(status).toBe(502); // the upstream is a closed port: answered and metered
    expect(loaded.filter((name) => name !== 'api')).toEqual([]);
  }, 180_000);

  it('set: the SDK and the exporter of the chosen protocol are loaded (the check above can see them)', async () => {
    const { status, loaded } = await run({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    expect(status).toBe(502);
    expect(loaded).toEqual(expect.arrayContaining(['sdk-trace', 'sdk-metrics', 'exporter-trace-otlp-proto']));
    expect(loaded).not.toContain('exporter-trace-otlp-http');
    // the default protocol is protobuf: the receiver got the span encoded so
    expect(
      receiver.posts.some((p) => p.path === '/v1/traces' && p.contentType === 'application/x-protobuf'),
    ).toBe(true);
  }, 180_000);
});
