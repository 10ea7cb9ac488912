// Bearer authentication: client routes take a gateway key or the admin key; admin routes only the admin
// key, and past a client address's wrong keys per minute (the dashboard sign-in's counter) a 429.
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { databaseUnavailable, withDeadline } from '../db/deadline.ts';
import { forbidden, GatewayError, unauthorized } from '../errors.ts';
import type { SignInThrottle } from '../services/admin/sign-in-throttle.ts';
import type { KeyService, Principal } from '../services/admission/keys.ts';
import type { AppEnv } from './context.ts';
import { requestHeader } from './headers.ts';

export const SESSION_COOKIE = 'tollgate_session';

function bearer(c: Context): string | undefined {
  const header = requestHeader(c, 'authorization');
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

export type AdminGuard = {
  throttle: SignInThrottle;
  /** wrong keys a client may send per minute */
  limit: number;
  /** the address attempts are counted by */
  clientOf(c: Context): string;
  /** the throttle's reads and writes: a frozen database answers 503, never a hang */
  timeoutMs: number;
};

/** Counts a wrong admin key before its 401; refuses with 429 once a client has sent `limit` of them. */
async function guarded(c: Context, keys: KeyService, guard: AdminGuard): Promise<Principal> {
  const client = guard.clientOf(c);
  const within = <T>(work: Promise<T>) =>
    withDeadline(work, guard.timeoutMs, 'the admin sign-in throttle').catch((err: unknown) => {
      throw databaseUnavailable(err);
    });
  // checked before the key: a right guess past the limit must look like a wrong one
  const admission = await within(guard.throttle.check(client, guard.limit));
  if (!admission.allowed) throw tooManyAttempts(admission.retryAfterS);
  try {
    return await principalOf(c, keys);
  } catch (err) {
    // a missing key is no guess; a wrong one counts
    if (bearer(c) !== undefined) await within(guard.throttle.count(client, guard.limit));
    throw err;
  }
}

const tooManyAttempts = (retryAfterS: number) =>
  new GatewayError(429, `Too many wrong admin keys from this address. Try again in ${retryAfterS} s.`, {
    code: 'rate_limit_exceeded',
    headers: { 'retry-after': String(retryAfterS) },
  });

export function adminAuth(keys: KeyService, guard?: AdminGuard): MiddlewareHandler<AppEnv> {
  return async function adminAuthMiddleware(c, next) {
    const principal = guard ? await guarded(c, keys, guard) : await principalOf(c, keys);
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
