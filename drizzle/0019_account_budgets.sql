-- Issue 25 (DESIGN §6c): an account's own budget (accounts.budget_usd per budget_period), enforced at
-- admission like a key's. account_spend is the account's key_spend: the period's settled charges and the
-- worst-case charges in flight. It is kept only while the account has a budget, so an account without
-- one costs nothing more (no row, no lock). Lock order everywhere: key_spend, account_balance, account_spend.
CREATE TABLE "account_spend" (
	"account_id" text NOT NULL REFERENCES "accounts" ("id"),
	"period" date NOT NULL,
	"spent_usd" numeric DEFAULT 0 NOT NULL,
	"reserved_usd" numeric DEFAULT 0 NOT NULL,
	CONSTRAINT "account_spend_pk" PRIMARY KEY ("account_id", "period")
);
--> statement-breakpoint
-- the account period a reservation holds against (null: the account had no budget)
ALTER TABLE "budget_reservations" ADD COLUMN "account_period" date;
--> statement-breakpoint
-- 0014's, plus: a reservation against an account's budget frees its part of account_spend too
CREATE OR REPLACE FUNCTION tollgate_free_account_reservations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE account_balance ab SET reserved_usd = greatest(ab.reserved_usd - f.amount, 0)
  FROM (SELECT account_id, sum(account_amount) AS amount FROM freed
        WHERE account_id IS NOT NULL GROUP BY 1 ORDER BY 1) f
  WHERE ab.account_id = f.account_id;
  UPDATE account_spend s SET reserved_usd = greatest(s.reserved_usd - f.amount, 0)
  FROM (SELECT account_id, account_period, sum(account_amount) AS amount FROM freed
        WHERE account_period IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2) f
  WHERE s.account_id = f.account_id AND s.period = f.account_period;
  RETURN NULL;
END
$$;
--> statement-breakpoint
-- 0014's, plus: the charge settles in the period's spend of an account that has a budget
CREATE OR REPLACE FUNCTION tollgate_charge_accounts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO account_balance AS ab (account_id, balance_usd, reserved_usd)
  SELECT account_id, -sum(coalesce(charge_usd, cost_total * markup)), 0
  FROM inserted WHERE account_id IS NOT NULL GROUP BY 1 ORDER BY 1
  ON CONFLICT (account_id) DO UPDATE SET balance_usd = ab.balance_usd + excluded.balance_usd;
  INSERT INTO account_spend AS s (account_id, period, spent_usd, reserved_usd)
  SELECT i.account_id, tollgate_period_start(a.budget_period, i.created_at),
         sum(coalesce(i.charge_usd, i.cost_total * i.markup)), 0
  FROM inserted i JOIN accounts a ON a.id = i.account_id
  WHERE a.budget_usd IS NOT NULL
  GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (account_id, period) DO UPDATE SET spent_usd = s.spent_usd + excluded.spent_usd;
  RETURN NULL;
