// GET /v1/key: a client key's own budget, spend and account balance (DESIGN §6c, self-serve).
import { Hono } from 'hono';
import type { Database } from '../db/client.ts';
import type { AppEnv } from '../middleware/context.ts';
import type { AccountService } from '../services/accounts/accounts.ts';
import { describeKey } from '../services/accounts/key-self.ts';
import type { KeyService } from '../services/admission/keys.ts';

export function keySelfRoutes(deps: { database: Database; keys: KeyService; accounts: AccountService }) {
  return new Hono<AppEnv>().get('/key', async function ownKey(c) {
    return c.json(await describeKey(deps, c.get('principal')));
  });
}
