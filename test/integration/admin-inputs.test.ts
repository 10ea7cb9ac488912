// Issue 23 item 8, the admin parts: hostile inputs to PUT /admin/pricing and POST /admin/keys are 400s
// naming their field (a NUL, a 140,000-digit price, a name too long), and wrong Bearer keys on the
// admin routes are throttled per client address in the dashboard sign-in's own counter.
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/databases.ts';
import { ADMIN_KEY, gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import { expectError } from '../helpers/requests.ts';

describe.each(BACKENDS)('admin inputs on %s', (backend) => {
  let gw: TestGateway;
  gatewaySuite(
    { backend, env: { TRUST_PROXY: 'true', ADMIN_AUTH_FAILURES_PER_MINUTE: '3' } },
    (suite) => ({ gw } = suite),
  );
  const price = { model_name: 'acme/x', input_token_cost: '0.000001', output_token_cost: '0.000002' };
  const put = (body: Record<string, unknown>) => gw.call('/admin/pricing', { method: 'PUT', json: body });

  it.each([
    ['model_name', { ...price, model_name: 'acme/\u0000x' }, 'must not contain control characters'],
    ['provider', { ...price, provider: 'hugging\u0000face' }, 'must not contain control characters'],
    [
      'input_token_cost',
      { ...price, input_token_cost: '1'.repeat(140_000) },
      'must be at most 40 characters',
    ],
    [
      'output_token_cost',
      { ...price, output_token_cost: `0.${'1'.repeat(140_000)}` },
      'at most 40 characters',
    ],
    ['model_name', { ...price, model_name: 'm'.repeat(300) }, 'must be at most 256 characters'],
  ])('PUT /admin/pricing refuses a bad %s with a 400 naming it', async (field, body, says) => {
    const text = await expectError(await put(body), 400, 'invalid_parameter', field);
    expect(text).toContain(says);
  });

  it('POST /admin/keys says a name is too long, not that it is no string', async () => {
    const res = await gw.call('/admin/keys', { method: 'POST', json: { name: 'k'.repeat(300) } });
    const text = await expectError(res, 400, 'invalid_parameter', 'name');
    expect(text).toContain('must be at most 200 characters');
    expect(text).not.toContain('must be a string');
  });

  it('throttles wrong admin keys per client address, with the dashboard sign-in in the same count', async () => {
    const from = (address: string, key: string | null) => ({ headers: { 'x-forwarded-for': address }, key });
    const wrong = 'tg-wrong-0123456789abcdefghijklmnop';
    for (let i = 0; i < 3; i++) {
      await expectError(await gw.call('/admin/keys', from('203.0.113.7', wrong)), 401, 'invalid_api_key');
    }
    // past the limit, even the right key from that address waits: a right guess looks like a wrong one
    for (const key of [wrong, ADMIN_KEY]) {
      const res = await gw.call('/usage', from('203.0.113.7', key));
      expect(res.status).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await res.json()).toMatchObject({
        error: { code: 'rate_limit_exceeded', type: 'invalid_request_error' },
      });
    }
    // the dashboard's sign-in (5 attempts a minute) counts the same attempts: 3 are gone, 2 remain
    const signIn = () =>
      gw.call('/dashboard/login', {
        method: 'POST',
        key: null,
        body: new URLSearchParams({ key: ADMIN_KEY }).toString(),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'sec-fetch-site': 'same-origin',
          'x-forwarded-for': '203.0.113.7',
        },
      });
    expect([(await signIn()).status, (await signIn()).status, (await signIn()).status]).toEqual([
      303, 303, 429,
    ]);
    // another address, and a request with no key at all, are not counted against
    expect((await gw.call('/admin/keys', from('203.0.113.8', ADMIN_KEY))).status).toBe(200);
    await expectError(await gw.call('/admin/keys', from('203.0.113.9', null)), 401, 'invalid_api_key');
    expect((await gw.call('/admin/keys', from('203.0.113.9', ADMIN_KEY))).status).toBe(200);
  });
});
