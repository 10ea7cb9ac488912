// GET /v1/models and GET /v1/models/{id}: ids carry `/` and `:`, so a model is found by its id whether
// the client percent-encodes it (openai's clients do) or sends it raw.
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/databases.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import { expectError } from '../helpers/requests.ts';

const DEFAULT_MODEL = 'openai/gpt-oss-120b:groq';
const modelObject = (id: string) => ({ id, object: 'model', created: 0, owned_by: id.split('/')[0] });

describe.each(BACKENDS)('GET /v1/models/{id} on %s', (backend) => {
  let gw: TestGateway;

  gatewaySuite({ backend }, (suite) => ({ gw } = suite));

  it.each([
    ['percent-encoded', '/v1/models/openai%2Fgpt-oss-120b%3Agroq'],
    ['raw', '/v1/models/openai/gpt-oss-120b:groq'],
  ])('answers the default model’s object for its %s id', async (_, path) => {
    const res = await gw.call(path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual(modelObject(DEFAULT_MODEL));
  });

  it('lists the default model in OpenAI’s list format', async () => {
    const res = await gw.call('/v1/models');
    expect(await res.json()).toEqual({ object: 'list', data: [modelObject(DEFAULT_MODEL)] });
  });

  it('finds a model once it has a price of its own', async () => {
    const id = 'meta-llama/Llama-3.3-70B-Instruct:together';
    expect((await gw.call(`/v1/models/${encodeURIComponent(id)}`)).status).toBe(404);
    const put = await gw.call('/admin/pricing', {
      method: 'PUT',
      json: { model_name: id, input_token_cost: '0.00000088', output_token_cost: '0.00000088' },
    });
    expect(put.status).toBeLessThan(300);
    const res = await gw.call(`/v1/models/${id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(modelObject(id));
  });

  it.each([
    ['an unknown id', '/v1/models/openai%2Fgpt-oss-999b%3Agroq'],
    ['an unknown raw id', '/v1/models/openai/gpt-oss-999b:groq'],
    ['the default model’s short name', '/v1/models/gpt-oss-120b'],
  ])('answers 404 model_not_found in OpenAI’s shape for %s', async (_, path) => {
    const res = await gw.call(path);
    const text = await expectError(res, 404, 'model_not_found', 'model');
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    expect(JSON.parse(text).error.message).toMatch(/does not exist/);
  });

  it('refuses both without a key', async () => {
    expect((await gw.call('/v1/models', { key: null })).status).toBe(401);
    expect((await gw.call('/v1/models/openai%2Fgpt-oss-120b%3Agroq', { key: null })).status).toBe(401);
  });
});
