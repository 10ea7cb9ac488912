// The benchmark's reference proxy: Hono on @hono/node-server forwarding POST /v1/chat/completions
// through a kept-alive undici Pool, bytes in and bytes out, streaming passed through, and nothing
// else: no auth, no validation, no metering. What this machine's Node costs for a bare proxy on the
// gateway's own stack, measured in the same run as the gateway, so the gap is ours to explain.
// Its own process: `node dist/bench/bare-proxy.js <upstream origin> [port]` prints the port.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { Pool } from 'undici';

const [upstream = '', port = '0'] = process.argv.slice(2);
const pool = new Pool(upstream, { connections: 256, keepAliveTimeout: 30_000 });
const app = new Hono();

app.post('/v1/chat/completions', async (c) => {
  const body = new Uint8Array(await c.req.arrayBuffer());
  const reply = await pool.request({
    method: 'POST',
    path: '/v1/chat/completions',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const type = String(reply.headers['content-type'] ?? 'application/json');
  if (type.startsWith('text/event-stream')) {
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        for await (const chunk of reply.body) controller.enqueue(chunk);
        controller.close();
      },
    });
    return new Response(stream, { status: reply.statusCode, headers: { 'content-type': type } });
  }
  const bytes = new Uint8Array(await reply.body.arrayBuffer());
  return new Response(bytes, { status: reply.statusCode, headers: { 'content-type': type } });
});

serve({ fetch: app.fetch, port: Number(port), hostname: '127.0.0.1' }, (info: AddressInfo) => {
  process.stdout.write(`${info.port}\n`);
});
