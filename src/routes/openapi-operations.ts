// Every route the app serves, as OpenAPI operations: the metered ones from the endpoint registry,
// the rest listed here with the zod schemas that validate them (test/integration/openapi.test.ts
// compares this list with the routes the app registers).
import type { z } from 'zod';
import type { EndpointAdapter } from '../endpoints/adapter.ts';
import { ENDPOINTS } from '../endpoints/registry.ts';
import { alertsQuery } from './admin-alerts.ts';
import { auditQuery } from './admin-audit.ts';
import { createKeyBody, patchKeyBody } from './admin-keys.ts';
import { listPricesQuery, putPriceBody } from './admin-pricing.ts';
import { repriceBody } from './admin-reprice.ts';
import { ACCOUNT_OPERATIONS } from './openapi-accounts.ts';
import { GROUPS, usageQueries } from './usage.ts';

export type Operation = {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  summary: string;
  tag: 'client' | 'usage' | 'admin' | 'open' | 'dashboard';
  query?: z.ZodObject;
  body?: z.ZodType;
  /** status → description */
  responses: Record<string, string>;
};

const ERRORS = { '400': 'Invalid input, naming the parameter', '401': 'Missing or wrong key' };
const ADMIN_ERRORS = { ...ERRORS, '403': 'A client key on an admin route' };
const METERED_RESPONSES = {
  '200': 'The upstream reply, byte for byte; x-usage-cost-usd on JSON replies',
  ...ERRORS,
  '413': 'Body too large',
  '429': 'Budget, rate or concurrency limit exceeded',
  '502': 'Upstream failed',
  '504': 'Upstream timed out',
};

/** Every route of the app: the metered ones from `endpoints`, then the rest, then `extra`. */
export function operations({
  endpoints = ENDPOINTS,
  extra = [],
}: {
  endpoints?: readonly EndpointAdapter[];
  extra?: Operation[];
} = {}): Operation[] {
  const { usageQuery, summaryQuery } = usageQueries(endpoints);
  return [
    ...endpoints.map(
      (adapter): Operation => ({
        method: 'post',
        path: `/v1${adapter.path}`,
        summary: adapter.summary,
        tag: 'client',
        body: adapter.schema,
        responses: METERED_RESPONSES,
      }),
    ),
    {
      method: 'get',
      path: '/v1/models',
      summary: 'Models, in OpenAI’s list format',
      tag: 'client',
      responses: { '200': 'The list', ...ERRORS },
    },
    {
      method: 'get',
      path: '/v1/models/{id}',
      summary: 'One model, in OpenAI’s object format (the id may contain / and :)',
      tag: 'client',
      responses: { '200': 'The model', ...ERRORS, '404': 'No such model' },
    },
    ...extra,
    {
      method: 'get',
      path: '/usage',
      summary:
        'Usage rows, newest first, with totals of the whole selection (CSV with format=csv or Accept: text/csv)',
      tag: 'usage',
      query: usageQuery,
      responses: { '200': 'The rows, totals and next_cursor', ...ADMIN_ERRORS },
    },
    {
      method: 'get',
      path: '/usage/summary',
      summary: `Usage grouped by ${GROUPS.join(', ')}`,
      tag: 'usage',
      query: summaryQuery,
      responses: { '200': 'The groups and totals', ...ADMIN_ERRORS },
    },
    {
      method: 'get',
      path: '/admin/pricing',
      summary: 'Current prices (or every version with history=true)',
      tag: 'admin',
      query: listPricesQuery,
      responses: { '200': 'The prices', ...ADMIN_ERRORS },
    },
    {
      method: 'put',
      path: '/admin/pricing',
      summary: 'A new price version for (provider, model_name)',
      tag: 'admin',
      body: putPriceBody,
      responses: { '200': 'The version written', ...ADMIN_ERRORS },
    },
    {
      method: 'delete',
      path: '/admin/pricing/{id}',
      summary: 'Retire a price (a retiring version)',
      tag: 'admin',
      responses: { '200': 'The retiring version', ...ADMIN_ERRORS, '404': 'No such price' },
    },
    {
      method: 'post',
      path: '/admin/reprice',
      summary:
        'Re-price a window of usage rows with the prices now in effect for their time (appended corrections)',
      tag: 'admin',
      body: repriceBody,
      responses: { '200': 'The rows corrected and the exact delta', ...ADMIN_ERRORS },
    },
    {
      method: 'post',
      path: '/admin/keys',
      summary: 'Create a client key (its secret is returned only here)',
      tag: 'admin',
      body: createKeyBody,
      responses: { '201': 'The key, with its secret', ...ADMIN_ERRORS },
    },
    {
      method: 'get',
      path: '/admin/keys',
      summary: 'Keys with the current budget period’s start, spend and remaining budget',
      tag: 'admin',
      responses: { '200': 'The keys', ...ADMIN_ERRORS },
    },
    {
      method: 'patch',
      path: '/admin/keys/{id}',
      summary: 'Change a key’s name, budget, budget period, alert thresholds or rate limits (null clears)',
      tag: 'admin',
      body: patchKeyBody,
      responses: { '200': 'The key', ...ADMIN_ERRORS, '404': 'No such key' },
    },
    {
      method: 'delete',
      path: '/admin/keys/{id}',
      summary: 'Revoke a key',
      tag: 'admin',
      responses: { '200': 'The revoked key', ...ADMIN_ERRORS, '404': 'No such key' },
    },
    {
      method: 'get',
      path: '/admin/audit',
      summary: 'Admin actions, newest first',
      tag: 'admin',
      query: auditQuery,
      responses: { '200': 'The entries', ...ADMIN_ERRORS },
    },
    {
      method: 'get',
      path: '/admin/alerts',
      summary: 'Budget and account credit alerts raised and their delivery state, newest first',
      tag: 'admin',
      query: alertsQuery,
      responses: { '200': 'The alerts', ...ADMIN_ERRORS },
    },
    {
      method: 'get',
      path: '/healthz',
      summary: 'The process is up',
      tag: 'open',
      responses: { '200': 'ok' },
    },
    {
      method: 'get',
      path: '/readyz',
      summary: 'The database is reachable',
      tag: 'open',
      responses: { '200': 'ready', '503': 'database down (rows wait in the spool)' },
    },
    {
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics',
      tag: 'open',
      responses: { '200': 'text format 0.0.4' },
    },
    ...ACCOUNT_OPERATIONS,
    ...OPEN_DOCS,
    ...DASHBOARD,
  ];
}

const OPEN_DOCS: Operation[] = [
  {
    method: 'get',
    path: '/openapi.json',
    summary: 'This document',
    tag: 'open',
    responses: { '200': 'OpenAPI 3.1' },
  },
  {
    method: 'get',
    path: '/docs',
    summary: 'This document as a page',
    tag: 'open',
    responses: { '200': 'HTML' },
  },
];

/** The billing dashboard: HTML for a browser, signed in with the admin key (a session cookie). */
const DASHBOARD: Operation[] = [
  ['get', '/dashboard', 'The billing dashboard (same filters as /usage)'],
  ['get', '/dashboard/usage.csv', 'The dashboard’s selection as CSV'],
  ['get', '/dashboard/login', 'The sign-in form'],
  ['post', '/dashboard/login', 'Sign in with the admin key (form post; sets the session cookie)'],
  ['post', '/dashboard/logout', 'Sign out'],
].map(([method, path, summary]) => ({
  method: method as 'get' | 'post',
  path: path as string,
  summary: summary as string,
  tag: 'dashboard',
  responses: { '200': 'HTML (or CSV)', '303': 'To the sign-in form or the dashboard' },
}));
