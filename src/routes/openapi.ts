// GET /openapi.json (OpenAPI 3.1) and GET /docs, generated from the very zod schemas that validate
// each route, so the document cannot drift from what the gateway accepts. The metered routes and the
// /usage endpoint filter come from the endpoint registry; a test compares the paths with the app's routes.
import { Hono } from 'hono';
import { html, raw } from 'hono/html';
import { z } from 'zod';
import type { EndpointAdapter } from '../endpoints/adapter.ts';
import type { AppEnv } from '../middleware/context.ts';
import { type Operation, operations } from './openapi-operations.ts';

const jsonSchema = (schema: z.ZodType) => {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return rest;
};

export function openApiDocument(ops: Operation[]) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of ops) {
    const parameters = [
      ...[...op.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
        name,
        in: 'path',
        required: true,
        schema: { type: 'string' },
      })),
      ...Object.entries(op.query?.shape ?? {}).map(([name, schema]) => ({
        name,
        in: 'query',
        required: !(schema as z.ZodType).safeParse(undefined).success,
        schema: jsonSchema(schema as z.ZodType),
      })),
    ];
    const item = paths[op.path] ?? {};
    paths[op.path] = item;
    item[op.method] = {
      summary: op.summary,
      tags: [op.tag],
      ...(op.tag === 'open' || op.tag === 'dashboard' ? { security: [] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(op.body
        ? {
            requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(op.body) } } },
          }
        : {}),
      responses: Object.fromEntries(
        Object.entries(op.responses).map(([status, description]) => [status, { description }]),
      ),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tollgate',
      version: '0.1.0',
      description: 'OpenAI-compatible LLM gateway that meters every token in-line.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}

export function openApiRoutes(options: { endpoints?: readonly EndpointAdapter[]; extra?: Operation[] } = {}) {
  const ops = operations(options);
  const document = openApiDocument(ops);
  return new Hono<AppEnv>()
    .get('/openapi.json', (c) => c.json(document))
    .get('/docs', (c) =>
      c.html(html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tollgate API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1f2937}
code,pre{font:13px ui-monospace,monospace}pre{background:#f3f4f6;padding:.75rem;overflow:auto;border-radius:6px}
section{border-top:1px solid #e5e7eb;padding:.75rem 0}.m{display:inline-block;min-width:4.5em;font-weight:700;text-transform:uppercase}
.t{color:#6b7280;font-size:12px}</style></head><body>
<h1>Tollgate API</h1><p>OpenAPI 3.1 document: <a href="/openapi.json">/openapi.json</a>. Send <code>Authorization: Bearer &lt;key&gt;</code>.</p>
${ops.map(
  (
    op,
  ) => html`<section><div><span class="m">${op.method}</span><code>${op.path}</code> <span class="t">${op.tag}</span></div>
<p>${op.summary}</p>
${op.query ? html`<details><summary>query</summary><pre>${JSON.stringify(jsonSchema(op.query), null, 2)}</pre></details>` : ''}
${op.body ? html`<details><summary>body</summary><pre>${JSON.stringify(jsonSchema(op.body), null, 2)}</pre></details>` : ''}
<p class="t">${raw(
    Object.entries(op.responses)
      .map(([s, d]) => `${s} ${escapeHtml(d)}`)
      .join(' · '),
  )}</p></section>`,
)}
</body></html>`),
    );
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"]/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch] ?? ch,
  );
}

export type { Operation };
