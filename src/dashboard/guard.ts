// What keeps the dashboard's pages and forms safe in a browser: response headers (CSP, no framing, no
// sniffing), the same-origin check every POST form passes, and where a request really came from
// (client address, https) when a TLS-terminating proxy stands in front (TRUST_PROXY).
import { createHash } from 'node:crypto';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import { COPY_SCRIPT, STYLE } from './style.ts';

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/**
 * Nothing loads from anywhere: the one stylesheet and the one script are inline and allowed by their
 * hash; style attributes (the bars' widths) cannot run code. Forms post only to this origin, and no
 * page may be framed (clickjacking).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src ${sha256(STYLE)}`,
  "style-src-attr 'unsafe-inline'",
  `script-src ${sha256(COPY_SCRIPT)}`,
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function securityHeaders(): MiddlewareHandler {
  return async function dashboardSecurityHeaders(c, next) {
    await next();
    c.header('content-security-policy', CONTENT_SECURITY_POLICY);
    c.header('x-frame-options', 'DENY');
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'same-origin');
  };
}

/**
 * A form POST from another site is refused (CSRF): browsers say where a request comes from in
 * Sec-Fetch-Site, and in Origin on every POST. A client that sends neither is not a browser, and a
 * forged cross-site request cannot strip both. The SameSite=Strict cookie is the second line.
 */
export function isSameOrigin(c: Context, { trustProxy }: { trustProxy: boolean }): boolean {
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined) return site === 'same-origin';
  const origin = c.req.header('origin');
  if (origin === undefined) return true;
  if (!URL.canParse(origin)) return false;
  const host = (trustProxy ? c.req.header('x-forwarded-host') : undefined) ?? c.req.header('host');
  return new URL(origin).host === host;
}

/** The request came over https: directly, or through a trusted proxy that says so. */
export function isHttps(c: Context, { trustProxy }: { trustProxy: boolean }): boolean {
  if (new URL(c.req.url).protocol === 'https:') return true;
  if (!trustProxy) return false;
  // a chain of proxies lists one protocol each; the first is the client's
  const forwarded = c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
  return forwarded === 'https';
}

/**
 * The address to throttle by. Behind a trusted proxy: the last x-forwarded-for entry, the one the
 * proxy itself appended (entries before it are whatever the client sent). Otherwise the socket's peer;
 * `unknown` when there is no socket (app.request in tests).
 */
export function clientAddress(c: Context, { trustProxy }: { trustProxy: boolean }): string {
  if (trustProxy) {
    const last = c.req.header('x-forwarded-for')?.split(',').at(-1)?.trim();
    if (last) return last.slice(0, 64);
  }
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
