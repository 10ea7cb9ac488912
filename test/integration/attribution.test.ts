// Who a metered request is for: OpenAI's `user` field or `x-tollgate-user` as the row's end_user, and
// `x-tollgate-tags` as its tags, on both endpoints; every bound crossed is a 400 naming what crossed it.
import { HttpResponse, http } from 'msw';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/databases.ts';
import { fixtureJson, fixtureText } from '../helpers/fixtures.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { expectError } from '../helpers/requests.ts';

const ENDPOINTS = [
  {
    path: '/v1/chat/completions',
    endpoint: 'chat.completions',
    body: fixtureJson<Record<string, unknown>>('nonstream/hf-groq-gpt-oss-120b.request.json'),
    reply: fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json'),
  },
  {
    path: '/v1/responses',
    endpoint: 'responses',
    body: fixtureJson<Record<string, unknown>>('responses/hf-groq-gpt-oss-120b.request.json'),
    reply: fixtureText('responses/hf-groq-gpt-oss-120b.response.json'),
  },
] as const;

describe.each(BACKENDS)('attribution on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;

  gatewaySuite(
    {
      backend,
      handlers: ENDPOINTS.map(({ path, reply }) =>
        http.post(`*${path.slice('/v1'.length)}`, () =>
          HttpResponse.text(reply, { headers: { 'content-type': 'application/json' } }),
        ),
      ),
    },
    (suite) => ({ gw, upstream } = suite),
  );

  describe.each(ENDPOINTS)('on $path', ({ path, endpoint, body }) => {
    const post = (json: unknown, headers: Record<string, string> = {}) =>
      gw.call(path, { method: 'POST', json, headers });
    const rowOf = async (res: Response) => {
      expect(res.status).toBe(200);
      return gw.usageRow(res.headers.get('x-request-id'));
    };

    it('records the body’s user as end_user, and no tags', async () => {
      const row = await rowOf(await post({ ...body, user: 'user-42' }));
      expect(row).toMatchObject({ endpoint, end_user: 'user-42', tags: null });
    });

    it('takes OpenAI’s safety_identifier as the end user when user is absent; user wins over it', async () => {
      const row = await rowOf(await post({ ...body, safety_identifier: 'sid-7' }));
      expect(row).toMatchObject({ endpoint, end_user: 'sid-7' });
      const both = await rowOf(await post({ ...body, user: 'user-1', safety_identifier: 'sid-7' }));
      expect(both).toMatchObject({ endpoint, end_user: 'user-1' });
    });

    it('lets x-tollgate-user win over the body’s user, and passes the body upstream untouched', async () => {
      const json = { ...body, user: 'from-body' };
      const row = await rowOf(await post(json, { 'x-tollgate-user': 'alice@example.com' }));
      expect(row).toMatchObject({ endpoint, end_user: 'alice@example.com' });
      expect(JSON.parse(upstream.requests[0]?.body ?? '{}')).toEqual(json);
      expect(upstream.requests[0]?.headers['x-tollgate-user']).toBeUndefined();
    });

    it('records x-tollgate-tags as a list, trimmed and deduplicated in order', async () => {
      const row = await rowOf(await post(body, { 'x-tollgate-tags': 'a,b' }));
      expect(row).toMatchObject({ endpoint, tags: ['a', 'b'] });
      const again = await rowOf(await post(body, { 'x-tollgate-tags': ' team:search , v1.2, team:search' }));
      expect(again?.tags).toEqual(['team:search', 'v1.2']);
    });

    it('records no end user when neither the body nor the header names one', async () => {
      expect(await rowOf(await post(body))).toMatchObject({ end_user: null, tags: null });
    });

    it.each([
      ['11 tags', Array.from({ length: 11 }, (_, i) => `t${i}`).join(',')],
      ['a 65-character tag', `ok,${'x'.repeat(65)}`],
      ['a tag with a space', 'ok,two words'],
      ['an empty tag', 'a,,b'],
    ])('refuses %s with a 400 naming x-tollgate-tags, before going upstream', async (_, tags) => {
      const res = await post(body, { 'x-tollgate-tags': tags });
      await expectError(res, 400, 'invalid_header', 'x-tollgate-tags');
      expect(upstream.requests).toHaveLength(0);
    });

    it('accepts 10 tags of 64 characters', async () => {
      const tags = Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(64, 'x'));
      const row = await rowOf(await post(body, { 'x-tollgate-tags': tags.join(',') }));
      expect(row?.tags).toEqual(tags);
    });

    it('refuses a 257-character user, in the header or in the body, with a 400 naming it', async () => {
      const long = 'u'.repeat(257);
      await expectError(
        await post(body, { 'x-tollgate-user': long }),
        400,
        'invalid_header',
        'x-tollgate-user',
      );
      await expectError(await post({ ...body, user: long }), 400, 'invalid_parameter', 'user');
      expect(upstream.requests).toHaveLength(0);
      const row = await rowOf(await post(body, { 'x-tollgate-user': 'u'.repeat(256) }));
      expect(row?.end_user).toBe('u'.repeat(256));
    });
  });
});
