// zod at the edge: bodies and query strings parsed once, every failure a 400 naming the parameter.
import type { z } from 'zod';
import { badRequest } from '../errors.ts';

export function parseWith<T extends z.ZodType>(
  schema: T,
  input: unknown,
  where: 'body' | 'query',
): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const param =
    issue?.code === 'unrecognized_keys'
      ? (issue.keys[0] ?? null)
      : issue && issue.path.length > 0
        ? issue.path.map(String).join('.')
        : null;
  const message = issue?.message ?? 'invalid';
  throw badRequest(
    param
      ? `Invalid ${where === 'query' ? 'query parameter' : 'field'} '${param}': ${message}`
      : `Invalid ${where}: ${message}`,
    param,
    param ? 'invalid_parameter' : 'invalid_request',
  );
}

/**
 * Deepest nesting of arrays and objects a body may have. OpenAI's own bodies nest ~6 levels and a
 * tool's JSON schema rarely 20; past this, JSON.stringify (re-serializing the body for the upstream,
 * pricing tools) and structuredClone overflow the stack: a 100,000-deep array answered 500.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * JSON body of a request as unknown; a body that is not JSON, or nests deeper than MAX_JSON_DEPTH,
 * is a 400. The depth is read off the bytes before parsing (one pass, no recursion).
 */
export function parseJsonBody(bytes: Uint8Array): unknown {
  if (nestsDeeperThan(bytes, MAX_JSON_DEPTH)) {
    throw badRequest(
      `The request body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels.`,
      null,
      'json_too_deep',
    );
  }
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw badRequest('The request body is not valid JSON.', null, 'invalid_json');
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const [OPEN_ARRAY, CLOSE_ARRAY, OPEN_OBJECT, CLOSE_OBJECT] = [0x5b, 0x5d, 0x7b, 0x7d];

/**
 * Whether `[`/`{` outside strings nest past `max` in the bytes (UTF-8 continuation bytes are never
 * ASCII, so a byte scan cannot mistake one for a bracket or a quote). Strings, most of a chat body,
 * are skipped with indexOf. Ill-formed JSON may answer either way: JSON.parse refuses it next.
 */
function nestsDeeperThan(bytes: Uint8Array, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] as number;
    if (byte === QUOTE) {
      i = closingQuote(bytes, i + 1);
      if (i === -1) return false;
    } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) depth--;
  }
  return false;
}

/** Index of the quote that ends the string whose content starts at `from`, or -1. */
function closingQuote(bytes: Uint8Array, from: number): number {
  for (let start = from; ; ) {
    const quote = bytes.indexOf(QUOTE, start);
    if (quote === -1) return -1;
    // escaped when an odd run of backslashes precedes it (the run cannot reach past `start`,
    // which follows a quote)
    let before = quote - 1;
    while (before >= start && bytes[before] === BACKSLASH) before--;
    if ((quote - 1 - before) % 2 === 0) return quote;
    start = quote + 1;
  }
}
