import { describe, expect, it } from 'vitest';
import { fromUpstream, GatewayError, toGatewayError } from '../../src/errors.ts';
import { errorFixture } from '../helpers/fixtures.ts';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined) => (data ? new TextDecoder().decode(data) : undefined);

describe('fromUpstream', () => {
  it.each([
    ['400.hf-router.model-not-supported', 'invalid_request_error', 'model_not_supported', 'model'],
    ['400.groq.tool-use-failed', 'invalid_request_error', 'tool_use_failed', null],
    ['404.groq-direct.model-not-found', 'invalid_request_error', 'model_not_found', null],
    ['429.hf-router.groq-rate-limit', 'tokens', 'rate_limit_exceeded', null],
  ])('keeps an OpenAI-shaped %s with its status and exact bytes', (name, type, code, param) => {
    const fixture = errorFixture(name);
    const error = fromUpstream(fixture.status, bytes(fixture.body), { 'retry-after': '1' });
    expect(error.status).toBe(fixture.status);
    expect(text(error.body)).toBe(fixture.body);
    expect(error).toMatchObject({ type, code, param, headers: { 'retry-after': '1' } });
    expect(error.message).toBe((JSON.parse(fixture.body) as { error: { message: string } }).error.message);
  });

  it('wraps HF’s {"error": "a string"} into OpenAI’s shape with its status', () => {
    const fixture = errorFixture('402.hf-router.credits-exhausted');
    const error = fromUpstream(fixture.status, bytes(fixture.body));
    expect(error.status).toBe(402);
    expect(error.body).toBeUndefined();
    expect(error.toBody()).toEqual({
      error: {
        message:
          'You have exceeded your monthly included credits for Inference Providers. Subscribe to PRO to get 20x more monthly included credits.',
        type: 'invalid_request_error',
        param: null,
        code: 'insufficient_quota',
      },
    });
  });

  it.each([
    [
      '401.hf-router.invalid-token',
      /refused the gateway's credentials \(HTTP 401\): Invalid username or password\./,
    ],
    ['401.groq-direct.invalid-api-key', /refused the gateway's credentials \(HTTP 401\): Invalid API Key/],
    ['500.groq.internal-server-error', /upstream failed \(HTTP 500\): Internal Server Error/],
  ])('turns %s into a 502: the gateway’s problem, not the client’s', (name, message) => {
    const fixture = errorFixture(name);
    const error = fromUpstream(fixture.status, bytes(fixture.body));
    expect(error.status).toBe(502);
    expect(error).toMatchObject({ type: 'upstream_error', code: 'bad_gateway', body: undefined });
    expect(error.message).toMatch(message);
  });

  it.each([
    [403, '{"error":"Forbidden"}'],
    [502, '<html><body>502 Bad Gateway</body></html>'],
    [503, ''],
    [504, '{"error":{"message":"upstream timed out","type":"timeout"}}'],
  ])('answers 502 for an upstream %i', (status, body) => {
    const error = fromUpstream(status, bytes(body));
    expect(error.status).toBe(502);
    expect(error.code).toBe('bad_gateway');
    expect(error.body).toBeUndefined();
    expect(error.message).toContain(`HTTP ${status}`);
  });

  it.each([
    [400, 'invalid_request'],
    [404, 'not_found'],
    [413, 'payload_too_large'],
    [422, 'invalid_request'],
    [429, 'rate_limit_exceeded'],
    [418, 'upstream_error'],
  ])('wraps a non-JSON %i with a code derived from the status', (status, code) => {
    const error = fromUpstream(status, bytes('<html>nope</html>'), { 'retry-after': '3' });
    expect(error.status).toBe(status);
    expect(error.body).toBeUndefined();
    expect(error.headers).toEqual({ 'retry-after': '3' });
    expect(error.toBody()).toEqual({
      error: {
        message: `Upstream answered HTTP ${status}.`,
        type: 'invalid_request_error',
        param: null,
        code,
      },
    });
  });

  it('wraps JSON that is not OpenAI’s shape, keeping a top-level message', () => {
    const error = fromUpstream(400, bytes('{"message":"temperature must be at most 2"}'));
    expect(error.status).toBe(400);
    expect(error.body).toBeUndefined();
    expect(error.toBody().error).toMatchObject({
      message: 'temperature must be at most 2',
      code: 'invalid_request',
    });
  });

  it('does not pass through an error object without a message', () => {
    const error = fromUpstream(400, bytes('{"error":{"code":"bad"}}'));
    expect(error.body).toBeUndefined();
    expect(error.toBody().error).toMatchObject({
      message: 'Upstream answered HTTP 400.',
      code: 'invalid_request',
    });
  });
});

describe('toGatewayError', () => {
  it('keeps a GatewayError as it is', () => {
    const error = new GatewayError(409, 'conflict', { code: 'conflict' });
    expect(toGatewayError(error)).toBe(error);
  });

  it('answers anything else as a 500 that reveals nothing internal', () => {
    const error = toGatewayError(new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter2'));
    expect(error.status).toBe(500);
    expect(JSON.stringify(error.toBody())).not.toMatch(/hunter2|ECONNREFUSED/);
    expect(error.toBody().error).toMatchObject({ type: 'api_error', code: 'internal_error' });
  });
});
