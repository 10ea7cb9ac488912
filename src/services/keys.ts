// Client keys: creation (the secret is shown once), limits, revocation, and authentication from an
// in-memory cache of SHA-256 hashes kept fresh across replicas by NOTIFY. The master key is compared
// in constant time.
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { canonical, formatDecimal, parseDecimal, subtract } from '../billing/money.ts';
import type { Database } from '../db/client.ts';
import { findKeyByHash, insertKey, listKeys, revokeKey, updateKey } from '../db/keys-repo.ts';
import { spendForPeriod } from '../db/limits-repo.ts';
import type { ApiKeyRow } from '../db/schema.ts';
import { notFound } from '../errors.ts';
import { budgetPeriod, type KeyLimits } from './limits.ts';

const CHANNEL = 'tollgate_keys';
const KEY_PREFIX = 'tg-';

export type Principal = { kind: 'admin'; keyId: null } | { kind: 'client'; keyId: string; limits: KeyLimits };

export type KeyView = {
  id: string;
  name: string;
  key_prefix: string;
  monthly_budget_usd: string | null;
  rpm_limit: number | null;
  tpm_limit: number | null;
  created_at: string;
  revoked_at: string | null;
};

export type KeyWithSpend = KeyView & {
  month_to_date_spend_usd: string;
  in_flight_reserved_usd: string;
  remaining_budget_usd: string | null;
};

/** Fields an admin sets; undefined leaves a field as it is, null clears it. */
export type KeySettings = {
  name?: string;
  monthlyBudgetUsd?: string | null;
  rpmLimit?: number | null;
  tpmLimit?: number | null;
};

export type KeyService = {
  authenticate(presented: string): Promise<Principal | undefined>;
  create(input: KeySettings & { name: string }): Promise<KeyView & { key: string }>;
  update(id: string, settings: KeySettings): Promise<KeyView>;
  list(at?: Date): Promise<KeyWithSpend[]>;
  revoke(id: string): Promise<KeyView>;
  /** drops cached keys when another replica changes them */
  follow(): Promise<() => Promise<void>>;
};

// one-shot crypto.hash: no Hash object per call (a third cheaper on the per-request key check)
export const sha256 = (text: string): Buffer => hash('sha256', text, 'buffer');

export function createKeyService({
  database,
  adminApiKey,
}: {
  database: Database;
  adminApiKey: string;
}): KeyService {
  const adminDigest = sha256(adminApiKey);
  // key hash (hex) → the key's id and limits, or null for a revoked key
  const cache = new Map<string, { keyId: string; limits: KeyLimits } | null>();
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
      let entry = cache.get(hash);
      if (entry === undefined) {
        const row = await findKeyByHash(db, hash);
        if (!row) return undefined; // unknown keys are not cached, so the cache cannot be filled with junk
        entry = row.revokedAt ? null : { keyId: row.id, limits: limitsOf(row) };
        cache.set(hash, entry);
      }
      return entry ? { kind: 'client', ...entry } : undefined;
    },
    async create({ name, monthlyBudgetUsd = null, rpmLimit = null, tpmLimit = null }) {
      const key = `${KEY_PREFIX}${randomBytes(24).toString('base64url')}`;
      const row = await insertKey(db, {
        id: `key_${randomBytes(9).toString('base64url')}`,
        name,
        keyHash: sha256(key).toString('hex'),
        keyPrefix: key.slice(0, KEY_PREFIX.length + 6),
        monthlyBudgetUsd: monthlyBudgetUsd === null ? null : canonical(monthlyBudgetUsd),
        rpmLimit,
        tpmLimit,
      });
      return { ...toView(row), key };
    },
    async update(id, { name, monthlyBudgetUsd, rpmLimit, tpmLimit }) {
      const row = await updateKey(db, id, {
        ...(name !== undefined ? { name } : {}),
        ...(monthlyBudgetUsd !== undefined
          ? { monthlyBudgetUsd: monthlyBudgetUsd === null ? null : canonical(monthlyBudgetUsd) }
          : {}),
        ...(rpmLimit !== undefined ? { rpmLimit } : {}),
        ...(tpmLimit !== undefined ? { tpmLimit } : {}),
      });
      if (!row) throw notFound(`No key with id ${id}.`);
      await changed();
      return toView(row);
    },
    async list(at = new Date()) {
      const [rows, spend] = await Promise.all([listKeys(db), spendForPeriod(database, budgetPeriod(at))]);
      return rows.map((row) => {
        const { spent, reserved } = spend.get(row.id) ?? { spent: '0', reserved: '0' };
        const left =
          row.monthlyBudgetUsd === null
            ? null
            : subtract(parseDecimal(row.monthlyBudgetUsd), parseDecimal(spent));
        const remaining = left === null ? null : left > 0n ? formatDecimal(left) : '0';
        return {
          ...toView(row),
          month_to_date_spend_usd: canonical(spent),
          in_flight_reserved_usd: canonical(reserved),
          remaining_budget_usd: remaining,
        };
      });
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

function limitsOf(row: ApiKeyRow): KeyLimits {
  return {
    monthlyBudgetUsd: row.monthlyBudgetUsd === null ? null : parseDecimal(row.monthlyBudgetUsd),
    rpm: row.rpmLimit,
    tpm: row.tpmLimit,
  };
}

function toView(row: ApiKeyRow): KeyView {
  return {
    id: row.id,
    name: row.name,
    key_prefix: row.keyPrefix,
    monthly_budget_usd: row.monthlyBudgetUsd === null ? null : canonical(row.monthlyBudgetUsd),
    rpm_limit: row.rpmLimit,
    tpm_limit: row.tpmLimit,
    created_at: row.createdAt.toISOString(),
    revoked_at: row.revokedAt?.toISOString() ?? null,
  };
}
