-- Issue 28: a key's concurrent requests admitted in one call. Every request of one key takes the same hot
-- rows (its key_spend, its account's balance and budget, its rate window): one call each meant one round
-- trip, one commit and one wait on the row lock the previous call held, per request. The gateway now
-- sends the requests of a key that arrive while its previous call is in flight as one batch
-- (db/admission-batches.ts): tollgate_admit for each, in order, in one transaction and one commit. Each
-- request is decided exactly as alone (it sees what the ones before it took; a refusal undoes its own
-- parts only). One key per batch, so a batch takes the rows in the order a single request does: no batch
-- can deadlock another, the recorder or a reprice.
CREATE FUNCTION tollgate_admit_batch(
  p_ids text[], p_key text, p_periods date[], p_amounts numeric[], p_floors numeric[], p_track_keys boolean[],
  p_budgets numeric[], p_accounts text[], p_markups numeric[], p_windows timestamptz[], p_tokens bigint[],
  p_rpms integer[], p_tpms bigint[]
) RETURNS TABLE (ord integer, outcome text, amount text, spent text, key_reserved text, account_amount text,
  balance text, account_reserved text, credit_limit text, account_budget text, account_budget_period text,
  account_spent text, account_budget_reserved text, requests integer, tokens bigint)
LANGUAGE plpgsql AS $$
DECLARE
  commit_mode text := current_setting('synchronous_commit');
  synchronous boolean := false;
BEGIN
  FOR i IN 1 .. cardinality(p_ids) LOOP
    RETURN QUERY SELECT i, a.* FROM tollgate_admit(p_ids[i], p_key, p_periods[i], p_amounts[i], p_floors[i],
      p_track_keys[i], p_budgets[i], p_accounts[i], p_markups[i], p_windows[i], p_tokens[i], p_rpms[i],
      p_tpms[i]) AS a;
    synchronous := synchronous OR p_accounts[i] IS NOT NULL;
  END LOOP;
  -- tollgate_admit commits without waiting for the WAL flush when the key has no account; an account's
  -- hold in the batch keeps the commit synchronous (see 0020)
  IF synchronous THEN
    PERFORM set_config('synchronous_commit', commit_mode, true);
  END IF;
END
$$;
