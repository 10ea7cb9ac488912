// The dashboard's login session: a cookie holding an expiry and its HMAC under a key derived from the
// admin key, so any replica can check it, nothing is stored, and changing ADMIN_API_KEY logs everyone out.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'tollgate_session';
export const SESSION_TTL_S = 12 * 60 * 60;

function mac(adminApiKey: string, expires: number): string {
  return createHmac('sha256', `tollgate-dashboard:${adminApiKey}`)
    .update(String(expires))
    .digest('base64url');
}

export function issueSession(adminApiKey: string, now = Date.now()): string {
  const expires = Math.floor(now / 1000) + SESSION_TTL_S;
  return `${expires}.${mac(adminApiKey, expires)}`;
}

export function isValidSession(adminApiKey: string, value: string | undefined, now = Date.now()): boolean {
  if (!value) return false;
  const [expiresText, signature = ''] = value.split('.');
  const expires = Number(expiresText);
  if (!Number.isSafeInteger(expires) || expires * 1000 < now) return false;
  const expected = Buffer.from(mac(adminApiKey, expires));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
