// Client keys: creation (the secret is shown once), revocation, and authentication from an in-memory
// cache of SHA-256 hashes. The master key is compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { canonical } from '../billing/money.ts';
import type { Database } from '../db/client.ts';
import { findKeyByHash, insertKey, listKeys, revokeKey } from '../db/keys-repo.ts';
import type { ApiKeyRow } from '../db/schema.ts';
import { notFound } from '../errors.ts';

const CHANNEL = 'tollgate_keys';
const KEY_PREFIX = 'tg-';

export type Principal = { kind: 'admin'; keyId: null } | { kind: 'client'; keyId: string };

export type KeyView = {
  id: string;
  name: string;
  key_prefix: string;
  monthly_budget_usd: string | null;
  created_at: string;
  revoked_at: string | null;
};

export type KeyService = {
  authenticate(presented: string): Promise<Principal | undefined>;
  create(input: { name: string; monthlyBudgetUsd?: string | null }): Promise<KeyView & { key: string }>;
  list(): Promise<KeyView[]>;
  revoke(id: string): Promise<KeyView>;
  /** drops cached keys when another replica changes them */
  follow(): Promise<() => Promise<void>>;
};

export const sha256 = (text: string) => createHash('sha256').update(text).digest();

export function createKeyService({
  database,
  adminApiKey,
}: {
  database: Database;
  adminApiKey: string;
}): KeyService {
  const adminDigest = sha256(adminApiKey);
  // key hash (hex) → key id, or null for a revoked or unknown key
  const cache = new Map<string, string | null>();
  const { db } = database;

  const changed = async () => {
    cache.clear();
    await database.notify(CHANNEL, 'changed').catch(() => {});
  };

  return {
    async authenticate(presented) {
      const digest = sha256(presented);
      // equal-length digests, compared in constant time
      if (timingSafeEqual(digest, adminDigest)) return { kind: 'admin', keyId: null };
      if (!presented.startsWith(KEY_PREFIX)) return undefined;
      const hash = digest.toString('hex');
      let keyId = cache.get(hash);
      if (keyId === undefined) {
        const row = await findKeyByHash(db, hash);
        keyId = row && !row.revokedAt ? row.id : null;
        // unknown keys are not cached, so a cache cannot be filled with junk
        if (row) cache.set(hash, keyId);
      }
      return keyId ? { kind: 'client', keyId } : undefined;
    },
    async create({ name, monthlyBudgetUsd }) {
      const key = `${KEY_PREFIX}${randomBytes(24).toString('base64url')}`;
      const row = await insertKey(db, {
        id: `key_${randomBytes(9).toString('base64url')}`,
        name,
        keyHash: sha256(key).toString('hex'),
        keyPrefix: key.slice(0, KEY_PREFIX.length + 6),
        monthlyBudgetUsd: monthlyBudgetUsd == null ? null : canonical(monthlyBudgetUsd),
      });
      return { ...toView(row), key };
    },
    async list() {
      return (await listKeys(db)).map(toView);
    },
    async revoke(id) {
      const row = await revokeKey(db, id);
      if (!row) throw notFound(`No key with id ${id}.`);
      await changed();
      return toView(row);
    },
    follow: () => database.listen(CHANNEL, () => cache.clear()),
  };
}

function toView(row: ApiKeyRow): KeyView {
  return {
    id: row.id,
    name: row.name,
    key_prefix: row.keyPrefix,
    monthly_budget_usd: row.monthlyBudgetUsd === null ? null : canonical(row.monthlyBudgetUsd),
    created_at: row.createdAt.toISOString(),
    revoked_at: row.revokedAt?.toISOString() ?? null,
  };
}
