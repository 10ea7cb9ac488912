-- Accounts, plans and prepaid credits (DESIGN §6c). A plan is immutable; an account holds a balance kept
-- in account_balance by triggers in the same transaction as what moves it: a credit entry, a usage row's
-- charge, a correction's delta × markup. Reservations of an account's requests ride on the budget
-- reservation of their request (budget_reservations.account_amount), so they have the same single owner
-- (the row's trigger, release, or the reaper); deleting the reservation frees the account's part too.
-- Lock order everywhere: key_spend, then account_balance (each set of rows in id order).
CREATE TABLE "plans" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"markup" numeric DEFAULT 1 NOT NULL CHECK ("markup" >= 0),
	"included_usd" numeric DEFAULT 0 NOT NULL CHECK ("included_usd" >= 0),
	"period" text DEFAULT 'month' NOT NULL CHECK ("period" IN ('day', 'week', 'month')),
	"rollover" boolean DEFAULT false NOT NULL,
	"rollover_cap_usd" numeric CHECK ("rollover_cap_usd" >= 0),
	"overage" text DEFAULT 'block' NOT NULL CHECK ("overage" IN ('block', 'allow')),
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "accounts" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"plan_id" text REFERENCES "plans" ("id"),
	"credit_limit_usd" numeric DEFAULT 0 NOT NULL CHECK ("credit_limit_usd" >= 0),
	"low_balance_usd" numeric,
	"budget_usd" numeric CHECK ("budget_usd" >= 0),
	"budget_period" text DEFAULT 'month' NOT NULL CHECK ("budget_period" IN ('day', 'week', 'month')),
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
-- balance_usd = credits − expiries ± adjustments − charges of settled rows (and their corrections);
-- reserved_usd = the worst-case charges of the account's requests in flight
CREATE TABLE "account_balance" (
	"account_id" text PRIMARY KEY NOT NULL REFERENCES "accounts" ("id"),
	"balance_usd" numeric DEFAULT 0 NOT NULL,
	"reserved_usd" numeric DEFAULT 0 NOT NULL
);
--> statement-breakpoint
-- The credit ledger: append-only; one entry per (account, idempotency_key).
CREATE TABLE "account_credits" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
	"account_id" text NOT NULL REFERENCES "accounts" ("id"),
	"kind" text NOT NULL CHECK ("kind" IN ('grant', 'topup', 'adjustment', 'expiry')),
	"amount_usd" numeric NOT NULL,
	"expires_at" timestamp with time zone,
	"idempotency_key" text NOT NULL,
	-- what the request that wrote the entry asked for, so a replay with another body is told apart (409)
	"request_fingerprint" text NOT NULL,
	"note" text,
	"actor" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "account_credits_idempotency" ON "account_credits" ("account_id", "idempotency_key");
--> statement-breakpoint
CREATE INDEX "account_credits_account_created_at" ON "account_credits" ("account_id", "created_at");
--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "account_id" text REFERENCES "accounts" ("id");
--> statement-breakpoint
-- usage rows: nullable or defaulted (a key without an account: account_id null, markup 1, charge = cost)
ALTER TABLE "usage_logs" ADD COLUMN "account_id" text;
--> statement-breakpoint
ALTER TABLE "usage_logs" ADD COLUMN "markup" numeric DEFAULT 1 NOT NULL;
--> statement-breakpoint
ALTER TABLE "usage_logs" ADD COLUMN "charge_usd" numeric;
--> statement-breakpoint
CREATE INDEX "usage_logs_account_created_at" ON "usage_logs" ("account_id", "created_at" DESC) WHERE "account_id" IS NOT NULL;
--> statement-breakpoint
ALTER TABLE "budget_reservations" ADD COLUMN "account_id" text;
--> statement-breakpoint
ALTER TABLE "budget_reservations" ADD COLUMN "account_amount" numeric;
--> statement-breakpoint
CREATE FUNCTION tollgate_credit_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO account_balance AS ab (account_id, balance_usd, reserved_usd)
  SELECT account_id, sum(amount_usd), 0 FROM added GROUP BY 1 ORDER BY 1
  ON CONFLICT (account_id) DO UPDATE SET balance_usd = ab.balance_usd + excluded.balance_usd;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER account_credits_balance AFTER INSERT ON account_credits
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION tollgate_credit_balance();
--> statement-breakpoint
-- Whoever deletes a reservation (the usage row's trigger, release, the reaper) frees its account's part.
CREATE FUNCTION tollgate_free_account_reservations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE account_balance ab SET reserved_usd = greatest(ab.reserved_usd - f.amount, 0)
  FROM (SELECT account_id, sum(account_amount) AS amount FROM freed
        WHERE account_id IS NOT NULL GROUP BY 1 ORDER BY 1) f
  WHERE ab.account_id = f.account_id;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER budget_reservations_free_account AFTER DELETE ON budget_reservations
  REFERENCING OLD TABLE AS freed FOR EACH STATEMENT EXECUTE FUNCTION tollgate_free_account_reservations();
--> statement-breakpoint
-- A usage row's charge leaves its account's balance. Named to fire after usage_logs_settle_spend
-- (triggers fire in name order): key_spend is locked before account_balance, as admission does.
CREATE FUNCTION tollgate_charge_accounts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO account_balance AS ab (account_id, balance_usd, reserved_usd)
  SELECT account_id, -sum(coalesce(charge_usd, cost_total * markup)), 0
  FROM inserted WHERE account_id IS NOT NULL GROUP BY 1 ORDER BY 1
  ON CONFLICT (account_id) DO UPDATE SET balance_usd = ab.balance_usd + excluded.balance_usd;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER usage_logs_settle_spend_charge AFTER INSERT ON usage_logs
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION tollgate_charge_accounts();
--> statement-breakpoint
-- Admission of an account's key, in one call: the key's budget (as reserveBudget: key_spend first, only
-- when the key tracks a budget), then the account's balance (balance + credit_limit − reserved must cover
-- the worst-case charge, unless the plan's overage is 'allow'), then the reservation row. A refusal by the
-- account undoes the key's hold inside the same statement, so nobody ever sees it.
-- outcome: 'admitted' | 'budget' | 'credits'.
CREATE FUNCTION tollgate_reserve_account(
  p_id text, p_key text, p_period date, p_amount numeric, p_floor numeric, p_track_key boolean,
  p_budget numeric, p_account text, p_markup numeric
) RETURNS TABLE (outcome text, amount text, spent text, key_reserved text, account_amount text,
  balance text, account_reserved text, credit_limit text)
LANGUAGE plpgsql AS $$
DECLARE
  k_spent numeric := 0;
  k_reserved numeric := 0;
  held numeric := 0;
  acct numeric;
  a_balance numeric;
  a_reserved numeric;
  a_limit numeric;
  a_allow boolean;
BEGIN
  IF p_track_key THEN
    INSERT INTO key_spend AS ks (api_key_id, period, spent_usd, reserved_usd)
    VALUES (p_key, p_period, 0, p_amount)
    ON CONFLICT (api_key_id, period) DO UPDATE
      SET reserved_usd = ks.reserved_usd + CASE WHEN ks.reserved_usd = 0 THEN excluded.reserved_usd
                                                ELSE greatest(excluded.reserved_usd, p_floor) END
      WHERE p_budget IS NULL OR ks.spent_usd + ks.reserved_usd
        + CASE WHEN ks.reserved_usd = 0 THEN excluded.reserved_usd ELSE greatest(excluded.reserved_usd, p_floor) END
        <= p_budget
    RETURNING ks.spent_usd, ks.reserved_usd INTO k_spent, k_reserved;
    IF NOT FOUND THEN
      SELECT ks.spent_usd, ks.reserved_usd INTO k_spent, k_reserved FROM key_spend ks
      WHERE ks.api_key_id = p_key AND ks.period = p_period;
      RETURN QUERY SELECT 'budget', p_amount::text, coalesce(k_spent, 0)::text, coalesce(k_reserved, 0)::text,
        NULL::text, NULL::text, NULL::text, NULL::text;
      RETURN;
    END IF;
    held := CASE WHEN k_reserved = p_amount THEN p_amount ELSE greatest(p_amount, p_floor) END;
  END IF;

  SELECT ab.balance_usd, ab.reserved_usd, a.credit_limit_usd, coalesce(p.overage, 'block') = 'allow'
    INTO a_balance, a_reserved, a_limit, a_allow
  FROM account_balance ab JOIN accounts a ON a.id = ab.account_id LEFT JOIN plans p ON p.id = a.plan_id
  WHERE ab.account_id = p_account
  FOR UPDATE OF ab;
  IF NOT FOUND THEN
    a_balance := 0; a_reserved := 0; a_limit := 0; a_allow := false;
  END IF;
  -- the worst case × markup; while others are in flight at least the floor (see reserveBudget)
  acct := (CASE WHEN a_reserved = 0 THEN p_amount ELSE greatest(p_amount, p_floor) END) * p_markup;
  IF NOT a_allow AND a_balance + a_limit - a_reserved < acct THEN
    IF p_track_key THEN
      UPDATE key_spend ks SET reserved_usd = ks.reserved_usd - held
      WHERE ks.api_key_id = p_key AND ks.period = p_period;
    END IF;
    RETURN QUERY SELECT 'credits', p_amount::text, k_spent::text, (k_reserved - held)::text, acct::text,
      a_balance::text, a_reserved::text, a_limit::text;
    RETURN;
  END IF;
  UPDATE account_balance ab SET reserved_usd = ab.reserved_usd + acct WHERE ab.account_id = p_account;
  INSERT INTO budget_reservations (id, api_key_id, period, amount, account_id, account_amount)
  VALUES (p_id, p_key, p_period, held, p_account, acct);
  RETURN QUERY SELECT 'admitted', held::text, k_spent::text, k_reserved::text, acct::text,
    a_balance::text, (a_reserved + acct)::text, a_limit::text;
END
$$;
--> statement-breakpoint
-- 0011's corrections trigger, unchanged but for its last statement (the account's balance)
CREATE OR REPLACE FUNCTION tollgate_apply_corrections() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO usage_hourly AS h
    (hour, api_key_id, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
  SELECT date_trunc('hour', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(u.api_key_id, ''), u.model, u.status,
         0, 0, 0, 0, sum(a.delta_usd), 0
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (hour, api_key_id, model, status) DO UPDATE SET cost_usd = h.cost_usd + excluded.cost_usd;

  INSERT INTO usage_hourly_routes AS h
    (hour, endpoint, served_by, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
  SELECT date_trunc('hour', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', u.endpoint, coalesce(u.served_by, ''), u.model, u.status,
         0, 0, 0, 0, sum(a.delta_usd), 0
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT (hour, endpoint, served_by, model, status) DO UPDATE SET cost_usd = h.cost_usd + excluded.cost_usd;

  -- the rollups in the order the insert triggers take them (fired by name: tags before users), so a
  -- reprice and the recorder lock in one order and cannot deadlock
  INSERT INTO usage_hourly_tags AS h
    (hour, tag, api_key_id, model, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
  SELECT date_trunc('hour', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', t.tag, coalesce(u.api_key_id, ''), u.model,
         0, 0, 0, 0, sum(a.delta_usd), 0
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(CASE WHEN cardinality(u.tags) > 0 THEN u.tags ELSE ARRAY['']::text[] END) AS x) AS t(tag)
  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (hour, tag, api_key_id, model) DO UPDATE SET cost_usd = h.cost_usd + excluded.cost_usd;

  INSERT INTO usage_hourly_users AS h
    (hour, end_user, api_key_id, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
  SELECT date_trunc('hour', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(u.end_user, ''), coalesce(u.api_key_id, ''),
         0, 0, 0, 0, sum(a.delta_usd), 0
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (hour, end_user, api_key_id) DO UPDATE SET cost_usd = h.cost_usd + excluded.cost_usd;

  INSERT INTO key_spend AS ks (api_key_id, period, spent_usd, reserved_usd)
  SELECT u.api_key_id, tollgate_period_start(coalesce(k.budget_period, 'month'), u.created_at), sum(a.delta_usd), 0
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  LEFT JOIN api_keys k ON k.id = u.api_key_id
  WHERE u.api_key_id IS NOT NULL
  GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (api_key_id, period) DO UPDATE SET spent_usd = ks.spent_usd + excluded.spent_usd;

  -- 0014: a correction moves its row's charge, and the account's balance, by delta × the row's markup
  INSERT INTO account_balance AS ab (account_id, balance_usd, reserved_usd)
  SELECT u.account_id, -sum(a.delta_usd * u.markup), 0
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  WHERE u.account_id IS NOT NULL
  GROUP BY 1 ORDER BY 1
  ON CONFLICT (account_id) DO UPDATE SET balance_usd = ab.balance_usd + excluded.balance_usd;
  RETURN NULL;
END
$$;
