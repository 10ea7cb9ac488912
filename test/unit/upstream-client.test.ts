// The upstream client waits a bounded time for a connection when all are busy (then 503), so one key
// or one burst cannot queue requests without limit; a connection freed lets the next request through.
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.ts';
import { createUpstream } from '../../src/upstream/client.ts';
import { huggingFaceRouter } from '../../src/upstream/huggingface.ts';

describe('the upstream client’s connection bound', () => {
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'x-inference-provider': 'cerebras' });
    res.write('{"ok":');
    held.push(res);
  });
  let url = '';
  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(() => {
    for (const res of held) res.destroy();
    server.close();
  });

  it('answers 503 upstream_busy past the wait, and serves the next request once a connection frees', async () => {
    const upstream = createUpstream({
      descriptor: huggingFaceRouter({ baseUrl: url, token: 'hf_x' }),
      timeoutMs: 5000,
      maxReplyBytes: 1024,
      queueTimeoutMs: 150,
      connections: 1,
    });
    const send = () =>
      upstream.send({
        path: '/chat/completions',
        model: 'openai/gpt-oss-120b:fastest',
        body: new TextEncoder().encode('{}'),
        signal: new AbortController().signal,
        stream: false,
      });
    const first = await send();
    expect(first.servedBy).toBe('cerebras');
    const busy = await send().catch((err: unknown) => err);
    expect(busy).toBeInstanceOf(GatewayError);
    expect(busy).toMatchObject({ status: 503, code: 'upstream_busy' });
    // the held reply ends: its connection is free again
    const waiting = send();
    held.shift()?.end('true}');
    expect(new TextDecoder().decode(await upstream.readAll(first, new AbortController().signal))).toBe(
      '{"ok":true}',
    );
    const next = await waiting;
    expect(next.status).toBe(200);
    held.shift()?.end('1}');
    await upstream.readAll(next, new AbortController().signal);
    await upstream.close();
  });
});
