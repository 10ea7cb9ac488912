// zod fields for exact money in admin bodies: decimal strings only (a JSON number could already have
// lost digits), at most 18 decimal places, each failure a 400 naming the field.
import { z } from 'zod';
import { isDecimal } from '../billing/money.ts';

const DECIMAL_TEXT = 'must be a decimal string, e.g. "25.00"';

/** a decimal string >= 0 */
export const nonNegativeUsd = z
  .string({ error: DECIMAL_TEXT })
  .trim()
  .refine((v) => /^\d+(\.\d+)?$/.test(v) && isDecimal(v), 'must be a non-negative decimal string');

/** a decimal string > 0 */
export const positiveUsd = nonNegativeUsd.refine((v) => /[1-9]/.test(v), 'must be greater than 0');

/** a signed decimal string, not zero */
export const signedUsd = z
  .string({ error: DECIMAL_TEXT })
  .trim()
  .refine((v) => /^-?\d+(\.\d+)?$/.test(v) && isDecimal(v), 'must be a decimal string')
  .refine((v) => /[1-9]/.test(v), 'must not be zero');

export const PERIODS = ['day', 'week', 'month'] as const;
export const period = z.enum(PERIODS, { error: `must be one of ${PERIODS.join(', ')}` });
export const name = z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').max(200);
