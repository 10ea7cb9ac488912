// Who a request is for: the end user (`x-tollgate-user`, else the body's `user` field) and free-form
// tags (`x-tollgate-tags: a,b`). Both reach indexes and reports, so both are bounded where they enter.
import type { Context } from 'hono';
import { MAX_END_USER_CHARS } from '../endpoints/fields.ts';
import { badRequest } from '../errors.ts';
import { requestHeader } from '../middleware/headers.ts';

export const MAX_TAGS = 10;
const TAG = /^[A-Za-z0-9._:-]{1,64}$/;

/** The end user: the header wins over the body's field. */
export function endUserOf(c: Context, fromBody: string | undefined): string | null {
  const header = requestHeader(c, 'x-tollgate-user');
  if (header === undefined) return fromBody || null;
  const user = header.trim();
  if (user.length > MAX_END_USER_CHARS) {
    throw badRequest(
      `Invalid header 'x-tollgate-user': must be at most ${MAX_END_USER_CHARS} characters.`,
      'x-tollgate-user',
      'invalid_header',
    );
  }
  return user || fromBody || null;
}

/** The request's tags, deduplicated in order; a bad list is a 400 naming the header. */
export function tagsOf(c: Context): string[] | null {
  const header = requestHeader(c, 'x-tollgate-tags');
  if (header === undefined || header.trim() === '') return null;
  const tags = [...new Set(header.split(',').map((tag) => tag.trim()))];
  if (tags.length > MAX_TAGS || !tags.every((tag) => TAG.test(tag))) {
    throw badRequest(
      `Invalid header 'x-tollgate-tags': at most ${MAX_TAGS} comma-separated tags, each 1 to 64 characters of A-Z a-z 0-9 . _ : -.`,
      'x-tollgate-tags',
      'invalid_header',
    );
  }
  return tags;
}
