// Client keys: creation (the secret is shown once), limits, revocation, and authentication from an
// in-memory cache of SHA-256 hashes kept fresh across replicas by NOTIFY. The master key is compared
// in constant time.
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { canonical, formatDecimal, parseDecimal, subtract } from '../billing/money.ts';
import type { Database } from '../db/client.ts';
import {
  currentSpend,
  findKey,
  findKeyByHash,
  insertKey,
  listKeys,
  revokeKey,
  updateKey,
} from '../db/keys-repo.ts';
import type { ApiKeyRow } from '../db/schema.ts';
import { notFound } from '../errors.ts';
import { type BudgetPeriod, budgetPeriod, type KeyLimits } from './limits.ts';

const CHANNEL = 'tollgate_keys';
const KEY_PREFIX = 'tg-';

export type Principal = { kind: 'admin'; keyId: null } | { kind: 'client'; keyId: string; limits: KeyLimits };

export type KeyView = {
  id: string;
  name: string;
  key_prefix: string;
  /** the budget of each period, whatever its length */
  monthly_budget_usd: string | null;
  budget_period: BudgetPeriod;
  /** fractions of the budget that raise an alert when first reached in a period */
  alert_thresholds: number[];
  soft_budget: boolean;
  rpm_limit: number | null;
  tpm_limit: number | null;
  created_at: string;
  revoked_at: string | null;
};

export type KeyWithSpend = KeyView & {
  /** first day (UTC) of the key's current budget period */
  period_start: string;
  /** spend in the current period */
  period_spend_usd: string;
  /** the same figure under its pre-period name, kept for existing readers */
  month_to_date_spend_usd: string;
  in_flight_reserved_usd: string;
  remaining_budget_usd: string | null;
};

/** Fields an admin sets; undefined leaves a field as it is, null clears it. */
export type KeySettings = {
  name?: string;
  monthlyBudgetUsd?: string | null;
  budgetPeriod?: BudgetPeriod;
  /** decimal strings in (0, 1] */
  alertThresholds?: string[];
  softBudget?: boolean;
  rpmLimit?: number | null;
  tpmLimit?: number | null;
};

export type KeyService = {
  authenticate(presented: string): Promise<Principal | undefined>;
  create(input: KeySettings & { name: string }): Promise<KeyView & { key: string }>;
  update(id: string, settings: KeySettings): Promise<KeyView>;
  find(id: string): Promise<KeyView | undefined>;
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
    async create({
      name,
      monthlyBudgetUsd = null,
      budgetPeriod = 'month',
      alertThresholds,
      softBudget = false,
      rpmLimit = null,
      tpmLimit = null,
    }) {
      const key = `${KEY_PREFIX}${randomBytes(24).toString('base64url')}`;
      const row = await insertKey(db, {
        id: `key_${randomBytes(9).toString('base64url')}`,
        name,
        keyHash: sha256(key).toString('hex'),
        keyPrefix: key.slice(0, KEY_PREFIX.length + 6),
        monthlyBudgetUsd: monthlyBudgetUsd === null ? null : canonical(monthlyBudgetUsd),
        budgetPeriod,
        // unset: the column's default, [0.5, 0.8, 1.0]
        ...(alertThresholds !== undefined ? { alertThresholds } : {}),
        softBudget,
        rpmLimit,
        tpmLimit,
      });
      return { ...toView(row), key };
    },
    async update(
      id,
      { name, monthlyBudgetUsd, budgetPeriod, alertThresholds, softBudget, rpmLimit, tpmLimit },
    ) {
      const row = await updateKey(db, id, {
        ...(name !== undefined ? { name } : {}),
        ...(monthlyBudgetUsd !== undefined
          ? { monthlyBudgetUsd: monthlyBudgetUsd === null ? null : canonical(monthlyBudgetUsd) }
          : {}),
        ...(budgetPeriod !== undefined ? { budgetPeriod } : {}),
        ...(alertThresholds !== undefined ? { alertThresholds } : {}),
        ...(softBudget !== undefined ? { softBudget } : {}),
        ...(rpmLimit !== undefined ? { rpmLimit } : {}),
        ...(tpmLimit !== undefined ? { tpmLimit } : {}),
      });
      if (!row) throw notFound(`No key with id ${id}.`);
      await changed();
      return toView(row);
    },
    async find(id) {
      const row = await findKey(db, id);
      return row && toView(row);
    },
    async list(at = new Date()) {
      const [rows, spend] = await Promise.all([listKeys(db), currentSpend(database, at)]);
      return rows.map((row) => {
        const { spent, reserved } = spend.get(row.id) ?? { spent: '0', reserved: '0' };
        const left =
          row.monthlyBudgetUsd === null
            ? null
            : subtract(parseDecimal(row.monthlyBudgetUsd), parseDecimal(spent));
        const remaining = left === null ? null : left > 0n ? formatDecimal(left) : '0';
        return {
          ...toView(row),
          period_start: budgetPeriod(at, row.budgetPeriod),
          period_spend_usd: canonical(spent),
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
    budgetPeriod: row.budgetPeriod,
    softBudget: row.softBudget,
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
    budget_period: row.budgetPeriod,
    // ratios, not money: numbers, as the admin sent them
    alert_thresholds: row.alertThresholds.map((t) => Number(canonical(t))),
    soft_budget: row.softBudget,
    rpm_limit: row.rpmLimit,
    tpm_limit: row.tpmLimit,
    created_at: row.createdAt.toISOString(),
    revoked_at: row.revokedAt?.toISOString() ?? null,
  };
}
