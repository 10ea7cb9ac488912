// The benchmark's upstream: a bare node:http server answering like the HF router with gpt-oss on Groq
// (the recorded JSON, and the recorded SSE with usage), from precomputed buffers, optionally delayed.
// Run as its own process: `node dist/bench/mock-upstream.js <port>`; MOCK_DELAY_MS adds a fixed delay.
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';

function fixturesDir(): string {
  for (let dir = import.meta.dirname; dirname(dir) !== dir; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, '..', 'shared', 'fixtures');
  }
  throw new Error('no package.json above the benchmark');
}

const fixtures = fixturesDir();
const json = readFileSync(join(fixtures, 'nonstream', 'hf-groq-gpt-oss-120b.response.json'));
const events = readFileSync(join(fixtures, 'stream', 'hf-groq-gpt-oss-120b.include-usage.sse'), 'utf8')
  .split(/(?<=\n\n)/)
  .map((event) => Buffer.from(event));
// a real upstream sends the usage-only chunk only to a client that asked for it
const withUsage = Buffer.concat(events);
const withoutUsage = Buffer.concat(
  events.filter((e) => !(e.includes('"choices":[]') && e.includes('"usage"'))),
);
const delayMs = Number(process.env.MOCK_DELAY_MS ?? 0);

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const stream = body.includes('"stream":true');
    const answer = () => {
      if (!stream) {
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': json.length,
          'x-request-id': 'req_bench',
        });
        res.end(json);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      res.end(body.includes('"include_usage":true') ? withUsage : withoutUsage);
    };
    if (delayMs > 0) setTimeout(answer, delayMs);
    else answer();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
