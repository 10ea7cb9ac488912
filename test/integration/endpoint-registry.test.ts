// "Adding an endpoint is one adapter file and one line in the registry", tried: a fake endpoint is
// declared here (its file) and registered in one line (the gateway's endpoint list); every surface
// must see it with no other change: the route is served and metered, the /usage filter and the summary
// name it, the dashboard's filter lists it, and /openapi.json describes it.
import { HttpResponse, http } from 'msw';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineEndpoint } from '../../src/endpoints/adapter.ts';
import { modelField } from '../../src/endpoints/fields.ts';
import { ENDPOINTS } from '../../src/endpoints/registry.ts';
import { inputsPrompt } from '../../src/metering/prompt-text.ts';
import { parseUsage } from '../../src/metering/usage.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { dashboardCookie, expectError, json, type Row } from '../helpers/requests.ts';

// the adapter file: a JSON-only endpoint that declares no stream members
const moderations = defineEndpoint({
  name: 'moderations',
  path: '/moderations',
  summary: 'Moderation (a fake endpoint of the registry test)',
  schema: z.looseObject({ model: modelField, input: z.string() }),
  endUser: () => undefined,
  prompt: (body) => inputsPrompt(body.input),
  output: null,
  usageOfReply: (reply) => parseUsage((reply as { usage?: unknown }).usage),
  textOfReply: () => '',
});

describe.each(BACKENDS)('an endpoint added in one line on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;

  // the one line
  gatewaySuite({ backend, endpoints: [...ENDPOINTS, moderations] }, (suite) => ({ gw, upstream } = suite));

  it('is served and metered, and every endpoint list names it', async () => {
    upstream.use(
      http.post('*/moderations', () =>
        HttpResponse.json({
          id: 'modr-1',
          results: [{ flagged: false }],
          usage: { prompt_tokens: 12, completion_tokens: 0, total_tokens: 12 },
        }),
      ),
    );
    const res = await gw.call('/v1/moderations', {
      method: 'POST',
      json: { model: 'omni-moderation-latest', input: 'is this fine?' },
    });
    expect(res.status).toBe(200);
    expect(upstream.requests[0]?.path).toBe('/v1/moderations');
    const id = res.headers.get('x-request-id');
    expect(await gw.usageRow(id)).toMatchObject({
      endpoint: 'moderations',
      usage_source: 'upstream',
      prompt_tokens: 12,
      completion_tokens: 0,
    });

    const usage = await json<{ data: Row[] }>(gw.call('/usage?endpoint=moderations'));
    expect(usage.data.map((row) => row.request_id)).toEqual([id]);
    await expectError(await gw.call('/usage?endpoint=nope'), 400, 'invalid_parameter', 'endpoint');

    const summary = await json<{ data: Array<{ group: string; requests: number }> }>(
      gw.call('/usage/summary?group_by=endpoint'),
    );
    expect(summary.data).toContainEqual(expect.objectContaining({ group: 'moderations', requests: 1 }));

    const page = await gw.call('/dashboard', { key: null, headers: { cookie: await dashboardCookie(gw) } });
    expect(await page.text()).toContain('<option value="moderations">moderations</option>');

    const doc = await json<{ paths: Record<string, Record<string, { parameters?: unknown[] }>> }>(
      gw.call('/openapi.json', { key: null }),
    );
    expect(doc.paths['/v1/moderations']?.post).toBeDefined();
    expect(JSON.stringify(doc.paths['/usage']?.get?.parameters)).toContain('"moderations"');
  });

  it('refuses "stream": true on an endpoint that declares no stream members', async () => {
    const res = await gw.call('/v1/moderations', {
      method: 'POST',
      json: { model: 'omni-moderation-latest', input: 'x', stream: true },
    });
    await expectError(res, 400, 'invalid_parameter', 'stream');
    expect(upstream.requests).toHaveLength(0);
  });
});
