// Bearer authentication: client routes take a gateway key or the admin key; admin routes only the admin key.
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { forbidden, unauthorized } from '../errors.ts';
import type { KeyService, Principal } from '../services/admission/keys.ts';
import type { AppEnv } from './context.ts';

export const SESSION_COOKIE = 'tollgate_session';

function bearer(c: Context): string | undefined {
  const header = c.req.header('authorization');
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}

async function principalOf(c: Context, keys: KeyService): Promise<Principal> {
  const presented = bearer(c);
  if (!presented) throw unauthorized('Missing API key. Send it as `Authorization: Bearer <key>`.');
  const principal = await keys.authenticate(presented);
  if (!principal) throw unauthorized();
  return principal;
}

export function clientAuth(keys: KeyService): MiddlewareHandler<AppEnv> {
  return async function clientAuthMiddleware(c, next) {
    c.set('principal', await principalOf(c, keys));
    await next();
  };
}

export function adminAuth(keys: KeyService): MiddlewareHandler<AppEnv> {
  return async function adminAuthMiddleware(c, next) {
    const principal = await principalOf(c, keys);
    if (principal.kind !== 'admin') throw forbidden();
    c.set('principal', principal);
    await next();
  };
}

/** The dashboard's session cookie, when it holds the admin key. */
export async function cookieIsAdmin(c: Context, keys: KeyService): Promise<boolean> {
  const value = getCookie(c, SESSION_COOKIE);
  return value !== undefined && (await keys.authenticate(value))?.kind === 'admin';
}
