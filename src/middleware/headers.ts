// A request header read straight off Node's parsed request when the app runs on @hono/node-server:
// hono's c.req.header() builds a web Headers of every header first (node-server makes it on first
// use, ~5 µs and its garbage), which the metered path never needs otherwise. Same answer as
// Headers.get: every value of the name, case-insensitive, joined with ', '. In-process requests
// (app.request in tests) have no Node request and go through hono.
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';

/** `name` in lower case. */
export function requestHeader(c: Context, name: string): string | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming === undefined) return c.req.header(name);
  const raw = incoming.rawHeaders;
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const header = raw[i] as string;
    if (header.length !== name.length || header.toLowerCase() !== name) continue;
    const next = trimmed(raw[i + 1] as string);
    value = value === undefined ? next : `${value}, ${next}`;
  }
  return value;
}

/** Headers.get's normalization: leading and trailing HTTP whitespace removed. */
function trimmed(value: string): string {
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(value.length - 1);
  return isHttpSpace(first) || isHttpSpace(last) ? value.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '') : value;
}

const isHttpSpace = (code: number) => code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