END
$$;
--> statement-breakpoint
-- A correction moves the period's spend of an account with a budget by delta × the row's markup. Its own
-- trigger, named to fire after usage_corrections_apply (which locks key_spend, then account_balance).
CREATE FUNCTION tollgate_correct_account_spend() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO account_spend AS s (account_id, period, spent_usd, reserved_usd)
  SELECT u.account_id, tollgate_period_start(ac.budget_period, u.created_at), sum(c.delta_usd * u.markup), 0
  FROM added c JOIN usage_logs u ON u.request_id = c.request_id JOIN accounts ac ON ac.id = u.account_id
  WHERE ac.budget_usd IS NOT NULL
  GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (account_id, period) DO UPDATE SET spent_usd = s.spent_usd + excluded.spent_usd;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER usage_corrections_apply_account_spend AFTER INSERT ON usage_corrections
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION tollgate_correct_account_spend();
--> statement-breakpoint
-- 0014's admission with the account's budget between the balance check and the hold: an account with a
-- budget reserves the worst-case charge in account_spend (locked after account_balance), conditionally,
-- so two replicas can never both take the last dollar of it. outcome: 'admitted' | 'budget' | 'credits'
-- | 'account_budget'. A refusal undoes the key's hold inside the same statement.
DROP FUNCTION tollgate_reserve_account(text, text, date, numeric, numeric, boolean, numeric, text, numeric);
--> statement-breakpoint
CREATE FUNCTION tollgate_reserve_account(
  p_id text, p_key text, p_period date, p_amount numeric, p_floor numeric, p_track_key boolean,
  p_budget numeric, p_account text, p_markup numeric
) RETURNS TABLE (outcome text, amount text, spent text, key_reserved text, account_amount text,
  balance text, account_reserved text, credit_limit text, account_budget text, account_budget_period text,
  account_spent text, account_budget_reserved text)
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
  a_budget numeric;
  a_budget_period text;
  a_period date;
  s_spent numeric;
  s_reserved numeric;
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
        NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text;
      RETURN;
    END IF;
    held := CASE WHEN k_reserved = p_amount THEN p_amount ELSE greatest(p_amount, p_floor) END;
  END IF;

  SELECT ab.balance_usd, ab.reserved_usd, a.credit_limit_usd, coalesce(p.overage, 'block') = 'allow',
         a.budget_usd, a.budget_period
    INTO a_balance, a_reserved, a_limit, a_allow, a_budget, a_budget_period
  FROM account_balance ab JOIN accounts a ON a.id = ab.account_id LEFT JOIN plans p ON p.id = a.plan_id
  WHERE ab.account_id = p_account
  FOR UPDATE OF ab;
  IF NOT FOUND THEN
    a_balance := 0; a_reserved := 0; a_limit := 0; a_allow := false; a_budget := NULL;
  END IF;
  -- the worst case × markup; while others are in flight at least the floor (see reserveBudget)
  acct := (CASE WHEN a_reserved = 0 THEN p_amount ELSE greatest(p_amount, p_floor) END) * p_markup;
  IF NOT a_allow AND a_balance + a_limit - a_reserved < acct THEN
    IF p_track_key THEN
      UPDATE key_spend ks SET reserved_usd = ks.reserved_usd - held
      WHERE ks.api_key_id = p_key AND ks.period = p_period;
    END IF;
    RETURN QUERY SELECT 'credits', p_amount::text, k_spent::text, (k_reserved - held)::text, acct::text,
      a_balance::text, a_reserved::text, a_limit::text, NULL::text, NULL::text, NULL::text, NULL::text;
    RETURN;
  END IF;
  IF a_budget IS NOT NULL THEN
    a_period := tollgate_period_start(a_budget_period, now());
    INSERT INTO account_spend AS s (account_id, period, spent_usd, reserved_usd)
    SELECT p_account, a_period, 0, acct WHERE acct <= a_budget
    ON CONFLICT (account_id, period) DO UPDATE SET reserved_usd = s.reserved_usd + excluded.reserved_usd
      WHERE s.spent_usd + s.reserved_usd + excluded.reserved_usd <= a_budget
    RETURNING s.spent_usd, s.reserved_usd INTO s_spent, s_reserved;
    IF NOT FOUND THEN
      SELECT s.spent_usd, s.reserved_usd INTO s_spent, s_reserved FROM account_spend s
      WHERE s.account_id = p_account AND s.period = a_period;
      IF p_track_key THEN
        UPDATE key_spend ks SET reserved_usd = ks.reserved_usd - held
        WHERE ks.api_key_id = p_key AND ks.period = p_period;
      END IF;
      RETURN QUERY SELECT 'account_budget', p_amount::text, k_spent::text, (k_reserved - held)::text, acct::text,
        a_balance::text, a_reserved::text, a_limit::text, a_budget::text, a_budget_period,
        coalesce(s_spent, 0)::text, coalesce(s_reserved, 0)::text;
      RETURN;
    END IF;
  END IF;
  UPDATE account_balance ab SET reserved_usd = ab.reserved_usd + acct WHERE ab.account_id = p_account;
  INSERT INTO budget_reservations (id, api_key_id, period, amount, account_id, account_amount, account_period)
  VALUES (p_id, p_key, p_period, held, p_account, acct, a_period);
  RETURN QUERY SELECT 'admitted', held::text, k_spent::text, k_reserved::text, acct::text,
    a_balance::text, (a_reserved + acct)::text, a_limit::text, a_budget::text, a_budget_period,
    s_spent::text, s_reserved::text;
END
$$;
