-- One spend trigger and one corrections trigger for what 0007-0010 each changed on their own:
-- a usage row settles in its key's budget period (0008) and frees its reservation by request id (0010);
-- a correction reaches every rollup (usage_hourly and the narrow ones of 0009) and the spend of its key's
-- period (0007 credited the calendar month). Groups upserted in key order, as before, so no deadlocks.
CREATE OR REPLACE FUNCTION tollgate_settle_spend() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH released AS (
    DELETE FROM budget_reservations r USING inserted i
    WHERE r.id = i.request_id
    RETURNING r.api_key_id, r.period, r.amount
  ),
  spent AS (
    SELECT i.api_key_id,
           tollgate_period_start(coalesce(k.budget_period, 'month'), i.created_at) AS period,
           sum(i.cost_total) AS spent
    FROM inserted i
    LEFT JOIN api_keys k ON k.id = i.api_key_id
    WHERE i.api_key_id IS NOT NULL
    GROUP BY 1, 2
  ),
  freed AS (
    SELECT api_key_id, period, sum(amount) AS freed FROM released GROUP BY 1, 2
  ),
  settled AS (
    SELECT api_key_id, period, coalesce(s.spent, 0) AS spent, coalesce(f.freed, 0) AS freed
    FROM spent s FULL JOIN freed f USING (api_key_id, period)
  )
  INSERT INTO key_spend AS ks (api_key_id, period, spent_usd, reserved_usd)
  SELECT api_key_id, period, spent, 0 FROM settled
  ORDER BY api_key_id, period
  ON CONFLICT (api_key_id, period) DO UPDATE
    SET spent_usd = ks.spent_usd + excluded.spent_usd,
        reserved_usd = greatest(
          ks.reserved_usd - (SELECT s.freed FROM settled s WHERE s.api_key_id = excluded.api_key_id AND s.period = excluded.period),
          0);
  RETURN NULL;
END
$$;
--> statement-breakpoint
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

  INSERT INTO usage_hourly_users AS h
    (hour, end_user, api_key_id, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
  SELECT date_trunc('hour', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(u.end_user, ''), coalesce(u.api_key_id, ''),
         0, 0, 0, 0, sum(a.delta_usd), 0
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (hour, end_user, api_key_id) DO UPDATE SET cost_usd = h.cost_usd + excluded.cost_usd;

  INSERT INTO usage_hourly_tags AS h
    (hour, tag, api_key_id, model, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
  SELECT date_trunc('hour', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', t.tag, coalesce(u.api_key_id, ''), u.model,
         0, 0, 0, 0, sum(a.delta_usd), 0
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(CASE WHEN cardinality(u.tags) > 0 THEN u.tags ELSE ARRAY['']::text[] END) AS x) AS t(tag)
  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (hour, tag, api_key_id, model) DO UPDATE SET cost_usd = h.cost_usd + excluded.cost_usd;

  INSERT INTO key_spend AS ks (api_key_id, period, spent_usd, reserved_usd)
  SELECT u.api_key_id, tollgate_period_start(coalesce(k.budget_period, 'month'), u.created_at), sum(a.delta_usd), 0
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  LEFT JOIN api_keys k ON k.id = u.api_key_id
  WHERE u.api_key_id IS NOT NULL
  GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (api_key_id, period) DO UPDATE SET spent_usd = ks.spent_usd + excluded.spent_usd;
  RETURN NULL;
END
$$;
