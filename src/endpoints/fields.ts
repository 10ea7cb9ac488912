// Body fields every metered endpoint validates the same way: bounded where they enter, because each
// reaches an index, a label or a reservation.
import { z } from 'zod';

/** Longest model id accepted (ids are ~40 characters; an index row holds at most ~2.7 KB). */
export const MAX_MODEL_CHARS = 256;
/** Longest end-user id accepted (OpenAI's `user` field, `x-tollgate-user`). */
export const MAX_END_USER_CHARS = 256;

export const modelField = z
  .string({ error: 'must be a string' })
  .refine((model) => model.trim().length > 0, 'must not be empty')
  .refine((model) => model.length <= MAX_MODEL_CHARS, `must be at most ${MAX_MODEL_CHARS} characters`)
  // PostgreSQL text cannot hold NUL: such a model could never be metered
  .refine((model) => !model.includes('\u0000'), 'must not contain NUL characters');

export const endUserField = z
  .string({ error: 'must be a string' })
  .max(MAX_END_USER_CHARS, `must be at most ${MAX_END_USER_CHARS} characters`)
  .refine((user) => !user.includes('\u0000'), 'must not contain NUL characters');

/**
 * A token bound (max_tokens and the like): a whole number an upstream parses (int32), or absent. A
 * string or 1.5 is a 400 here, at the edge, for every key (admission reads the same bounds for budgets:
 * src/services/admission/request-bounds.ts).
 */
export const tokenBound = z
  .number({ error: 'must be a whole number of tokens' })
  .int('must be a whole number of tokens')
  .min(0, 'must not be negative')
  .max(2 ** 31 - 1, 'must be at most 2147483647')
  .nullish();

/**
 * The end user a body names: OpenAI's `user`, else its successor `safety_identifier` (the header
 * x-tollgate-user, read by the route, comes first).
 */
export function endUserOfBody(body: {
  user?: string | null | undefined;
  safety_identifier?: string | null | undefined;
}): string | undefined {
  return body.user || body.safety_identifier || undefined;
}

// Hand-checked reads of the same fields, for an adapter's `accepts`: true only where the schema above
// would accept the value as it is (the schema still names the error of anything else).

const isAbsent = (value: unknown) => value === undefined || value === null;

/** `modelField` accepts it. */
export const isModel = (value: unknown): boolean =>
  typeof value === 'string' &&
  value.length <= MAX_MODEL_CHARS &&
  value.trim().length > 0 &&
  !value.includes('\u0000');

/** `endUserField.nullish()` accepts it. */
export const isEndUserOrAbsent = (value: unknown): boolean =>
  isAbsent(value) ||
  (typeof value === 'string' && value.length <= MAX_END_USER_CHARS && !value.includes('\u0000'));

/** `tokenBound` accepts it. */
export const isTokenBoundOrAbsent = (value: unknown): boolean =>
  isAbsent(value) ||
  (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= 2 ** 31 - 1);

/** `z.boolean().nullish()` accepts it. */
export const isBooleanOrAbsent = (value: unknown): boolean => isAbsent(value) || typeof value === 'boolean';
