// Client keys: creation (the secret is shown once), limits, revocation, and authentication from an
// in-memory cache of SHA-256 hashes kept fresh across replicas by NOTIFY, and re-read after a TTL so a
// lost notification delays a revocation by seconds, not forever. The master key is compared in
// constant time.
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { canonical, formatDecimal, parseDecimal, subtract } from '../../billing/money.ts';
import { markupOf } from '../../db/accounts-repo.ts';
import type { Database } from '../../db/client.ts';
import { databaseUnavailable, withDeadline } from '../../db/deadline.ts';
import {
  currentSpend,
  findKey,
  findKeyByHash,
  insertKey,
  listKeys,
  revokeKey,
  updateKey,
} from '../../db/keys-repo.ts';
import { badRequest, notFound } from '../../errors.ts';
import {
  type KeySettings,
  type KeyView,
  type KeyWithSpend,
  limitsOf,
  type Principal,
  toView,
} from './key-views.ts';
import { budgetPeriod, type FailMode, type KeyLimits } from './limits.ts';

export type { KeySettings, KeyView, KeyWithSpend, Principal } from './key-views.ts';

const CHANNEL = 'tollgate_keys';
const KEY_PREFIX = 'tg-';

export type KeyService = {
  authenticate(presented: string): Promise<Principal | undefined>;
  create(input: KeySettings & { name: string }): Promise<KeyView & { key: string }>;
  update(id: string, settings: KeySettings): Promise<KeyView>;
  find(id: string): Promise<KeyView | undefined>;
  list(at?: Date): Promise<KeyWithSpend[]>;
  revoke(id: string): Promise<KeyView>;
  /** drops cached keys when another replica changes them */
  follow(): Promise<() => Promise<void>>;
  /** drops every replica's cached keys (an account's plan, and so its keys' markup, changed) */
  refresh(): Promise<void>;
};

// one-shot crypto.hash: no Hash object per call (a third cheaper on the per-request key check)
export const sha256 = (text: string): Buffer => hash('sha256', text, 'buffer');

/** A cached key: its id and limits (null once revoked), and when the database last confirmed them. */
type CachedKey = { key: { keyId: string; limits: KeyLimits } | null; checkedAtMs: number };

export function createKeyService({
  database,
  adminApiKey,
  cacheTtlMs = 5000,
  failMode = 'open',
  timeoutMs = 2000,
}: {
  database: Database;
  adminApiKey: string;
  /** a cached key is re-read after this long: the bound on a revocation whose NOTIFY was lost */
  cacheTtlMs?: number;
  /** when the re-read fails: keep serving the cached key (open) or answer 503 (closed) */
  failMode?: FailMode;
  /** the deadline of a key lookup (a frozen database never answers) */
  timeoutMs?: number;
}): KeyService {
  const adminDigest = sha256(adminApiKey);
  // key hash (hex) → the cached key
  const cache = new Map<string, CachedKey>();
  // lookups in flight per hash: a burst on one key after its TTL reads the database once
  const lookups = new Map<string, Promise<CachedKey | undefined>>();
  // bumped by every clear: a lookup that started before a change must not cache what it read
  let generation = 0;
  const { db } = database;

  const clear = () => {
    generation++;
    cache.clear();
  };
  const changed = async () => {
    clear();
    await database.notify(CHANNEL, 'changed').catch(() => {});
  };

  function lookup(hash: string): Promise<CachedKey | undefined> {
    let pending = lookups.get(hash);
    if (!pending) {
      const startedIn = generation;
      pending = withDeadline(findKeyWithMarkup(hash), timeoutMs, 'a key lookup')
        .then((found) => {
          // unknown keys are not cached, so the cache cannot be filled with junk
          if (!found) return undefined;
          const { row, markup } = found;
          const entry = {
            key: row.revokedAt ? null : { keyId: row.id, limits: limitsOf(row, markup) },
            checkedAtMs: performance.now(),
          };
          if (generation === startedIn) cache.set(hash, entry);
          return entry;
        })
        .finally(() => lookups.delete(hash));
      lookups.set(hash, pending);
    }
    return pending;
  }

  /** A key and, when it bills to an account, that account's markup (one more read, on a cache miss only). */
  async function findKeyWithMarkup(hash: string) {
    const row = await findKeyByHash(db, hash);
    if (!row) return undefined;
    const markup = row.accountId === null ? '1' : ((await markupOf(database, row.accountId)) ?? '1');
    return { row, markup };
  }

  /** An account id an admin named must exist: a 400 naming the field, before anything is written. */
  async function checkAccount(accountId: string | null | undefined): Promise<void> {
    if (accountId == null) return;
    if ((await markupOf(database, accountId)) === undefined)
      throw badRequest(`No account with id ${accountId}.`, 'account_id', 'unknown_account');
  }

  return {
    async authenticate(presented) {
      const digest = sha256(presented);
      // equal-length digests, compared in constant time
      if (timingSafeEqual(digest, adminDigest)) return { kind: 'admin', keyId: null };
      if (!presented.startsWith(KEY_PREFIX)) return undefined;
      const hash = digest.toString('hex');
      const cached = cache.get(hash);
      // a revocation is final: a revoked key needs no second look
      if (cached && (cached.key === null || performance.now() - cached.checkedAtMs < cacheTtlMs))
        return cached.key ? { kind: 'client', ...cached.key } : undefined;
      let entry: CachedKey | undefined;
      try {
        entry = await lookup(hash);
      } catch (err) {
        // a key never seen cannot be admitted without the database, whatever the fail mode
        if (cached?.key && failMode === 'open') return { kind: 'client', ...cached.key };
        throw databaseUnavailable(err, 'API keys cannot be checked right now: the database did not answer.');
      }
      return entry?.key ? { kind: 'client', ...entry.key } : undefined;
    },
    async create({
      name,
      monthlyBudgetUsd = null,
      budgetPeriod = 'month',
      alertThresholds,
      softBudget = false,
      rpmLimit = null,
      tpmLimit = null,
      maxConcurrent = null,
      accountId = null,
    }) {
      await checkAccount(accountId);
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
        maxConcurrent,
        accountId,
      });
      return { ...toView(row), key };
    },
    async update(
      id,
      {
        name,
        monthlyBudgetUsd,
        budgetPeriod,
        alertThresholds,
        softBudget,
        rpmLimit,
        tpmLimit,
        maxConcurrent,
        accountId,
      },
    ) {
      await checkAccount(accountId);
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
        ...(maxConcurrent !== undefined ? { maxConcurrent } : {}),
        ...(accountId !== undefined ? { accountId } : {}),
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
    follow: () => database.listen(CHANNEL, clear),
    refresh: changed,
  };
}
