// Structured JSON logs (pino). Secrets are redacted by path, whatever logs them.
import { pino } from 'pino';

export type Logger = pino.Logger;

export const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'hfToken',
  '*.hfToken',
  'adminApiKey',
  '*.adminApiKey',
  'key',
  '*.key',
  'token',
  '*.token',
];

export function createLogger({
  level = 'info',
  destination,
}: {
  level?: string;
  /** where lines go; stdout by default */
  destination?: pino.DestinationStream;
} = {}): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: undefined,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
