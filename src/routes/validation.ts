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

/** JSON body of a request as unknown; a body that is not JSON is a 400. */
export function parseJsonBody(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw badRequest('The request body is not valid JSON.', null, 'invalid_json');
  }
}
