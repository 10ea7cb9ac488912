// What the configuration modules share: the environment's type and the zod fields (prices, URLs, counts).
import { z } from 'zod';

export type Env = Record<string, string | undefined>;

const DECIMAL = /^\d+(\.\d{1,18})?$/;

/** USD per token as a decimal string: non-negative, at most 18 decimal places. */
export const price = z
  .string()
  .trim()
  .regex(DECIMAL, 'must be a non-negative decimal number with at most 18 decimal places');

/** A webhook URL is used exactly as given: its path (and a trailing slash) may be part of a token. */
export const webhookUrl = z
  .string()
  .trim()
  .refine(
    (value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol),
    'must be an http(s) URL',
  );

/** A base URL: an http(s) URL without its trailing slashes (paths are appended to it). */
export const url = webhookUrl.transform((value) => value.replace(/\/+$/, ''));

export const positiveInt = z.coerce.number().int('must be a whole number').positive('must be positive');
