// The billing-customers routes (DESIGN §6c) as OpenAPI operations, with the zod schemas that validate
// them; openapi-operations.ts lists them with the rest.
import { createAccountBody, creditBody, patchAccountBody, statementQuery } from './admin-accounts.ts';
import { createPlanBody } from './admin-plans.ts';
import type { Operation } from './openapi-operations.ts';

const ERRORS = { '400': 'Invalid input, naming the parameter', '401': 'Missing or wrong key' };
const ADMIN_ERRORS = { ...ERRORS, '403': 'A client key on an admin route' };
const NO_ACCOUNT = { '404': 'No such account' };

export const ACCOUNT_OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: '/v1/key',
    summary: 'The calling key’s own budget, spend and limits, and its account’s balance',
    tag: 'client',
    responses: { '200': 'The key and its account (null without one)', '401': ERRORS['401'] },
  },
  {
    method: 'post',
    path: '/admin/plans',
    summary: 'Create a plan (immutable: a change is a new plan): markup, included credit, rollover, overage',
    tag: 'admin',
    body: createPlanBody,
    responses: { '201': 'The plan', ...ADMIN_ERRORS },
  },
  {
    method: 'get',
    path: '/admin/plans',
    summary: 'Plans',
    tag: 'admin',
    responses: { '200': 'The plans', ...ADMIN_ERRORS },
  },
  {
    method: 'post',
    path: '/admin/accounts',
    summary: 'Create an account (a customer): plan, credit limit, low-balance threshold, budget',
    tag: 'admin',
    body: createAccountBody,
    responses: { '201': 'The account', ...ADMIN_ERRORS },
  },
  {
    method: 'get',
    path: '/admin/accounts',
    summary: 'Accounts with their balance, reserved credit and this period’s cost and charge',
    tag: 'admin',
    responses: { '200': 'The accounts', ...ADMIN_ERRORS },
  },
  {
    method: 'get',
    path: '/admin/accounts/{id}',
    summary: 'An account with its balance, reserved credit and this period’s cost and charge',
    tag: 'admin',
    responses: { '200': 'The account', ...ADMIN_ERRORS, ...NO_ACCOUNT },
  },
  {
    method: 'patch',
    path: '/admin/accounts/{id}',
    summary: 'Change an account’s name, plan, credit limit, low-balance threshold or budget',
    tag: 'admin',
    body: patchAccountBody,
    responses: { '200': 'The account', ...ADMIN_ERRORS, ...NO_ACCOUNT },
  },
  {
    method: 'post',
    path: '/admin/accounts/{id}/credits',
    summary: 'A top-up or an adjustment, idempotent by idempotency_key',
    tag: 'admin',
    body: creditBody,
    responses: {
      '201': 'The new entry',
      '200': 'The same key and body again: the entry already written',
      ...ADMIN_ERRORS,
      ...NO_ACCOUNT,
      '409': 'The same idempotency_key with another body',
    },
  },
  {
    method: 'get',
    path: '/admin/accounts/{id}/credits',
    summary: 'The account’s credit ledger: grants, top-ups, adjustments, expiries',
    tag: 'admin',
    responses: { '200': 'The entries', ...ADMIN_ERRORS, ...NO_ACCOUNT },
  },
  {
    method: 'get',
    path: '/admin/accounts/{id}/statement',
    summary: 'A month’s statement: opening + entries − charges = closing, exactly (JSON or CSV)',
    tag: 'admin',
    query: statementQuery,
    responses: { '200': 'The statement', ...ADMIN_ERRORS, ...NO_ACCOUNT },
  },
  ...[
    ['/dashboard/accounts', 'The dashboard’s Accounts page'],
    ['/dashboard/accounts/{id}', 'An account’s statement in the dashboard'],
  ].map(
    ([path, summary]): Operation => ({
      method: 'get',
      path: path as string,
      summary: summary as string,
      tag: 'dashboard',
      responses: { '200': 'HTML', '303': 'To the sign-in form' },
    }),
  ),
];

/** Mounted only with STRIPE_WEBHOOK_SECRET set. */
export const STRIPE_OPERATION: Operation = {
  method: 'post',
  path: '/webhooks/stripe',
  summary:
    'Stripe’s checkout.session.completed events credit an account once per event id (Stripe-Signature)',
  tag: 'open',
  responses: {
    '200': 'Received (also a replay, or an event naming no account)',
    '400': 'A missing or bad signature: nothing credited',
  },
};
