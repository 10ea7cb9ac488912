import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

type Doc = {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: Array<{ name: string; in: string; required: boolean }>;
        requestBody?: {
          content: {
            'application/json': { schema: { required?: string[]; properties: Record<string, unknown> } };
          };
        };
      }
    >
  >;
};

describe('the API description', () => {
  let gw: TestGateway;
  let doc: Doc;
  beforeAll(async () => {
    gw = await startTestGateway({ backend: 'pglite', upstreamUrl: 'http://127.0.0.1:9/v1' });
    doc = (await (await gw.call('/openapi.json', { key: null })).json()) as Doc;
  });
  afterAll(() => gw.close());

  it('is an OpenAPI 3.1 document covering the admin and usage routes', () => {
    expect(doc.openapi).toBe('3.1.0');
    for (const [path, method] of [
      ['/v1/chat/completions', 'post'],
      ['/admin/pricing', 'put'],
      ['/admin/keys', 'post'],
      ['/admin/keys/{id}', 'patch'],
      ['/admin/audit', 'get'],
      ['/admin/alerts', 'get'],
      ['/usage', 'get'],
      ['/usage/summary', 'get'],
    ] as const) {
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    }
  });

  it('describes every route the app serves, and none it does not', () => {
    // the app's own routes: middleware (ALL, wildcards) aside, `:id{.+}` written as OpenAPI's `{id}`
    const served = gw.app.routes
      .filter((route) => route.method !== 'ALL' && !route.path.includes('*'))
      .map((route) => `${route.method.toLowerCase()} ${route.path.replace(/:(\w+)(\{[^}]*\})?/g, '{$1}')}`);
    const described = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method} ${path}`),
    );
    expect(new Set(served).size).toBeGreaterThan(20);
    expect([...new Set(described)].sort()).toEqual([...new Set(served)].sort());
  });

  it('names every group_by and every endpoint the routes accept', () => {
    const params = (path: string) => doc.paths[path]?.get?.parameters ?? [];
    const schemaOf = (path: string, name: string) =>
      (params(path).find((p) => p.name === name) as { schema?: { enum?: string[] } } | undefined)?.schema;
    expect(schemaOf('/usage/summary', 'group_by')?.enum).toEqual(
      expect.arrayContaining([
        'day',
        'hour',
        'model',
        'key',
        'status',
        'user',
        'end_user',
        'tag',
        'endpoint',
        'served_by',
        'account',
      ]),
    );
    // the nine groups of DESIGN §3, end_user (the column's own name for user) and account (§6c)
    expect(schemaOf('/usage/summary', 'group_by')?.enum).toHaveLength(11);
    expect(schemaOf('/usage', 'account_id')).toBeDefined();
    expect(schemaOf('/usage/summary', 'account_id')).toBeDefined();
    expect(schemaOf('/usage', 'endpoint')?.enum).toEqual(['chat.completions', 'responses', 'embeddings']);
    expect(doc.paths['/v1/embeddings']?.post?.requestBody).toBeDefined();
    expect(doc.paths['/v1/models/{id}']?.get).toBeDefined();
  });

  it('describes request bodies with the same rules the gateway enforces', async () => {
    const schema = doc.paths['/admin/pricing']?.put?.requestBody?.content['application/json'].schema;
    expect(schema?.required).toEqual(
      expect.arrayContaining(['model_name', 'input_token_cost', 'output_token_cost']),
    );
    // what the document calls required, the route refuses to go without
    const res = await gw.call('/admin/pricing', {
      method: 'PUT',
      json: { model_name: 'x', input_token_cost: '0.1' },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe('output_token_cost');
  });

  it('serves a readable docs page without any script from elsewhere', async () => {
    const res = await gw.call('/docs', { key: null });
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('/v1/chat/completions');
    expect(page).not.toMatch(/<script[^>]+src=/);
  });
});
