-- Issue 28: a request's whole admission in one call, one transaction, one commit. Until now a budgeted and
-- rate-limited key paid a statement (and a commit, a WAL flush, with its hot rows locked through it) for
-- its budget and another for its rate window, and a refusal of the second released the first in a third.
-- tollgate_admit takes, in the order every other writer locks them: the key's budget (key_spend), the
-- account's balance (account_balance, checked under its row lock), the account's own budget
-- (account_spend), the key's rate window (key_rate_windows, touched by admission alone), then writes the
-- balance's hold and the reservation row. Every part is conditional; a part that refuses undoes the
-- parts before it inside the same statement, so a refusal leaves nothing taken and nobody ever sees the
-- hold. The refusals keep their precedence: key budget, credits, account budget, rate.
-- outcome: 'admitted' | 'budget' | 'credits' | 'account_budget' | 'rate'.
CREATE FUNCTION tollgate_admit(
  p_id text, p_key text,
  -- the key's budget: p_track_key holds `p_amount` (at least `p_floor` while others are in flight) in
  -- key_spend; p_budget null is no ceiling (a soft budget, or none)
  p_period date, p_amount numeric, p_floor numeric, p_track_key boolean, p_budget numeric,
  -- the account the key bills to (null: none) and its markup
  p_account text, p_markup numeric,
  -- the rate window (null: the key has no rpm or tpm) and what this request counts in it
  p_window timestamptz, p_tokens bigint, p_rpm integer, p_tpm bigint
) RETURNS TABLE (outcome text, amount text, spent text, key_reserved text, account_amount text,
  balance text, account_reserved text, credit_limit text, account_budget text, account_budget_period text,
  account_spent text, account_budget_reserved text, requests integer, tokens bigint)
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
  w_requests integer;
  w_tokens bigint;
BEGIN
  -- Without an account nothing this commits can overdraw money owed: a crash of the database may lose
  -- the last few hundred ms of such commits (wal_writer_delay × 3 at most; visibility to other sessions
  -- and replicas is unchanged, and the next synchronous commit flushes them). What is lost is counts in
  -- a rate window (a few requests past an RPM in the crash's minute) and holds on a key's budget whose
  -- requests' rows still settle their real cost (spent_usd is exact; only admission right after the
  -- crash may pass a budget by those requests' worst case, as a client ignoring max_tokens already can).
  -- It frees the hot key_spend and key_rate_windows rows at commit instead of after a WAL flush, which
  -- is what serializes every request of one key. An account's admission stays synchronous: losing its
  -- hold could let a prepaid balance be spent twice.
  IF p_account IS NULL THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;

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
        NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text,
        NULL::integer, NULL::bigint;
      RETURN;
    END IF;
    -- reserved_usd = amount exactly when nothing else was in flight (held >= amount > 0 otherwise)
    held := CASE WHEN k_reserved = p_amount THEN p_amount ELSE greatest(p_amount, p_floor) END;
  END IF;

  IF p_account IS NOT NULL THEN
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
        a_balance::text, a_reserved::text, a_limit::text, NULL::text, NULL::text, NULL::text, NULL::text,
        NULL::integer, NULL::bigint;
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
        RETURN QUERY SELECT 'account_budget', p_amount::text, k_spent::text, (k_reserved - held)::text,
          acct::text, a_balance::text, a_reserved::text, a_limit::text, a_budget::text, a_budget_period,
          coalesce(s_spent, 0)::text, coalesce(s_reserved, 0)::text, NULL::integer, NULL::bigint;
        RETURN;
      END IF;
    END IF;
  END IF;

  IF p_window IS NOT NULL THEN
    -- conditional on the insert too: a request alone past the TPM takes nothing, even in a new minute
    INSERT INTO key_rate_windows AS w (api_key_id, window_start, requests, tokens)
    SELECT p_key, p_window, 1, p_tokens
    WHERE (p_rpm IS NULL OR 1 <= p_rpm) AND (p_tpm IS NULL OR p_tokens <= p_tpm)
    ON CONFLICT (api_key_id, window_start) DO UPDATE
      SET requests = w.requests + 1, tokens = w.tokens + excluded.tokens
      WHERE (p_rpm IS NULL OR w.requests + 1 <= p_rpm) AND (p_tpm IS NULL OR w.tokens + excluded.tokens <= p_tpm)
    RETURNING w.requests, w.tokens INTO w_requests, w_tokens;
    IF NOT FOUND THEN
      SELECT w.requests, w.tokens INTO w_requests, w_tokens FROM key_rate_windows w
      WHERE w.api_key_id = p_key AND w.window_start = p_window;
      IF p_track_key THEN
        UPDATE key_spend ks SET reserved_usd = ks.reserved_usd - held
        WHERE ks.api_key_id = p_key AND ks.period = p_period;
      END IF;
      IF a_period IS NOT NULL THEN
        UPDATE account_spend s SET reserved_usd = s.reserved_usd - acct
        WHERE s.account_id = p_account AND s.period = a_period;
      END IF;
      RETURN QUERY SELECT 'rate', p_amount::text, k_spent::text, (k_reserved - held)::text, acct::text,
        a_balance::text, a_reserved::text, a_limit::text, a_budget::text, a_budget_period,
        s_spent::text, s_reserved::text, coalesce(w_requests, 0), coalesce(w_tokens, 0::bigint);
      RETURN;
    END IF;
  END IF;

  IF p_account IS NOT NULL THEN
    UPDATE account_balance ab SET reserved_usd = ab.reserved_usd + acct WHERE ab.account_id = p_account;
  END IF;
  IF p_track_key OR p_account IS NOT NULL THEN
    INSERT INTO budget_reservations (id, api_key_id, period, amount, account_id, account_amount, account_period)
    VALUES (p_id, p_key, p_period, held, p_account, acct, a_period);
  END IF;
  RETURN QUERY SELECT 'admitted', held::text, k_spent::text, k_reserved::text, acct::text,
    a_balance::text, (a_reserved + acct)::text, a_limit::text, a_budget::text, a_budget_period,
    s_spent::text, s_reserved::text, w_requests, w_tokens;
END
$$;
--> statement-breakpoint
-- 0019's account admission, now one part of tollgate_admit
DROP FUNCTION tollgate_reserve_account(text, text, date, numeric, numeric, boolean, numeric, text, numeric);
