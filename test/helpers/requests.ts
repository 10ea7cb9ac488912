// Requests the integration suites make the same way: a JSON reply read, a chat completion with the
// usage row it committed, an OpenAI-shaped error checked.
import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import { fixtureJson } from './fixtures.ts';
import { ADMIN_KEY, type TestGateway } from './gateway.ts';

export type Row = Record<string, unknown>;
type ErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } };

/** the recorded request (81 prompt and 76 completion tokens in the recorded reply) */
export const chatRequest = fixtureJson<Record<string, unknown>>(
  'nonstream/hf-groq-gpt-oss-120b.request.json',
);

export const json = async <T>(res: Response | Promise<Response>) => (await (await res).json()) as T;

/** A chat completion for `model` through `on`; resolves to the reply and its committed usage row. */
export async function chatWithRow(on: TestGateway, model: string, key = ADMIN_KEY) {
  const res = await on.call('/v1/chat/completions', { method: 'POST', json: { ...chatRequest, model }, key });
  const [row] = await on.deps.database.rows<Row>(
    sql`select * from usage_logs where request_id = ${res.headers.get('x-request-id')}`,
  );
  return { res, row };
}

/** An OpenAI-shaped invalid_request_error of the given status and code; returns its body text. */
export async function expectError(res: Response, status: number, code: string, param: string | null = null) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const text = await res.text();
  const body = JSON.parse(text) as ErrorBody;
  expect(body).toEqual({
    error: { message: expect.any(String), type: 'invalid_request_error', param, code },
  });
  return text;
}

/** A dashboard session cookie (`name=value`), signed in through the dashboard's own same-origin form. */
export async function dashboardCookie(on: TestGateway): Promise<string> {
  const res = await on.call('/dashboard/login', {
    method: 'POST',
    key: null,
    body: new URLSearchParams({ key: ADMIN_KEY }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' },
  });
  return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}
