// A real webhook receiver for alert tests: a node:http server on a port of its own that records every
// POST and answers as the test says (a status, a redirect, or never), and can go down and come back
// up on the same port, as a receiver being redeployed would.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Received = { path: string; headers: IncomingHttpHeaders; body: string; json: WebhookBody };

export type WebhookBody = {
  type: string;
  id: string;
  key_id: string;
  key_name: string | null;
  period_start: string;
  threshold: number;
  spent_usd: string;
  budget_usd: string;
  text: string;
};

/** 200, 500…; `hang`: never answer; `{ redirect }`: 307 to that path */
export type Answer = number | 'hang' | { redirect: string };

export type Receiver = {
  /** the webhook URL to configure */
  url: string;
  received: Received[];
  /** POSTs about one key, in arrival order */
  about(keyId: string): Received[];
  /** how to answer a POST; by default 200 */
  answer: (request: Received, earlierForSameAlert: number) => Answer;
  /** true when the body's x-tollgate-signature is the HMAC-SHA256 of its exact bytes under `secret` */
  verify(request: Received, secret: string): boolean;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
};

export async function startReceiver(): Promise<Receiver> {
  let server: Server | undefined;
  let port = 0;
  const received: Received[] = [];
  const hanging = new Set<() => void>();

  const receiver: Receiver = {
    url: '',
    received,
    about: (keyId) => received.filter((r) => r.json.key_id === keyId),
    answer: () => 200,
    verify(request, secret) {
      const header = String(request.headers['x-tollgate-signature'] ?? '');
      const expected = `sha256=${createHmac('sha256', secret).update(request.body, 'utf8').digest('hex')}`;
      return header.length === expected.length && timingSafeEqual(Buffer.from(header), Buffer.from(expected));
    },
    async down() {
      if (!server) return;
      const s = server;
      server = undefined;
      for (const release of hanging) release();
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    async up() {
      if (server) return;
      const s = createServer(async (req, res) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const body = Buffer.concat(chunks).toString('utf8');
        let json: WebhookBody;
        try {
          json = JSON.parse(body) as WebhookBody;
        } catch {
          json = { key_id: '' } as WebhookBody;
        }
        const request = { path: req.url ?? '/', headers: req.headers, body, json };
        const earlier = received.filter((r) => r.json.id === json.id).length;
        received.push(request);
        const answer = receiver.answer(request, earlier);
        if (answer === 'hang') {
          // held until the client gives up (or the receiver goes down)
          const release = () => res.destroy();
          hanging.add(release);
          res.on('close', () => hanging.delete(release));
          return;
        }
        if (typeof answer === 'object') {
          res.writeHead(307, { location: answer.redirect }).end();
          return;
        }
        res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer < 300 ? 'ok' : 'no');
      });
      s.listen(port, '127.0.0.1');
      await once(s, 'listening');
      port = (s.address() as AddressInfo).port;
      server = s;
      receiver.url = `http://127.0.0.1:${port}/hooks/tollgate`;
    },
    close: () => receiver.down(),
  };
  await receiver.up();
  return receiver;
}
