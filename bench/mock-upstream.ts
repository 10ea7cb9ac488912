// The benchmark's upstream: a bare node:http server answering POST …/chat/completions like the HF router
// with gpt-oss-120b on Groq (the recorded JSON; the recorded SSE written event by event, its usage-only
// chunk only when the request asked for `stream_options.include_usage`), from buffers built at start.
// Its own process: `node dist/bench/mock-upstream.js [port]` prints the port; MOCK_DELAY_MS delays each reply.
import { createServer, type OutgoingHttpHeaders } from 'node:http';
import { isUsageOnly, loadFixtures } from './fixtures.ts';

const fixtures = loadFixtures();
const delayMs = Number(process.env.MOCK_DELAY_MS ?? 0);
const withUsage = fixtures.events;
const withoutUsage = fixtures.events.filter((event) => !isUsageOnly(event));

// the recorded headers minus the framing ones, which node:http sets itself for what we send
const recorded = (headers: Record<string, string>): OutgoingHttpHeaders =>
  Object.fromEntries(
    Object.entries(headers).filter(
      ([name]) => !/^(content-length|transfer-encoding|connection)$/i.test(name),
    ),
  );
const jsonHeaders = { ...recorded(fixtures.jsonHeaders), 'content-length': fixtures.json.length };
const sseHeaders = recorded(fixtures.sseHeaders);
const STREAM = /"stream"\s*:\s*true/;
const INCLUDE_USAGE = /"include_usage"\s*:\s*true/;

const server = createServer({ keepAliveTimeout: 60_000 }, function answer(req, res) {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    const body = (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).toString('latin1');
    const reply = () => {
      if (!STREAM.test(body)) {
        res.writeHead(200, jsonHeaders).end(fixtures.json);
        return;
      }
      res.writeHead(200, sseHeaders);
      for (const event of INCLUDE_USAGE.test(body) ? withUsage : withoutUsage) res.write(event);
      res.end();
    };
    if (delayMs > 0) setTimeout(reply, delayMs);
    else reply();
  });
});

server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
